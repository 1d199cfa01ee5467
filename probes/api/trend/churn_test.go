package trend

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/kubectl-pixie/kubectl-pixie/probes/api/vocab"
)

// churnRun simulates the workload of test/local TestMemoryChurnVerdicts:
// every 150 ms the process maps 64 MiB, touches it page by page over its
// touch time (20-120 ms by seed: how fast it gets the CPU), unmaps it, and
// keeps leak*150ms bytes. It is sampled every 500 ms ±20 ms from a random
// phase, n samples, RSS rounded to pages; Released is what it unmapped.
// Lows are what the eBPF counters read at each munmap's return, the
// lowest per sample interval, each off by up to ±256 KiB (the pages two
// CPUs may hold back from the kernel's shared RSS counter).
func churnRun(seed uint64, n int, leak float64) ([]Point, Churn) {
	return churnCycle(seed, n, leak, 0.150, 0.020, 0.100)
}

// churnCycle is churnRun with a cycle of period seconds and a touch time
// of touchMin plus up to touchSpan by seed.
func churnCycle(seed uint64, n int, leak, period, touchMin, touchSpan float64) ([]Point, Churn) {
	const (
		churn = 64 * mib
		base  = 1.5 * mib
	)
	rng := rand.New(rand.NewPCG(seed, 7))
	noise := rand.New(rand.NewPCG(seed, 11))
	touch := touchMin + touchSpan*rng.Float64()
	t0 := period * rng.Float64()
	// this cycle's touch time varies by ±20%
	touchOf := func(cycle float64) float64 {
		return touch * (0.8 + 0.4*rand.New(rand.NewPCG(seed, uint64(cycle))).Float64())
	}
	pts := make([]Point, n)
	var lows []Point
	prev := t0
	for i := range pts {
		t := t0 + 0.5*float64(i) + 0.04*(rng.Float64()-0.5)
		cycle := math.Floor(t / period)
		phase := t - cycle*period
		v := base + leak*period*cycle
		if phase < touchOf(cycle) {
			v += churn * phase / touchOf(cycle)
		} else {
			v += leak * period
		}
		pts[i] = Point{T: t - t0, V: math.Round(v/4096) * 4096}
		low := math.Inf(1)
		for k := math.Floor(prev / period); k <= cycle; k++ {
			if at := k*period + touchOf(k); i > 0 && at > prev && at <= t {
				low = math.Min(low, base+leak*period*k+(noise.Float64()-0.5)*(512<<10))
			}
		}
		if !math.IsInf(low, 1) {
			lows = append(lows, Point{T: t - t0, V: math.Min(low, pts[i].V)})
		}
		prev = t
	}
	cycles := math.Floor((pts[n-1].T + t0) / period)
	return pts, Churn{Released: cycles * churn, Samples: n, Lows: lows}
}

// samplesOnly is c without the eBPF lows: the counters were off.
func samplesOnly(pts []Point, c Churn) ([]Point, Churn) {
	c.Lows = nil
	return pts, c
}

// Item 7 of issue 15 over 50 seeds, with the lows the eBPF counters read
// at each release: a 64 MiB cycle every 150 ms sampled every 500 ms for
// 5 s is never a leak or growing (its floor holds, or a rise within the
// lows' noise is undecided and names more samples), and the same keeping
// 2 MiB/s is a leak at its rate within 20%, every time, in the same 5 s.
// 3000 seeds were tried once: no false leak, no leak missed, 8 plain
// sawtooths undecided.
func TestChurnLowsDecide(t *testing.T) {
	const leak = 2 * mib
	for seed := range uint64(50) {
		pts, c := churnRun(seed, 11, 0)
		r := AnalyzeChurn(pts, Limits{}, c)
		holds := r.Verdict == vocab.VerdictNoisy && strings.Contains(r.Reason, "holds")
		undecided := r.Verdict == vocab.VerdictNoisy && strings.Contains(r.Reason, "undecided") && r.DecideSamples > 11
		if !r.Undersampled || !holds && !undecided {
			t.Errorf("seed %d, sawtooth, %d lows: verdict %s [%s, %s] (%s)", seed, len(c.Lows), r.Verdict, Rate(r.Low), Rate(r.High), r.Reason)
		}
		pts, c = churnRun(seed, 11, leak)
		r = AnalyzeChurn(pts, Limits{}, c)
		if r.Verdict != vocab.VerdictLeak || math.Abs(r.Slope-leak) > 0.2*leak || r.Low <= 0 {
			t.Errorf("seed %d, leak, %d lows: verdict %s at %s [%s, %s] (%s)", seed, len(c.Lows), r.Verdict, Rate(r.Slope), Rate(r.Low), Rate(r.High), r.Reason)
		}
	}
}

