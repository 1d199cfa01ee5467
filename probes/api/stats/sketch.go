// Package stats aggregates request observations in bounded memory: a
// mergeable latency sketch, path templating with a cardinality limit, and
// a keyed aggregator whose deltas travel from nodes to the plugin.
//
// It imports only the standard library: the agent and the plugin share it.
package stats

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
)

// DefaultRelativeAccuracy is the sketch's stated error: every quantile it
// returns is within 1% of the true sample at that rank (for samples >= 1 ns).
const DefaultRelativeAccuracy = 0.01

// DefaultMaxBuckets bounds a sketch's size. At 1% accuracy, 2048 buckets span
// 1 ns to ~19 years, so latencies never collapse in practice; the cap is a
// guard against hostile or corrupt input.
const DefaultMaxBuckets = 2048

// minIndexable: values below it (sub-nanosecond, zero, negative from clock
// skew) are counted in the zero bucket and reported as 0.
const minIndexable = 1.0

// Sketch is a log-bucketed quantile sketch in the style of DDSketch
// (Masson et al., VLDB 2019): value x > 0 goes to bucket ceil(log_γ x) with
// γ = (1+α)/(1-α), so each bucket's representative is within relative error
// α of every value in it. Buckets are sparse; Count, Sum, Min and Max are
// exact. When the number of buckets exceeds the cap, the lowest buckets
// are collapsed into one, so only the lowest quantiles lose accuracy.
//
// The zero value is not usable; call NewSketch. A Sketch is not safe for
// concurrent use.
type Sketch struct {
	alpha      float64
	gamma      float64
	invLnGamma float64
	maxBuckets int

	bins      map[int32]uint64
	zero      uint64 // values < minIndexable
	count     uint64
	sum       float64
	min, max  float64
	collapsed bool // lowest buckets were merged; low quantiles are upper bounds
}

// NewSketch returns an empty sketch with DefaultRelativeAccuracy and
// DefaultMaxBuckets.
func NewSketch() *Sketch {
	s, _ := NewSketchWith(DefaultRelativeAccuracy, DefaultMaxBuckets)
	return s
}

// NewSketchWith returns an empty sketch with relative accuracy alpha
// (0 < alpha < 1) and at most maxBuckets buckets (>= 2).
func NewSketchWith(alpha float64, maxBuckets int) (*Sketch, error) {
	if !(alpha > 0 && alpha < 1) {
		return nil, fmt.Errorf("sketch relative accuracy %v out of (0, 1)", alpha)
	}
	if maxBuckets < 2 {
		return nil, fmt.Errorf("sketch bucket cap %d below 2", maxBuckets)
	}
	g := (1 + alpha) / (1 - alpha)
	return &Sketch{
		alpha:      alpha,
		gamma:      g,
		invLnGamma: 1 / math.Log(g),
		maxBuckets: maxBuckets,
		bins:       make(map[int32]uint64),
	}, nil
}

// RelativeAccuracy is the sketch's α.
func (s *Sketch) RelativeAccuracy() float64 { return s.alpha }

func (s *Sketch) index(x float64) int32 {
	return int32(math.Ceil(math.Log(x) * s.invLnGamma))
}

// value is the representative of bucket i, (γ^(i-1), γ^i]: the point whose
// relative distance to both ends is α.
func (s *Sketch) value(i int32) float64 {
	return 2 * math.Pow(s.gamma, float64(i)) / (s.gamma + 1)
}

// Add records one value (a latency in ns).
func (s *Sketch) Add(ns float64) { s.addN(ns, 1) }

func (s *Sketch) addN(ns float64, n uint64) {
	if n == 0 || math.IsNaN(ns) {
		return
	}
	if ns < 0 || math.IsInf(ns, -1) {
		ns = 0
	}
	if math.IsInf(ns, 1) {
		ns = math.MaxFloat64
	}
	if s.count == 0 || ns < s.min {
		s.min = ns
	}
	if s.count == 0 || ns > s.max {
		s.max = ns
	}
	s.count += n
	s.sum += ns * float64(n)
	if ns < minIndexable {
		s.zero += n
		return
	}
	s.bins[s.index(ns)] += n
	s.collapse()
}

// collapse merges the lowest buckets into one until the cap holds.
func (s *Sketch) collapse() {
	if len(s.bins) <= s.maxBuckets {
		return
	}
	keys := s.sortedKeys()
	excess := len(keys) - s.maxBuckets
	into := keys[excess]
	for _, k := range keys[:excess] {
		s.bins[into] += s.bins[k]
		delete(s.bins, k)
	}
	s.collapsed = true
}

