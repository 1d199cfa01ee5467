package trend

import (
	"fmt"
	"math"

	"github.com/kubectl-pixie/kubectl-pixie/probes/api/vocab"
)

// Churn is what a process released between its samples, from counters the
// samples cannot see: the bytes it unmapped (eBPF munmap counters) or
// faulted in without keeping (page faults minus growth).
type Churn struct {
	Released float64 // bytes released over the window
	Samples  int     // samples taken (a long Series keeps fewer points)
	// Lows holds, per sample interval that had any, the lowest value read
	// at the process's own release calls (munmap, madvise, brk): taken
	// where the memory was just released, they are the cycle's floor
	// however slowly it is sampled or scheduled.
	Lows []Point
}

const (
	// minFloorPoints is how many samples must sit on the floor under a
	// cycle faster than the sampling before its slope decides anything.
	minFloorPoints = 6
	// decideMargin scales the samples the advice names, so that a run of
	// that length holds minFloorPoints floor samples with room to spare.
	decideMargin = 3
	// maxEnvelopePoints bounds the O(n³) floor search.
	maxEnvelopePoints = 128
)

// undersampled reports whether the process released more memory per
// sampling interval than its samples ever swung: its memory cycles faster
// than the sampling, so each sample lands at a random point of a cycle.
func undersampled(c Churn, swing, span, minGrowth float64) (perInterval float64, ok bool) {
	if c.Samples < 2 || span <= 0 || c.Released <= 0 {
		return 0, false
	}
	perInterval = c.Released / float64(c.Samples-1)
	return perInterval, perInterval >= minGrowth && perInterval >= swing
}

// floorReadable reports whether a cycle about as slow as the sampling
// (half its swing released per interval) is still best judged by its lows:
// read in enough intervals, they trace the floor the few drops the
// samples catch cannot.
func floorReadable(c Churn, perInterval, swing, minGrowth float64) bool {
	return len(c.Lows) >= minFloorPoints && perInterval >= minGrowth && 2*perInterval >= swing
}

// judgeCycle gives the verdict of a series whose memory cycles faster
// than it was sampled (fast), or about as fast with lows to read. Only the
// cycle's floor tells a leak: every cycle returns there, so the floor
// rises with what each cycle keeps. It is read at the releases themselves
// when the eBPF counters ran (Lows), else taken from the samples that
// happen to sit on the lower envelope. Too few of either and it says so,
// with the samples a run needs.
func (r *Result) judgeCycle(pts []Point, c Churn, perInterval, swing, minGrowth float64, fast bool) {
	interval := r.Span / float64(c.Samples-1)
	r.Undersampled = fast
	cycle := fmt.Sprintf("it released %s per %s sample interval, %.1f times what its samples swing (%s): its memory cycles faster than the sampling, so samples land at random points of the cycle",
		Bytes(perInterval), durationMs(interval), perInterval/math.Max(swing, 1), Bytes(swing))
	if !fast {
		cycle = fmt.Sprintf("it released %s per %s sample interval, %.1f times what its samples swing (%s): its memory cycles about as fast as the sampling, so few samples catch a drop",
			Bytes(perInterval), durationMs(interval), perInterval/math.Max(swing, 1), Bytes(swing))
	}
	if len(c.Lows) > 0 {
		r.judgeLows(c.Lows, c.Samples, interval, cycle, minGrowth)
		return
	}
	floor := floorPoints(pts, math.Max(minGrowth, 0.02*swing))
	frac := float64(len(floor)) / float64(len(pts))
	r.DecideSamples = int(math.Ceil(decideMargin * minFloorPoints / math.Max(frac, 1/float64(len(pts)))))
	ff := TheilSen(floor)
	if len(floor) >= 2 {
		r.Slope, r.Low, r.High = ff.Slope, ff.Low, ff.High
	}
	rise := ff.Slope * r.Span
	switch {
	case len(floor) < minFloorPoints:
		r.Verdict = vocab.VerdictNoisy
		r.Reason = fmt.Sprintf("undecided: %s; only %d of %d samples sit on its floor, %d needed: take about %d samples (%s at this interval)",
			cycle, len(floor), len(pts), minFloorPoints, r.DecideSamples, Duration(float64(r.DecideSamples-1)*interval))
	case ff.Low > 0 && rise >= minGrowth && ff.Tau >= leakTau && ff.R2 >= leakR2:
		r.Verdict = vocab.VerdictLeak
		r.Confidence = ff.R2
		r.Reason = fmt.Sprintf("the floor under a fast cycle rises at %s (%d floor samples, %s over %s): each cycle keeps memory; %s",
			Rate(ff.Slope), len(floor), SignedBytes(rise), Duration(r.Span), cycle)
	default:
		r.Verdict = vocab.VerdictNoisy
		r.Confidence = clamp01(1 - math.Abs(rise)/math.Max(minGrowth, swing))
		r.Reason = fmt.Sprintf("the floor under a fast cycle holds (%s over %s, %d floor samples): not a leak; %s",
			SignedBytes(rise), Duration(r.Span), len(floor), cycle)
	}
}

