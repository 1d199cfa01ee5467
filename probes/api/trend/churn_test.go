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
func churnRun(seed uint64, n int, leak float64) ([]Point, Churn) {
	const (
		period = 0.150
		churn  = 64 * mib
		base   = 1.5 * mib
	)
	rng := rand.New(rand.NewPCG(seed, 7))
	touch := 0.020 + 0.100*rng.Float64()
	t0 := period * rng.Float64()
	pts := make([]Point, n)
	for i := range pts {
		t := t0 + 0.5*float64(i) + 0.04*(rng.Float64()-0.5)
		cycle := math.Floor(t / period)
		phase := t - cycle*period
		// this cycle's touch time varies by ±20%
		d := touch * (0.8 + 0.4*rand.New(rand.NewPCG(seed, uint64(cycle))).Float64())
		v := base + leak*period*cycle
		if phase < d {
			v += churn * phase / d
		} else {
			v += leak * period
		}
		pts[i] = Point{T: t - t0, V: math.Round(v/4096) * 4096}
	}
	cycles := math.Floor((pts[n-1].T + t0) / period)
	return pts, Churn{Released: cycles * churn, Samples: n}
}

// Item 7 of issue 15 over 50 seeds: a 64 MiB cycle every 150 ms sampled
// every 500 ms for 5 s is never called leak or growing, and is reported
// as sampled slower than its cycle with the samples that would decide.
func TestChurnIsNeverALeak(t *testing.T) {
	for seed := range uint64(50) {
		pts, c := churnRun(seed, 11, 0)
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

// The same workload keeping 2 MiB/s: when 5 s cannot decide, the verdict
// says so and names a sample count; a run of that count finds the leak,
// in every one of 50 seeds, at its rate within 25% (a few floor samples
// on a staircase of 300 KiB steps; 2000 seeds were tried once).
func TestChurnLeakIsFound(t *testing.T) {
	const leak = 2 * mib
	early := 0
	for seed := range uint64(50) {
		pts, c := churnRun(seed, 11, leak)
		r := AnalyzeChurn(pts, Limits{}, c)
		switch {
		case r.Verdict == vocab.VerdictLeak:
			early++
		case r.Verdict != vocab.VerdictNoisy || !strings.Contains(r.Reason, "undecided") || r.DecideSamples <= 11:
			t.Fatalf("seed %d: verdict %s, decide at %d samples (%s)", seed, r.Verdict, r.DecideSamples, r.Reason)
		default:
			pts, c = churnRun(seed, r.DecideSamples, leak)
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
