package trend

import (
	"fmt"
	"math"

	"github.com/kubectl-pixie/kubectl-pixie/probes/api/vocab"
)

// Limits tell Analyze what the series is checked against for an OOM
// projection. Zero values mean unknown.
type Limits struct {
	Limit float64 // bytes at which the kernel kills (cgroup limit or host memory)
	Usage float64 // current bytes counted against Limit (cgroup usage, or the series' last value)
}

// Result is the verdict on one series.
type Result struct {
	Verdict    string
	Reason     string  // one sentence in words, with numbers and units
	Slope      float64 // bytes/s of the model behind the verdict (the floor's slope for a sawtooth)
	Low, High  float64 // ~95% interval of Slope
	Confidence float64 // 0..1, how well the verdict's model fits the data
	Fit        Fit     // the straight line through all points
	Sawtooth   bool
	Drops      int // collections (large drops) seen
	Start, End float64
	Peak       float64
	Span       float64 // seconds covered
	// TimeToOOM is the projected time until Usage reaches Limit at Slope,
	// in seconds; 0 when not growing or no limit is known.
	TimeToOOM      float64
	PercentOfLimit float64
	// Undersampled: the memory cycles faster than it was sampled (see
	// Churn); DecideSamples is about how many samples a run at the same
	// interval needs to decide.
	Undersampled  bool
	DecideSamples int
}

// Thresholds. A change smaller than both of these over the window is not
// growth: page-granular RSS wobbles by a few pages, and a big process
// moves by a fraction of a percent.
const (
	minGrowthBytes    = 256 << 10
	minGrowthFraction = 0.005
	// A line must explain this much of the variance to call it a leak.
	leakR2 = 0.9
	// ... and be this monotone.
	leakTau = 0.6
	// Below this R² an upward slope is drift in noise, not growth.
	growR2 = 0.5
	// A drop larger than this fraction of the range is a collection.
	dropFraction = 0.25
	minSamples   = 5
	// A sawtooth's floor must be seen after this many collections before
	// its rise is called a leak: a handful of cycles is chance.
	minFloors = 5
)

// Analyze fits pts (sorted by T) and returns a verdict with its reason.
func Analyze(pts []Point, lim Limits) Result {
	return AnalyzeChurn(pts, lim, Churn{})
}

// AnalyzeChurn is Analyze with what the process released between its
// samples: memory that cycles faster than the sampling is judged by the
// floor of the cycle, or called undecided with the samples that would
// decide. A leak or growth is never called on a slope whose interval
// holds zero.
func AnalyzeChurn(pts []Point, lim Limits, c Churn) Result {
	r := analyze(pts, lim, c)
	if (r.Verdict == vocab.VerdictLeak || r.Verdict == vocab.VerdictGrowing) && r.Low <= 0 {
		r.Reason = fmt.Sprintf("undecided: %s, but its interval [%s, %s] holds zero; run longer or sample more often",
			r.Reason, Rate(r.Low), Rate(r.High))
		r.Verdict = vocab.VerdictNoisy
		r.Confidence = 0
		r.TimeToOOM = 0
	}
	return r
}

func analyze(pts []Point, lim Limits, c Churn) Result {
	if len(pts) == 0 {
		return Result{Verdict: vocab.VerdictNoisy, Reason: "no samples"}
	}
	r, vals, lo := summarize(pts, lim)
	if len(pts) < minSamples || r.Span <= 0 {
		r.Verdict = vocab.VerdictNoisy
		r.Reason = fmt.Sprintf("only %d samples over %s; run longer or sample more often", len(pts), Duration(r.Span))
		return r
	}
	level := Median(vals)
	r.Fit = TheilSen(pts)
	r.Slope, r.Low, r.High = r.Fit.Slope, r.Fit.Low, r.Fit.High
	minGrowth := math.Max(minGrowthBytes, minGrowthFraction*level)
	if c.Samples == 0 {
		c.Samples = len(pts)
	}
	perInterval, fast := undersampled(c, r.Peak-lo, r.Span, minGrowth)
	if fast || floorReadable(c, perInterval, r.Peak-lo, minGrowth) {
		r.judgeCycle(pts, c, perInterval, r.Peak-lo, minGrowth, fast)
		r.oom(lim)
		return r
	}

	segs := collections(pts, r.Peak-lo, minGrowth)
	if len(segs) >= 3 { // two or more drops: a sawtooth
		r.Sawtooth, r.Drops = true, len(segs)-1
		sawtooth(&r, segs, minGrowth)
		r.oom(lim)
		return r
	}
	if len(segs) == 2 {
		r.Drops = 1
	}
	total := r.Slope * r.Span
	noise := MAD(residuals(pts, r.Fit))
	if r.notGrowing(total, minGrowth, level, noise) {
		return r
	}
	if r.growing(pts, total, minGrowth, noise) {
		r.oom(lim)
	}
	return r
}

