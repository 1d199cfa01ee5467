package stats

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// distributions of latencies in ns, shaped like real services.
var distributions = map[string]func(r *rand.Rand) float64{
	"uniform": func(r *rand.Rand) float64 { return 1e3 + r.Float64()*1e9 },
	"lognormal": func(r *rand.Rand) float64 {
		return math.Exp(math.Log(2e6) + 1.5*r.NormFloat64())
	},
	// cache hits around 200 µs, misses around 80 ms
	"bimodal": func(r *rand.Rand) float64 {
		if r.IntN(10) < 7 {
			return math.Abs(200e3 + 30e3*r.NormFloat64())
		}
		return math.Abs(80e6 + 15e6*r.NormFloat64())
	},
	"exponential": func(r *rand.Rand) float64 { return 1 + r.ExpFloat64()*5e6 },
	// integer nanoseconds with many duplicates, down to 1 ns
	"small-integers": func(r *rand.Rand) float64 { return float64(1 + r.IntN(300)) },
}

var quantiles = []float64{0, 0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.999, 1}

// exactQuantile is the sample of rank floor(q*(n-1)), the definition the
// sketch's error bound is stated against.
func exactQuantile(sorted []float64, q float64) float64 {
	return sorted[int(q*float64(len(sorted)-1))]
}

func checkBound(t *testing.T, s *Sketch, values []float64, label string) {
	t.Helper()
	sorted := slices.Clone(values)
	slices.Sort(sorted)
	got := s.Quantiles(quantiles...)
	for i, q := range quantiles {
		want := exactQuantile(sorted, q)
		// 1e-12 absorbs float rounding in log/pow, far below α.
		if math.Abs(got[i]-want) > s.RelativeAccuracy()*want*(1+1e-12) {
			t.Errorf("%s: q=%v: sketch %v, exact %v: relative error %.5f > %v",
				label, q, got[i], want, math.Abs(got[i]-want)/want, s.RelativeAccuracy())
		}
	}
}

func TestSketchRelativeErrorBound(t *testing.T) {
	for name, gen := range distributions {
		for _, n := range []int{1, 2, 7, 100, 10_000, 200_000} {
			for _, seed := range []uint64{1, 2, 3} {
				r := rand.New(rand.NewPCG(seed, uint64(n)))
				s := NewSketch()
				values := make([]float64, n)
				for i := range values {
					values[i] = gen(r)
					s.Add(values[i])
				}
				checkBound(t, s, values, name)
				checkExactMoments(t, s, values, name)
			}
		}
	}
}

func checkExactMoments(t *testing.T, s *Sketch, values []float64, label string) {
	t.Helper()
	if s.Count() != uint64(len(values)) {
		t.Errorf("%s: count %d, want %d", label, s.Count(), len(values))
	}
	if s.Min() != slices.Min(values) || s.Max() != slices.Max(values) {
		t.Errorf("%s: min/max %v/%v, want %v/%v", label, s.Min(), s.Max(), slices.Min(values), slices.Max(values))
	}
	var sum float64
	for _, v := range values {
		sum += v
	}
	if math.Abs(s.Sum()-sum) > 1e-9*sum {
		t.Errorf("%s: sum %v, want %v", label, s.Sum(), sum)
	}
}

func TestSketchOtherAccuracies(t *testing.T) {
	for _, alpha := range []float64{0.001, 0.005, 0.02, 0.05} {
		s, err := NewSketchWith(alpha, 1<<16)
		if err != nil {
			t.Fatal(err)
		}
		r := rand.New(rand.NewPCG(9, 9))
		values := make([]float64, 50_000)
		for i := range values {
			values[i] = distributions["lognormal"](r)
			s.Add(values[i])
		}
		checkBound(t, s, values, "lognormal")
	}
}

