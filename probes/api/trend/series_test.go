package trend

import (
	"math"
	"testing"
)

// A day of 1 s samples keeps at most MaxSeriesPoints+1 points, evenly
// spread from the first sample to the latest.
func TestSeriesIsBounded(t *testing.T) {
	var s Series
	for i := range 86400 {
		s.Add(Point{T: float64(i), V: float64(i)})
		pts := s.Points()
		if len(pts) > MaxSeriesPoints+1 {
			t.Fatalf("after %d samples %d points", i+1, len(pts))
		}
		if pts[0].T != 0 || pts[len(pts)-1].T != float64(i) {
			t.Fatalf("after %d samples the points span %v..%v", i+1, pts[0].T, pts[len(pts)-1].T)
		}
	}
	pts := s.Points()
	if len(pts) < MaxSeriesPoints/2 || s.Samples() != 86400 {
		t.Fatalf("%d points of %d samples", len(pts), s.Samples())
	}
	step := pts[1].T - pts[0].T
	for i := 1; i < len(pts)-1; i++ {
		if pts[i].T-pts[i-1].T != step {
			t.Fatalf("uneven spacing at %d: %v after %v", i, pts[i].T, pts[i-1].T)
		}
	}
}

// The verdict and slope of an hour of a noisy leak are the same from the
// bounded series as from every sample.
func TestSeriesKeepsTheVerdict(t *testing.T) {
	var s Series
	var all []Point
	for i := range 3600 {
		p := Point{T: float64(i), V: 100e6 + 2000*float64(i) + 300e3*math.Sin(float64(i)*1.7)}
		s.Add(p)
		all = append(all, p)
	}
	full, bounded := Analyze(all, Limits{}), Analyze(s.Points(), Limits{})
	if full.Verdict != bounded.Verdict || math.Abs(full.Slope-bounded.Slope) > 0.02*full.Slope {
		t.Fatalf("full: %s %.0f B/s; bounded: %s %.0f B/s", full.Verdict, full.Slope, bounded.Verdict, bounded.Slope)
	}
}
