package trend

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/kubectl-pixie/kubectl-pixie/probes/api/vocab"
)

const mib = 1 << 20

// series builds n points every dt seconds from f(t) plus uniform noise of
// ±noise bytes, rounded to 4 KiB pages like RSS.
func series(n int, dt, noise float64, seed uint64, f func(t float64) float64) []Point {
	rng := rand.New(rand.NewPCG(seed, 1))
	pts := make([]Point, n)
	for i := range pts {
		t := float64(i) * dt
		v := f(t) + noise*(2*rng.Float64()-1)
		pts[i] = Point{T: t, V: math.Round(v/4096) * 4096}
	}
	return pts
}

func within(t *testing.T, name string, got, want, frac float64) {
	t.Helper()
	if math.Abs(got-want) > frac*math.Abs(want) {
		t.Errorf("%s = %.1f, want %.1f ±%.0f%%", name, got, want, 100*frac)
	}
}

func TestTheilSenExactLine(t *testing.T) {
	pts := series(50, 1, 0, 1, func(t float64) float64 { return 1000 + 3*4096*t })
	f := TheilSen(pts)
	within(t, "slope", f.Slope, 3*4096, 1e-9)
	within(t, "intercept", f.Intercept, 0, 0) // 1000 rounds to 0 pages
	if f.R2 < 0.999 || f.Tau < 0.999 {
		t.Errorf("R2=%v Tau=%v, want ~1", f.R2, f.Tau)
	}
	if f.Low > f.Slope || f.High < f.Slope {
		t.Errorf("interval [%v,%v] does not hold slope %v", f.Low, f.High, f.Slope)
	}
}

func TestTheilSenIgnoresOutliers(t *testing.T) {
	pts := series(60, 0.5, 64<<10, 2, func(t float64) float64 { return 50*mib + mib*t })
	// A fifth of the samples are wild (a read of a half-exited process, a burst).
	for i := 3; i < len(pts); i += 5 {
		pts[i].V += 200 * mib
	}
	f := TheilSen(pts)
	within(t, "slope", f.Slope, mib, 0.05)
	if f.Low > mib || f.High < mib {
		t.Errorf("interval [%.0f,%.0f] misses the true slope %d", f.Low, f.High, mib)
	}
}

func TestTheilSenDegenerate(t *testing.T) {
	if f := TheilSen(nil); f.N != 0 || f.Slope != 0 {
		t.Errorf("empty: %+v", f)
	}
	if f := TheilSen([]Point{{1, 5}, {1, 9}}); f.Slope != 0 {
		t.Errorf("same T: %+v", f)
	}
	long := series(5000, 0.1, 0, 3, func(t float64) float64 { return 7 * 4096 * t })
	within(t, "thinned slope", TheilSen(long).Slope, 7*4096, 0.01)
}

func TestAnalyzeLinearLeak(t *testing.T) {
	pts := series(40, 0.5, 32<<10, 4, func(t float64) float64 { return 20*mib + 2*mib*t })
	r := Analyze(pts, Limits{Limit: 512 * mib})
	if r.Verdict != vocab.VerdictLeak {
		t.Fatalf("verdict %s (%s), want leak", r.Verdict, r.Reason)
	}
	within(t, "slope", r.Slope, 2*mib, 0.03)
	if r.Confidence < 0.95 {
		t.Errorf("confidence %.2f, want >= 0.95", r.Confidence)
	}
	if !strings.Contains(r.Reason, "steadily") {
		t.Errorf("reason %q", r.Reason)
	}
	// OOM: from the last value (~59 MiB) to 512 MiB at 2 MiB/s is ~226 s.
	within(t, "time to OOM", r.TimeToOOM, (512*mib-r.End)/r.Slope, 1e-9)
	within(t, "time to OOM", r.TimeToOOM, 226, 0.03)
	within(t, "percent of limit", r.PercentOfLimit, 100*r.End/(512*mib), 1e-9)
}