func TestSketchMergeEqualsAddAll(t *testing.T) {
	for name, gen := range distributions {
		r := rand.New(rand.NewPCG(42, 7))
		all := NewSketch()
		parts := make([]*Sketch, 5)
		for i := range parts {
			parts[i] = NewSketch()
		}
		var values []float64
		for range 30_000 {
			v := gen(r)
			values = append(values, v)
			all.Add(v)
			parts[r.IntN(len(parts))].Add(v)
		}
		merged := NewSketch()
		for _, p := range parts {
			// through JSON, as deltas travel from nodes
			b, err := json.Marshal(p)
			if err != nil {
				t.Fatal(err)
			}
			var decoded Sketch
			if err := json.Unmarshal(b, &decoded); err != nil {
				t.Fatal(err)
			}
			merged.Merge(&decoded)
		}
		if merged.Count() != all.Count() || merged.Min() != all.Min() || merged.Max() != all.Max() ||
			merged.zero != all.zero || math.Abs(merged.Sum()-all.Sum()) > 1e-9*all.Sum() {
			t.Errorf("%s: merged moments differ from add-all", name)
		}
		if !mapsEqual(merged.bins, all.bins) {
			t.Errorf("%s: merged buckets differ from add-all", name)
		}
		if got, want := merged.Quantiles(quantiles...), all.Quantiles(quantiles...); !slices.Equal(got, want) {
			t.Errorf("%s: merged quantiles %v, add-all %v", name, got, want)
		}
		checkBound(t, merged, values, name+"/merged")
	}
}

func mapsEqual(a, b map[int32]uint64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func TestSketchMergeDifferentAccuracy(t *testing.T) {
	coarse, _ := NewSketchWith(0.02, DefaultMaxBuckets)
	fine := NewSketch()
	r := rand.New(rand.NewPCG(5, 5))
	var values []float64
	for range 20_000 {
		v := distributions["lognormal"](r)
		values = append(values, v)
		if r.IntN(2) == 0 {
			coarse.Add(v)
		} else {
			fine.Add(v)
		}
	}
	fine.Merge(coarse)
	// errors compound: (1+0.02)(1+0.01)-1 < 0.031
	loose, _ := NewSketchWith(0.031, DefaultMaxBuckets)
	*loose = *fine
	loose.alpha = 0.031
	checkBound(t, loose, values, "mixed")
}

func TestSketchBoundedSize(t *testing.T) {
	s, _ := NewSketchWith(0.01, 64)
	r := rand.New(rand.NewPCG(1, 1))
	var values []float64
	for range 100_000 {
		v := math.Exp(r.Float64() * 40) // 1 ns .. 7 years: far more than 64 buckets
		values = append(values, v)
		s.Add(v)
	}
	if s.Buckets() > 64 {
		t.Fatalf("sketch holds %d buckets, cap 64", s.Buckets())
	}
	if !s.collapsed {
		t.Fatal("sketch not marked collapsed")
	}
	// collapse merges the lowest buckets; high quantiles keep the bound
	sorted := slices.Clone(values)
	slices.Sort(sorted)
	for _, q := range []float64{0.99, 0.995, 0.999, 1} {
		want := exactQuantile(sorted, q)
		if got := s.Quantile(q); math.Abs(got-want) > 0.01*want*(1+1e-12) {
			t.Errorf("q=%v after collapse: %v, exact %v", q, got, want)
		}
	}
	checkExactMoments(t, s, values, "collapsed")
}

func TestSketchEdgeValues(t *testing.T) {
	s := NewSketch()
	if s.Quantile(0.5) != 0 || s.Count() != 0 {
		t.Fatal("empty sketch not zero")
	}
	for _, v := range []float64{0, -5, 0.3, math.NaN()} {
		s.Add(v)
	}
	if s.Count() != 3 { // NaN dropped
		t.Fatalf("count %d, want 3", s.Count())
	}
	if s.Min() != 0 || s.Quantile(0.5) != 0 {
		t.Fatalf("min %v p50 %v, want 0", s.Min(), s.Quantile(0.5))
	}
	s.Add(1e6)
	if s.Quantile(1) != 1e6 {
		t.Fatalf("max %v", s.Quantile(1))
	}
	if _, err := NewSketchWith(0, 10); err == nil {
		t.Fatal("alpha 0 accepted")
	}
}

func TestSketchJSON(t *testing.T) {
	s := NewSketch()
	for _, v := range []float64{1200, 1500, 3e6, 3.1e6, 0} {
		s.Add(v)
	}
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	var d Sketch
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatal(err)
	}
	b2, _ := json.Marshal(&d)
	if string(b) != string(b2) {
		t.Fatalf("round trip changed encoding:\n%s\n%s", b, b2)
	}
	if len(b) > 120 {
		t.Errorf("encoding not compact (%d bytes): %s", len(b), b)
	}
	for _, bad := range []string{
		`{"a":0.01,"n":5,"k":[1,2],"c":[1]}`,            // length mismatch
		`{"a":0.01,"n":9,"k":[1,2],"c":[1,1]}`,          // counts do not sum
		`{"a":0.01,"n":2,"k":[5,-1],"c":[1,1]}`,         // not increasing
		`{"a":7,"n":0}`,                                 // bad accuracy
		`{"a":0.01,"n":1,"k":[2147483647,5],"c":[0,1]}`, // overflow
	} {
		var x Sketch
		if err := json.Unmarshal([]byte(bad), &x); err == nil {
			t.Errorf("accepted %s", bad)
		}
	}
}