// summarize fills what needs no fit: start, end, span, peak and the share
// of the limit used; it returns the values and their minimum.
func summarize(pts []Point, lim Limits) (r Result, vals []float64, lo float64) {
	r.Start, r.End = pts[0].V, pts[len(pts)-1].V
	r.Span = pts[len(pts)-1].T - pts[0].T
	lo, hi := pts[0].V, pts[0].V
	vals = make([]float64, len(pts))
	for i, p := range pts {
		vals[i] = p.V
		lo, hi = math.Min(lo, p.V), math.Max(hi, p.V)
	}
	r.Peak = hi
	if lim.Limit > 0 {
		u := lim.Usage
		if u == 0 {
			u = r.End
		}
		r.PercentOfLimit = 100 * u / lim.Limit
	}
	return r, vals, lo
}

// notGrowing gives the verdict when the series did not grow by total
// (noisy, stable or shrinking) and reports whether it did.
func (r *Result) notGrowing(total, minGrowth, level, noise float64) bool {
	switch {
	case math.Abs(total) < minGrowth || (r.Low <= 0 && r.High >= 0 && math.Abs(r.Fit.Tau) < leakTau):
		if noise > minGrowth && noise > 0.02*level {
			r.Verdict = vocab.VerdictNoisy
			r.Reason = fmt.Sprintf("no trend (%s over %s) but moves by ±%s around %s",
				SignedBytes(total), Duration(r.Span), Bytes(noise), Bytes(level))
			r.Confidence = clamp01(1 - r.Fit.R2)
			return true
		}
		r.Verdict = vocab.VerdictStable
		r.Reason = fmt.Sprintf("changed by %s over %s (within the %s threshold)",
			SignedBytes(total), Duration(r.Span), Bytes(minGrowth))
		r.Confidence = clamp01(1 - math.Abs(total)/minGrowth)
		if r.Drops == 1 {
			r.Reason += "; released memory once"
		}
		return true
	case total < 0:
		r.Verdict = vocab.VerdictStable
		r.Reason = fmt.Sprintf("shrank by %s over %s (%s)", Bytes(-total), Duration(r.Span), Rate(r.Slope))
		r.Confidence = r.Fit.R2
		return true
	}
	return false
}

// growing tells a steady growth (a leak) from a warm-up or a series
// levelling off. It reports whether the growth goes on (worth an OOM
// projection).
func (r *Result) growing(pts []Point, total, minGrowth, noise float64) bool {
	first, second := halves(pts)
	steady := second.Slope >= 0.5*first.Slope && second.Slope <= 2*first.Slope+minGrowth/r.Span
	r.Confidence = r.Fit.R2
	secondTotal := second.Slope * (pts[len(pts)-1].T - pts[len(pts)/2].T)
	switch {
	case secondTotal < minGrowth/2 && first.Slope > 0 && second.Slope < 0.25*first.Slope:
		// Grew early (a heap reaching its GC target, a warm-up) and has held
		// still since: nothing is growing now.
		r.Verdict = vocab.VerdictStable
		r.Reason = fmt.Sprintf("grew %s early in the window, then held flat (%s over its second half)",
			SignedBytes(total), SignedBytes(secondTotal))
		r.Slope, r.Low, r.High = second.Slope, second.Low, second.High
		r.Confidence = clamp01(1 - math.Abs(secondTotal)/(minGrowth/2))
		return false
	case r.Fit.R2 >= leakR2 && r.Fit.Tau >= leakTau && steady && r.Drops == 0:
		r.Verdict = vocab.VerdictLeak
		r.Reason = fmt.Sprintf("grew steadily at %s (%s over %s); a straight line explains %.0f%% of it",
			Rate(r.Slope), SignedBytes(total), Duration(r.Span), 100*r.Fit.R2)
	case r.Fit.R2 >= growR2 && first.Slope > 0 && second.Slope < 0.5*first.Slope:
		r.Verdict = vocab.VerdictGrowing
		r.Reason = fmt.Sprintf("grew %s over %s but is levelling off: %s in the first half, %s in the second",
			SignedBytes(total), Duration(r.Span), Rate(first.Slope), Rate(second.Slope))
	case r.Fit.R2 >= growR2:
		r.Verdict = vocab.VerdictGrowing
		r.Reason = fmt.Sprintf("grew at %s (%s over %s), unevenly: a straight line explains %.0f%%",
			Rate(r.Slope), SignedBytes(total), Duration(r.Span), 100*r.Fit.R2)
		if r.Drops == 1 {
			r.Reason += "; released memory once"
		}
	default:
		r.Verdict = vocab.VerdictNoisy
		r.Reason = fmt.Sprintf("drifts up at %s but moves by ±%s; a straight line explains only %.0f%%",
			Rate(r.Slope), Bytes(noise), 100*r.Fit.R2)
		r.Confidence = clamp01(1 - r.Fit.R2)
	}
	return true
}