func TestAnalyzeSlowLeakInBigProcess(t *testing.T) {
	// 1 GiB process leaking 100 KiB/s for 2 minutes: +12 MiB, ~1.2%.
	pts := series(120, 1, 40<<10, 5, func(t float64) float64 { return 1024*mib + 100*1024*t })
	r := Analyze(pts, Limits{})
	if r.Verdict != vocab.VerdictLeak {
		t.Fatalf("verdict %s (%s), want leak", r.Verdict, r.Reason)
	}
	within(t, "slope", r.Slope, 100*1024, 0.05)
	if r.TimeToOOM != 0 {
		t.Errorf("time to OOM %v without a limit", r.TimeToOOM)
	}
}

// A GC heap: grows by allocation, drops to the live set at each collection.
func gcHeap(live func(t float64) float64, period, garbage float64) func(float64) float64 {
	return func(t float64) float64 {
		phase := math.Mod(t, period) / period
		return live(t) + garbage*phase
	}
}

func TestAnalyzeSawtoothFlatFloorIsNotLeak(t *testing.T) {
	f := gcHeap(func(float64) float64 { return 40 * mib }, 3, 60*mib)
	pts := series(60, 0.5, 64<<10, 6, f)
	r := Analyze(pts, Limits{Limit: 256 * mib})
	if r.Verdict == vocab.VerdictLeak || r.Verdict == vocab.VerdictGrowing {
		t.Fatalf("verdict %s (%s), want stable or noisy", r.Verdict, r.Reason)
	}
	if !r.Sawtooth || r.Drops < 5 {
		t.Errorf("sawtooth=%v drops=%d, want a sawtooth with ~9 drops", r.Sawtooth, r.Drops)
	}
	if !strings.Contains(r.Reason, "sawtooth") || !strings.Contains(r.Reason, "flat floor") {
		t.Errorf("reason %q", r.Reason)
	}
	if r.TimeToOOM != 0 {
		t.Errorf("time to OOM %v for a sawtooth", r.TimeToOOM)
	}
}

func TestAnalyzeSawtoothRisingFloorIsLeak(t *testing.T) {
	// Every collection keeps 1 MiB/s more: the live set leaks under the GC.
	f := gcHeap(func(t float64) float64 { return 40*mib + mib*t }, 3, 30*mib)
	pts := series(80, 0.5, 64<<10, 7, f)
	r := Analyze(pts, Limits{Limit: 1024 * mib})
	if r.Verdict != vocab.VerdictLeak || !r.Sawtooth {
		t.Fatalf("verdict %s sawtooth=%v (%s), want a leak in a sawtooth", r.Verdict, r.Sawtooth, r.Reason)
	}
	within(t, "floor slope", r.Slope, mib, 0.15)
	if r.TimeToOOM <= 0 {
		t.Errorf("no OOM projection for a leak under a limit")
	}
}

func TestAnalyzeIdleIsStable(t *testing.T) {
	pts := series(30, 1, 8<<10, 8, func(float64) float64 { return 12 * mib })
	r := Analyze(pts, Limits{Limit: 64 * mib})
	if r.Verdict != vocab.VerdictStable {
		t.Fatalf("verdict %s (%s), want stable", r.Verdict, r.Reason)
	}
	if r.TimeToOOM != 0 || r.Confidence < 0.5 {
		t.Errorf("time to OOM %v confidence %.2f", r.TimeToOOM, r.Confidence)
	}
	within(t, "percent of limit", r.PercentOfLimit, 100*12.0/64, 0.01)
}

func TestAnalyzeNoisyIsNotLeak(t *testing.T) {
	// Bursts of temporary buffers around a steady base, no trend.
	rng := rand.New(rand.NewPCG(9, 9))
	pts := make([]Point, 60)
	for i := range pts {
		v := 100.0 * mib
		if rng.IntN(3) == 0 {
			v += float64(rng.IntN(40)) * mib
		}
		pts[i] = Point{T: float64(i) * 0.5, V: v}
	}
	r := Analyze(pts, Limits{})
	if r.Verdict != vocab.VerdictNoisy {
		t.Fatalf("verdict %s (%s), want noisy", r.Verdict, r.Reason)
	}
}