func BenchmarkSketchAdd(b *testing.B) {
	s := NewSketch()
	r := rand.New(rand.NewPCG(1, 2))
	v := make([]float64, 4096)
	for i := range v {
		v[i] = distributions["lognormal"](r)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		s.Add(v[i&4095])
	}
}

// Sketches arrive from nodes: any input either fails to decode or yields
// a sketch whose counts agree and whose quantiles stay within [Min, Max].
func FuzzSketchJSON(f *testing.F) {
	s := NewSketch()
	for _, v := range []float64{0, 1, 1500, 3e6, 9e9} {
		s.Add(v)
	}
	b, _ := json.Marshal(s)
	f.Add(b)
	f.Add([]byte(`{"a":0.01,"n":1,"lo":5,"hi":5,"k":[81],"c":[1]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var s Sketch
		if err := json.Unmarshal(b, &s); err != nil {
			return
		}
		n := s.zero
		for _, c := range s.bins {
			n += c
		}
		if n != s.Count() {
			t.Fatalf("decoded buckets hold %d, count %d", n, s.Count())
		}
		for _, q := range quantiles {
			v := s.Quantile(q)
			if s.Count() > 0 && s.Min() <= s.Max() && (v < s.Min() || v > s.Max()) {
				t.Fatalf("q%v = %v outside [%v, %v]", q, v, s.Min(), s.Max())
			}
		}
		s.Merge(&s)
	})
}

// TestSketchHistogram: values more than 2α from every bound land in the
// bucket an exact count puts them in; zeros in the first; the counts add
// up to Count.
func TestSketchHistogram(t *testing.T) {
	bounds := []float64{1e6, 5e6, 25e6, 100e6}
	r := rand.New(rand.NewPCG(7, 11))
	s := NewSketch()
	want := make([]uint64, len(bounds)+1)
	for n := 0; n < 20000; {
		v := math.Exp(math.Log(5e6) + 2*r.NormFloat64())
		near := false
		for _, b := range bounds {
			near = near || math.Abs(v-b) <= 2*DefaultRelativeAccuracy*b
		}
		if near {
			continue
		}
		i, _ := slices.BinarySearch(bounds, v)
		want[i]++
		s.Add(v)
		n++
	}
	s.Add(0)
	want[0]++
	if got := s.Histogram(bounds); !slices.Equal(got, want) {
		t.Fatalf("Histogram = %v, want %v", got, want)
	}
	if got := NewSketch().Histogram(bounds); !slices.Equal(got, make([]uint64, 5)) {
		t.Fatalf("empty sketch: Histogram = %v, want zeros", got)
	}
}
