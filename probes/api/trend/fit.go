// Package trend turns a memory series into a growth rate and a verdict.
//
// It is plain maths on (time, value) points with the standard library only,
// so the agent and the plugin (any OS) can both use it. The fit is
// Theil-Sen (median of pairwise slopes): one GC collection or a burst moves
// the median little, where least squares would swing.
package trend

import (
	"math"
	"sort"
)

// Point is one sample: T in seconds from any origin, V in bytes.
type Point struct {
	T float64
	V float64
}

// Fit is a robust straight line through a series.
type Fit struct {
	N         int     // points used
	Slope     float64 // units of V per second (Theil-Sen median slope)
	Intercept float64 // median of V - Slope*T
	// Low and High bound the slope with ~95% confidence (rank-based
	// Theil-Sen interval). Samples of a process are autocorrelated, so
	// read it as a guide, not a guarantee.
	Low, High float64
	// R2 is 1 - SSres/SStot of this line (clamped to 0..1): how much of
	// the variation the line explains. A flat series has R2 0.
	R2 float64
	// Tau is Kendall's rank correlation of V with T (-1..1): how monotone
	// the series is, whatever the shape.
	Tau float64
}

// MaxFitPoints bounds the O(n²) pairwise work; longer series are thinned
// evenly, which keeps the slope unbiased.
const MaxFitPoints = 400

// TheilSen fits a line through pts (in any order of T; points with equal T
// do not form a slope). It needs two points with distinct T; otherwise it
// returns a zero Fit with N set.
func TheilSen(pts []Point) Fit {
	pts = thin(pts, MaxFitPoints)
	n := len(pts)
	f := Fit{N: n}
	if n < 2 {
		return f
	}
	slopes := make([]float64, 0, n*(n-1)/2)
	var conc, disc float64
	for i := 0; i < n; i++ {
		for j := i + 1; j < n; j++ {
			dt := pts[j].T - pts[i].T
			if dt == 0 {
				continue
			}
			dv := pts[j].V - pts[i].V
			slopes = append(slopes, dv/dt)
			switch s := dv * dt; {
			case s > 0:
				conc++
			case s < 0:
				disc++
			}
		}
	}
	if len(slopes) == 0 {
		return f
	}
	sort.Float64s(slopes)
	f.Slope = medianSorted(slopes)
	f.Tau = (conc - disc) / float64(len(slopes))

	// Rank interval: the slopes between ranks (N-C)/2 and (N+C)/2, with C
	// from the normal approximation of Kendall's S under no trend.
	np := float64(len(slopes))
	fn := float64(n)
	c := 1.96 * math.Sqrt(fn*(fn-1)*(2*fn+5)/18)
	lo := int(math.Floor((np - c) / 2))
	hi := int(math.Ceil((np + c) / 2))
	f.Low = slopes[clampIdx(lo, len(slopes))]
	f.High = slopes[clampIdx(hi, len(slopes))]

	res := make([]float64, n)
	for i, p := range pts {
		res[i] = p.V - f.Slope*p.T
	}
	f.Intercept = Median(res)
	f.R2 = rSquared(pts, f.Slope, f.Intercept)
	return f
}

// At evaluates the line at t.
func (f Fit) At(t float64) float64 { return f.Intercept + f.Slope*t }

func rSquared(pts []Point, slope, icept float64) float64 {
	var mean float64
	for _, p := range pts {
		mean += p.V
	}
	mean /= float64(len(pts))
	var ssTot, ssRes float64
	for _, p := range pts {
		d := p.V - mean
		ssTot += d * d
		r := p.V - (icept + slope*p.T)
		ssRes += r * r
	}
	if ssTot == 0 {
		return 0
	}
	return clamp01(1 - ssRes/ssTot)
}

func thin(pts []Point, max int) []Point {
	if len(pts) <= max {
		return pts
	}
	out := make([]Point, max)
	step := float64(len(pts)-1) / float64(max-1)
	for i := range out {
		out[i] = pts[int(math.Round(float64(i)*step))]
	}
	return out
}

// Median of xs (not modified). 0 for an empty slice.
func Median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	return medianSorted(s)
}

func medianSorted(s []float64) float64 {
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// MAD is the median absolute deviation from the median, scaled by 1.4826
// so it estimates the standard deviation of normal noise.
func MAD(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	m := Median(xs)
	d := make([]float64, len(xs))
	for i, x := range xs {
		d[i] = math.Abs(x - m)
	}
	return 1.4826 * Median(d)
}

func clampIdx(i, n int) int {
	if i < 0 {
		return 0
	}
	if i >= n {
		return n - 1
	}
	return i
}

func clamp01(x float64) float64 {
	return math.Max(0, math.Min(1, x))
}
