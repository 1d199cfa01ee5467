package e2e

import (
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/kubectl-pixie/kubectl-pixie/probes/api"
	"github.com/kubectl-pixie/kubectl-pixie/probes/api/stats"
)

func TestRankQuantile(t *testing.T) {
	twenty := make([]int64, 20)
	for i := range twenty {
		twenty[i] = int64(20-i) * 1000 // unsorted on purpose
	}
	for _, c := range []struct {
		values []int64
		q      float64
		want   int64
	}{
		{nil, 0.5, 0},
		{[]int64{7}, 0.99, 7},
		{[]int64{9, 3}, 0.5, 3}, // rank floor(0.5) = 0: the lower one
		{twenty, 0, 1000},
		{twenty, 0.5, 10000},  // rank floor(9.5) = 9
		{twenty, 0.9, 18000},  // rank floor(17.1) = 17
		{twenty, 0.99, 19000}, // rank floor(18.81) = 18; nearest-rank would say 20000
		{twenty, 1, 20000},
	} {
		if got := rankQuantile(c.values, c.q); got != c.want {
			t.Errorf("rankQuantile(%v, %v) = %d, want %d", c.values, c.q, got, c.want)
		}
	}
	if twenty[0] != 20000 {
		t.Error("rankQuantile sorted its caller's slice")
	}
}

// twoNodes are the latencies of one endpoint on two nodes, apart as the
// e2e test makes them: node 1 answers at once, node 2 after 5 ms.
func twoNodes() (fast, slow []int64) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 40 {
		fast = append(fast, 150_000+r.Int64N(100_000))
		slow = append(slow, 5_200_000+r.Int64N(800_000))
	}
	return fast, slow
}

func sketchOf(values ...[]int64) *stats.Sketch {
	s := stats.NewSketch()
	for _, vs := range values {
		for _, v := range vs {
			s.Add(float64(v))
		}
	}
	return s
}

func summaryOf(s *stats.Sketch) api.HTTPSummary {
	return api.NewHTTPSummary(stats.Endpoint{Count: s.Count(), Latency: s}, 0, 0)
}

// TestCheckSummaryMerge: the summary of the two nodes' sketches merged as
// the plugin merges them passes; the wrong merges it could make fail, on
// the figure they get wrong.
func TestCheckSummaryMerge(t *testing.T) {
	fast, slow := twoNodes()
	all := append(append([]int64(nil), fast...), slow...)
	merged := sketchOf(fast)
	merged.Merge(sketchOf(slow))
	if err := checkSummary(summaryOf(merged), all); err != nil {
		t.Fatalf("a right merge fails: %v", err)
	}

	oneNode := summaryOf(sketchOf(fast)) // node 1's sketch kept, counts added
	oneNode.Count = uint64(len(all))
	avg := summaryOf(merged) // each node's percentiles averaged
	f, s := summaryOf(sketchOf(fast)), summaryOf(sketchOf(slow))
	avg.LatencyP50, avg.LatencyP90, avg.LatencyP99 = (f.LatencyP50+s.LatencyP50)/2, (f.LatencyP90+s.LatencyP90)/2, (f.LatencyP99+s.LatencyP99)/2
	twice := summaryOf(sketchOf(fast, slow, slow[:1])) // a record counted by two probes
	maxOfOne := summaryOf(merged)
	maxOfOne.LatencyMax = f.LatencyMax
	coarse, _ := stats.NewSketchWith(0.05, stats.DefaultMaxBuckets) // a sketch 5x coarser than stated
	for _, v := range all {
		coarse.Add(float64(v))
	}
	for name, c := range map[string]struct {
		s    api.HTTPSummary
		want []string
	}{
		"node 1's sketch only":    {oneNode, []string{"p50", "p90", "p99", "max"}},
		"percentiles averaged":    {avg, []string{"p50", "p90", "p99"}},
		"a record counted twice":  {twice, []string{"count 81, the records 80"}},
		"max of one node":         {maxOfOne, []string{"max"}},
		"coarser than 1%":         {summaryOf(coarse), []string{"more than the sketch's 1%"}},
		"p99 above by 1% + 2 ns":  {withP99(merged, 1.01, 2, all), []string{"p99"}},
		"p99 above by exactly 1%": {withP99(merged, 1.01, 0, all), nil},
		"p99 below by exactly 1%": {withP99(merged, 0.99, 0, all), nil},
	} {
		err := checkSummary(c.s, all)
		if c.want == nil {
			if err != nil {
				t.Errorf("%s: %v", name, err)
			}
			continue
		}
		if err == nil {
			t.Errorf("%s: passes", name)
			continue
		}
		t.Logf("%s: %v", name, err)
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: %q does not name %q", name, err, w)
			}
		}
	}
}

// withP99 is merged's summary with p99 set to the records' exact p99
// times f, plus d ns.
func withP99(merged *stats.Sketch, f float64, d int64, all []int64) api.HTTPSummary {
	s := summaryOf(merged)
	s.LatencyP99 = int64(float64(rankQuantile(all, 0.99))*f) + d
	return s
}