// sawtooth judges a series with collections by the floor each collection
// returns to: a heap whose floor rises keeps something every cycle.
func sawtooth(r *Result, segs [][]Point, minGrowth float64) {
	floors := make([]Point, 0, len(segs))
	for _, s := range segs {
		m := s[0]
		for _, p := range s {
			if p.V < m.V {
				m = p
			}
		}
		floors = append(floors, m)
	}
	// The first segment's minimum is where observation began, not a floor
	// the process collected to; skip it when there are enough others.
	if len(floors) >= 4 {
		floors = floors[1:]
	}
	ff := TheilSen(floors)
	floorTotal := ff.Slope * r.Span
	r.Slope, r.Low, r.High = ff.Slope, ff.Low, ff.High
	// Where a sample lands in a cycle jitters the floors by a few
	// allocations, so the floor must rise by a tenth of the swing too.
	amplitude := r.Peak - ff.Intercept
	floorMin := math.Max(minGrowth, 0.1*amplitude)
	if floorTotal >= floorMin && ff.Tau >= leakTau && len(floors) >= minFloors {
		r.Verdict = vocab.VerdictLeak
		r.Confidence = ff.R2
		r.Reason = fmt.Sprintf("sawtooth (%d collections) whose floor rises at %s: each cycle keeps memory",
			r.Drops, Rate(ff.Slope))
		return
	}
	r.Verdict = vocab.VerdictNoisy
	r.Confidence = clamp01(1 - math.Abs(floorTotal)/math.Max(floorMin, amplitude))
	r.Reason = fmt.Sprintf("sawtooth of allocate and collect (%d collections, %s to %s); the floor after collections moves (%s) without a steady rise",
		r.Drops, Bytes(floors[0].V), Bytes(r.Peak), Rate(ff.Slope))
	if floorTotal >= floorMin && len(floors) < minFloors {
		r.Reason = fmt.Sprintf("undecided: a sawtooth whose floor rose %s over %d collections, too few to call (%d needed); run longer",
			SignedBytes(floorTotal), r.Drops, minFloors)
	} else if math.Abs(floorTotal) < floorMin {
		r.Reason = fmt.Sprintf("sawtooth of allocate and collect (%d collections, %s to %s) with a flat floor: not a leak",
			r.Drops, Bytes(floors[0].V), Bytes(r.Peak))
	}
}

// collections splits pts at large drops (a run of falling samples whose
// total fall exceeds dropFraction of the range and minGrowth).
func collections(pts []Point, rng, minGrowth float64) [][]Point {
	thr := math.Max(dropFraction*rng, minGrowth)
	var segs [][]Point
	start := 0
	i := 1
	for i < len(pts) {
		if pts[i].V >= pts[i-1].V {
			i++
			continue
		}
		j := i
		for j < len(pts) && pts[j].V < pts[j-1].V {
			j++
		}
		// pts[i-1] is the top, pts[j-1] the bottom of this fall.
		if pts[i-1].V-pts[j-1].V > thr {
			segs = append(segs, pts[start:i])
			start = j - 1
		}
		i = j
	}
	return append(segs, pts[start:])
}

func residuals(pts []Point, f Fit) []float64 {
	out := make([]float64, len(pts))
	for i, p := range pts {
		out[i] = p.V - f.At(p.T)
	}
	return out
}

func halves(pts []Point) (Fit, Fit) {
	m := len(pts) / 2
	return TheilSen(pts[:m+1]), TheilSen(pts[m:])
}

func (r *Result) oom(lim Limits) {
	if lim.Limit <= 0 || r.Slope <= 0 || (r.Verdict != vocab.VerdictLeak && r.Verdict != vocab.VerdictGrowing) {
		return
	}
	u := lim.Usage
	if u == 0 {
		u = r.End
	}
	if u >= lim.Limit {
		return
	}
	r.TimeToOOM = (lim.Limit - u) / r.Slope
}