// judgeLows judges a cycle by its lows (Churn.Lows): read at the
// moment each release returns, they trace the floor interval by interval,
// so a floor that rises is a leak once enough intervals show it.
func (r *Result) judgeLows(lows []Point, samples int, interval float64, cycle string, minGrowth float64) {
	frac := float64(len(lows)) / float64(max(samples-1, 1)) // intervals with a reading
	r.DecideSamples = int(math.Ceil(minFloorPoints/math.Max(frac, 1/float64(samples)))) + 1
	ff := TheilSen(lows)
	if len(lows) >= 2 {
		r.Slope, r.Low, r.High = ff.Slope, ff.Low, ff.High
	}
	rise := ff.Slope * r.Span
	floor := fmt.Sprintf("the floor under a memory cycle (its lowest RSS at its own munmap, madvise and brk calls) read in %d of %d sample intervals",
		len(lows), samples-1)
	switch {
	case len(lows) < minFloorPoints:
		r.Verdict = vocab.VerdictNoisy
		r.Reason = fmt.Sprintf("undecided: %s are too few, %d needed: take about %d samples (%s at this interval); %s",
			floor, minFloorPoints, r.DecideSamples, Duration(float64(r.DecideSamples-1)*interval), cycle)
	case ff.Low > 0 && rise >= minGrowth && ff.Tau >= leakTau && ff.R2 >= leakR2:
		r.Verdict = vocab.VerdictLeak
		r.Confidence = ff.R2
		r.Reason = fmt.Sprintf("%s rises at %s (%s over %s): each cycle keeps memory; %s",
			floor, Rate(ff.Slope), SignedBytes(rise), Duration(r.Span), cycle)
	case rise >= minGrowth && ff.Low > 0:
		r.Verdict = vocab.VerdictNoisy
		r.DecideSamples = max(r.DecideSamples, 2*samples)
		r.Reason = fmt.Sprintf("undecided: %s rose %s over %s, unevenly (a line explains %.0f%%): take about %d samples; %s",
			floor, SignedBytes(rise), Duration(r.Span), 100*ff.R2, r.DecideSamples, cycle)
	default:
		r.Verdict = vocab.VerdictNoisy
		r.Confidence = clamp01(1 - math.Abs(rise)/minGrowth)
		r.Reason = fmt.Sprintf("%s holds (%s over %s, [%s, %s]): not a leak; %s",
			floor, SignedBytes(rise), Duration(r.Span), Rate(ff.Low), Rate(ff.High), cycle)
	}
}

// floorPoints returns the samples on the lower envelope of pts: of the
// lines through two samples that no sample lies below by more than tol,
// the one the most samples lie within tol of.
func floorPoints(pts []Point, tol float64) []Point {
	pts = thin(pts, maxEnvelopePoints)
	bestI, bestJ, bestN := -1, -1, 0
	for i := range pts {
		for j := i + 1; j < len(pts); j++ {
			if n := onLine(pts, pts[i], pts[j], tol); n > bestN {
				bestI, bestJ, bestN = i, j, n
			}
		}
	}
	if bestI < 0 { // no line: the lowest sample alone
		lo := 0
		for i, p := range pts {
			if p.V < pts[lo].V {
				lo = i
			}
		}
		return pts[lo : lo+1]
	}
	a, b := pts[bestI], pts[bestJ]
	s := (b.V - a.V) / (b.T - a.T)
	var out []Point
	for _, p := range pts {
		if p.V-(a.V+s*(p.T-a.T)) <= tol {
			out = append(out, p)
		}
	}
	return out
}

// onLine counts the samples within tol of the line through a and b, or
// returns 0 when a sample lies below it by more than tol (or a and b do
// not make a line).
func onLine(pts []Point, a, b Point, tol float64) int {
	dt := b.T - a.T
	if dt == 0 {
		return 0
	}
	s := (b.V - a.V) / dt
	n := 0
	for _, p := range pts {
		d := p.V - (a.V + s*(p.T-a.T))
		if d < -tol {
			return 0
		}
		if d <= tol {
			n++
		}
	}
	return n
}

// durationMs formats a sub-second interval in milliseconds.
func durationMs(sec float64) string {
	if sec < 1 {
		return fmt.Sprintf("%.0f ms", sec*1000)
	}
	return Duration(sec)
}