func TestAnalyzeLevellingOffIsGrowing(t *testing.T) {
	// A cache warming up: fast growth that saturates.
	pts := series(60, 1, 32<<10, 10, func(t float64) float64 { return 30*mib + 80*mib*(1-math.Exp(-t/20)) })
	r := Analyze(pts, Limits{})
	if r.Verdict != vocab.VerdictGrowing {
		t.Fatalf("verdict %s (%s), want growing", r.Verdict, r.Reason)
	}
	if !strings.Contains(r.Reason, "levelling off") {
		t.Errorf("reason %q", r.Reason)
	}
}

func TestAnalyzeGrewThenFlatIsStable(t *testing.T) {
	// A Go heap reaching its GC target in the first seconds, then steady.
	pts := series(60, 0.2, 16<<10, 13, func(t float64) float64 { return 38*mib + 3*mib*math.Min(t, 5.5)/5.5 })
	r := Analyze(pts, Limits{Limit: 512 * mib})
	if r.Verdict != vocab.VerdictStable || !strings.Contains(r.Reason, "held flat") || r.TimeToOOM != 0 {
		t.Fatalf("verdict %s (%s) oom %v, want stable: it stopped growing", r.Verdict, r.Reason, r.TimeToOOM)
	}
}

func TestAnalyzeShrinkingIsStable(t *testing.T) {
	pts := series(30, 1, 0, 11, func(t float64) float64 { return 200*mib - mib*t })
	r := Analyze(pts, Limits{})
	if r.Verdict != vocab.VerdictStable || !strings.Contains(r.Reason, "shrank") {
		t.Fatalf("verdict %s (%s), want stable/shrank", r.Verdict, r.Reason)
	}
}

func TestAnalyzeTooFewSamples(t *testing.T) {
	r := Analyze([]Point{{0, 1}, {1, 2}, {2, 3}}, Limits{})
	if r.Verdict != vocab.VerdictNoisy || !strings.Contains(r.Reason, "run longer") {
		t.Fatalf("verdict %s (%s)", r.Verdict, r.Reason)
	}
	if r := Analyze(nil, Limits{}); r.Verdict != vocab.VerdictNoisy {
		t.Fatalf("empty: %s", r.Verdict)
	}
}

func TestAnalyzeOverLimitHasNoProjection(t *testing.T) {
	pts := series(20, 1, 0, 12, func(t float64) float64 { return 100*mib + mib*t })
	r := Analyze(pts, Limits{Limit: 50 * mib})
	if r.Verdict != vocab.VerdictLeak || r.TimeToOOM != 0 || r.PercentOfLimit < 200 {
		t.Fatalf("verdict %s oom %v pct %.0f", r.Verdict, r.TimeToOOM, r.PercentOfLimit)
	}
	// Usage (the cgroup) counts instead of the series when given.
	r = Analyze(pts, Limits{Limit: 500 * mib, Usage: 300 * mib})
	within(t, "time to OOM from usage", r.TimeToOOM, 200, 0.01)
}

func TestFormat(t *testing.T) {
	for _, c := range []struct {
		got, want string
	}{
		{Bytes(0), "0 B"},
		{Bytes(1023), "1023 B"},
		{Bytes(1536), "1.5 KiB"},
		{Bytes(812 * mib), "812 MiB"},
		{Bytes(1.5 * 1024 * mib), "1.5 GiB"},
		{SignedBytes(-3 * mib), "-3.0 MiB"},
		{Rate(2 * mib), "+2.0 MiB/s"},
		{Rate(9.6 * mib / 60), "+9.6 MiB/min"},
		{Rate(100 * 1024), "+5.9 MiB/min"},
		{Rate(1000), "+1000 B/s"},
		{Rate(0), "0 B/s"},
		{Duration(4.25), "4.2s"},
		{Duration(45), "45s"},
		{Duration(750), "12m30s"},
		{Duration(3*3600 + 300), "3h05m"},
		{Duration(52 * 3600), "2d4h"},
	} {
		if c.got != c.want {
			t.Errorf("got %q, want %q", c.got, c.want)
		}
	}
}