func (s *Sketch) sortedKeys() []int32 {
	keys := make([]int32, 0, len(s.bins))
	for k := range s.bins {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// Merge adds o's values into s. Sketches of equal accuracy merge exactly
// (the result equals adding all values to one sketch); otherwise o's buckets
// are re-added at their representative values, which adds o's error to s's.
func (s *Sketch) Merge(o *Sketch) {
	if o == nil || o.count == 0 {
		return
	}
	if s.count == 0 || o.min < s.min {
		s.min = o.min
	}
	if s.count == 0 || o.max > s.max {
		s.max = o.max
	}
	s.count += o.count
	s.sum += o.sum
	s.zero += o.zero
	s.collapsed = s.collapsed || o.collapsed
	if o.gamma == s.gamma {
		for k, c := range o.bins {
			s.bins[k] += c
		}
	} else {
		for k, c := range o.bins {
			s.bins[s.index(o.value(k))] += c
		}
	}
	s.collapse()
}

// Clone returns a deep copy.
func (s *Sketch) Clone() *Sketch {
	c := *s
	c.bins = make(map[int32]uint64, len(s.bins))
	for k, v := range s.bins {
		c.bins[k] = v
	}
	return &c
}

// Count is the exact number of values added.
func (s *Sketch) Count() uint64 { return s.count }

// Sum is the exact sum of values added.
func (s *Sketch) Sum() float64 { return s.sum }

// Min is the exact smallest value (0 when empty).
func (s *Sketch) Min() float64 { return s.min }

// Max is the exact largest value (0 when empty).
func (s *Sketch) Max() float64 { return s.max }

// Mean is Sum/Count (0 when empty).
func (s *Sketch) Mean() float64 {
	if s.count == 0 {
		return 0
	}
	return s.sum / float64(s.count)
}

// Buckets is the number of non-empty buckets (the sketch's size).
func (s *Sketch) Buckets() int { return len(s.bins) }

// Quantile returns the q-quantile (0 <= q <= 1) of the values added: an
// estimate within relative error α of the sample of rank floor(q*(Count-1))
// in sorted order (0-based). q=0 and q=1 return the exact Min and Max. An
// empty sketch returns 0.
func (s *Sketch) Quantile(q float64) float64 {
	return s.Quantiles(q)[0]
}

// Quantiles returns several quantiles with one pass over the buckets.
func (s *Sketch) Quantiles(qs ...float64) []float64 {
	out := make([]float64, len(qs))
	if s.count == 0 {
		return out
	}
	keys := s.sortedKeys()
	for i, q := range qs {
		out[i] = s.quantile(keys, q)
	}
	return out
}

func (s *Sketch) quantile(keys []int32, q float64) float64 {
	switch {
	case math.IsNaN(q) || q <= 0:
		return s.min
	case q >= 1:
		return s.max
	}
	rank := uint64(q * float64(s.count-1)) // 0-based rank of the wanted sample
	if rank < s.zero {
		return s.clamp(0)
	}
	cum := s.zero
	for _, k := range keys {
		cum += s.bins[k]
		if cum > rank {
			return s.clamp(s.value(k))
		}
	}
	return s.max
}

// Histogram counts the values into len(bounds)+1 buckets, as OTLP's
// explicit-bucket histograms do: bucket i holds (bounds[i-1], bounds[i]]
// and the last everything above; bounds ascend. A value is placed by its
// sketch bucket's representative (clamped to [Min, Max]), so a value
// within α of a bound may land on its other side; the counts add up to
// Count exactly.
func (s *Sketch) Histogram(bounds []float64) []uint64 {
	out := make([]uint64, len(bounds)+1)
	if s.count == 0 {
		return out
	}
	place := func(v float64, n uint64) {
		i, _ := slices.BinarySearch(bounds, v) // first bound >= v
		out[i] += n
	}
	place(s.clamp(0), s.zero)
	for k, n := range s.bins {
		place(s.clamp(s.value(k)), n)
	}
	return out
}

// clamp keeps an estimate inside [Min, Max]: the true sample lies there
// too, so clamping never increases the error.
func (s *Sketch) clamp(v float64) float64 {
	return math.Min(math.Max(v, s.min), s.max)
}

// sketchJSON is the compact wire form: bucket keys delta-encoded (sorted),
// counts in the same order.
type sketchJSON struct {
	Alpha     float64  `json:"a"`
	Count     uint64   `json:"n"`
	Sum       float64  `json:"s"`
	Min       float64  `json:"lo"`
	Max       float64  `json:"hi"`
	Zero      uint64   `json:"z,omitempty"`
	Keys      []int32  `json:"k,omitempty"`
	Counts    []uint64 `json:"c,omitempty"`
	Collapsed bool     `json:"x,omitempty"`
}

// MarshalJSON encodes the sketch compactly (keys delta-encoded).
func (s *Sketch) MarshalJSON() ([]byte, error) {
	j := sketchJSON{Alpha: s.alpha, Count: s.count, Sum: s.sum, Min: s.min, Max: s.max, Zero: s.zero, Collapsed: s.collapsed}
	keys := s.sortedKeys()
	j.Keys = make([]int32, len(keys))
	j.Counts = make([]uint64, len(keys))
	prev := int32(0)
	for i, k := range keys {
		j.Keys[i] = k - prev
		j.Counts[i] = s.bins[k]
		prev = k
	}
	return json.Marshal(j)
}

// UnmarshalJSON decodes what MarshalJSON wrote, rejecting inconsistent
// input (it comes from nodes).
func (s *Sketch) UnmarshalJSON(b []byte) error {
	var j sketchJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return fmt.Errorf("decoding sketch: %w", err)
	}
	if len(j.Keys) != len(j.Counts) {
		return fmt.Errorf("decoding sketch: %d keys but %d counts", len(j.Keys), len(j.Counts))
	}
	alpha := j.Alpha
	if alpha == 0 {
		alpha = DefaultRelativeAccuracy
	}
	n, err := NewSketchWith(alpha, max(DefaultMaxBuckets, len(j.Keys)))
	if err != nil {
		return fmt.Errorf("decoding sketch: %w", err)
	}
	total := j.Zero
	k := int64(0)
	for i, d := range j.Keys {
		k += int64(d)
		if k < math.MinInt32 || k > math.MaxInt32 {
			return fmt.Errorf("decoding sketch: bucket key out of range")
		}
		if i > 0 && d <= 0 {
			return fmt.Errorf("decoding sketch: bucket keys not increasing")
		}
		n.bins[int32(k)] += j.Counts[i]
		total += j.Counts[i]
	}
	if total != j.Count {
		return fmt.Errorf("decoding sketch: bucket counts sum to %d, count is %d", total, j.Count)
	}
	n.zero, n.count, n.sum, n.min, n.max, n.collapsed = j.Zero, j.Count, j.Sum, j.Min, j.Max, j.Collapsed
	*s = *n
	return nil
}