// Load can stretch the cycle past the sampling interval (700 ms, most of
// it touching): the samples catch three or four drops in 5 s, too few for
// a sawtooth, while the lows read in most intervals trace the floor. Over
// 50 seeds of 5 s the plain cycle is never a leak or growing and a 2 MiB/s
// leak is a leak at its rate within 25%; from the samples alone none of
// the 50 leaks is called.
func TestSlowChurnLowsDecide(t *testing.T) {
	const leak = 2 * mib
	missed := 0
	for seed := range uint64(50) {
		pts, c := churnCycle(seed, 11, 0, 0.7, 0.3, 0.35)
		if r := AnalyzeChurn(pts, Limits{}, c); r.Verdict == vocab.VerdictLeak || r.Verdict == vocab.VerdictGrowing {
			t.Errorf("seed %d, sawtooth: verdict %s [%s, %s] (%s)", seed, r.Verdict, Rate(r.Low), Rate(r.High), r.Reason)
		}
		pts, c = churnCycle(seed, 11, leak, 0.7, 0.3, 0.35)
		r := AnalyzeChurn(pts, Limits{}, c)
		if r.Verdict != vocab.VerdictLeak || math.Abs(r.Slope-leak) > 0.25*leak {
			t.Errorf("seed %d, leak, %d lows: verdict %s at %s [%s, %s] (%s)", seed, len(c.Lows), r.Verdict, Rate(r.Slope), Rate(r.Low), Rate(r.High), r.Reason)
		}
		if pts, c := samplesOnly(pts, c); AnalyzeChurn(pts, Limits{}, c).Verdict != vocab.VerdictLeak {
			missed++
		}
	}
	t.Logf("from the samples alone %d of 50 leaks were not called leak", missed)
}

// Lows from too few intervals (the process released memory in only some
// of them) decide nothing: undecided, with a sample count that would.
func TestChurnFewLowsUndecided(t *testing.T) {
	pts, c := churnRun(3, 11, 2*mib)
	c.Lows = c.Lows[:minFloorPoints-1]
	r := AnalyzeChurn(pts, Limits{}, c)
	if r.Verdict != vocab.VerdictNoisy || !strings.Contains(r.Reason, "undecided") || r.DecideSamples <= 11 {
		t.Fatalf("%d lows: verdict %s, decide at %d (%s)", len(c.Lows), r.Verdict, r.DecideSamples, r.Reason)
	}
}

// Item 7 of issue 15 over 50 seeds, from the samples alone (no eBPF): a
// 64 MiB cycle every 150 ms sampled every 500 ms for 5 s is never called
// leak or growing, and is reported as sampled slower than its cycle with
// the samples that would decide.
func TestChurnIsNeverALeak(t *testing.T) {
	for seed := range uint64(50) {
		pts, c := samplesOnly(churnRun(seed, 11, 0))
		r := AnalyzeChurn(pts, Limits{}, c)
		if r.Verdict == vocab.VerdictLeak || r.Verdict == vocab.VerdictGrowing {
			t.Errorf("seed %d: verdict %s [%s, %s] (%s)", seed, r.Verdict, Rate(r.Low), Rate(r.High), r.Reason)
		}
		if !r.Undersampled || !strings.Contains(r.Reason, "faster than the sampling") {
			t.Errorf("seed %d: undersampled=%v (%s)", seed, r.Undersampled, r.Reason)
		}
		if r.Verdict == vocab.VerdictNoisy && strings.Contains(r.Reason, "undecided") && r.DecideSamples <= 11 {
			t.Errorf("seed %d: undecided at 11 samples but names %d (%s)", seed, r.DecideSamples, r.Reason)
		}
		// Without the churn counters the same samples are judged as before,
		// and still never a leak on an interval that holds zero.
		if r := Analyze(pts, Limits{}); (r.Verdict == vocab.VerdictLeak || r.Verdict == vocab.VerdictGrowing) && r.Low <= 0 {
			t.Errorf("seed %d without churn: verdict %s on [%s, %s]", seed, r.Verdict, Rate(r.Low), Rate(r.High))
		}
	}
}

// The same workload keeping 2 MiB/s, from the samples alone: when 5 s cannot decide, the verdict
// says so and names a sample count; a run of that count finds the leak,
// in every one of 50 seeds, at its rate within 25% (a few floor samples
// on a staircase of 300 KiB steps; 2000 seeds were tried once).
func TestChurnLeakIsFound(t *testing.T) {
	const leak = 2 * mib
	early := 0
	for seed := range uint64(50) {
		pts, c := samplesOnly(churnRun(seed, 11, leak))
		r := AnalyzeChurn(pts, Limits{}, c)
		switch {
		case r.Verdict == vocab.VerdictLeak:
			early++
		case r.Verdict != vocab.VerdictNoisy || !strings.Contains(r.Reason, "undecided") || r.DecideSamples <= 11:
			t.Fatalf("seed %d: verdict %s, decide at %d samples (%s)", seed, r.Verdict, r.DecideSamples, r.Reason)
		default:
			pts, c = samplesOnly(churnRun(seed, r.DecideSamples, leak))
			r = AnalyzeChurn(pts, Limits{}, c)
		}
		if r.Verdict != vocab.VerdictLeak || math.Abs(r.Slope-leak) > 0.25*leak {
			t.Errorf("seed %d, %d samples: verdict %s at %s (%s)", seed, len(pts), r.Verdict, Rate(r.Slope), r.Reason)
		}
	}
	t.Logf("%d of 50 leaks were decided within 5 s", early)
}

// A sawtooth leak is not called on a handful of collections.
func TestSawtoothNeedsCycles(t *testing.T) {
	f := gcHeap(func(t float64) float64 { return 40*mib + mib*t }, 3, 30*mib)
	pts := series(26, 0.5, 64<<10, 7, f) // 12.5 s: four collections
	r := Analyze(pts, Limits{})
	if r.Verdict == vocab.VerdictLeak || r.Verdict == vocab.VerdictGrowing || !strings.Contains(r.Reason, "too few") {
		t.Fatalf("verdict %s (%s) on %d collections", r.Verdict, r.Reason, r.Drops)
	}
}
