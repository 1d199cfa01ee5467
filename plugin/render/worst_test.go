package render

import (
	"testing"

	"github.com/kubectl-pixie/kubectl-pixie/probes/api"
)

func TestWorstNode(t *testing.T) {
	s := func(captured, lost, cpu, rss uint64) api.ProbeStats {
		return api.ProbeStats{WindowNs: 1e9, EventsCaptured: captured, EventsLost: lost, UserCPUNs: cpu, PeakRSSBytes: rss}
	}
	cases := []struct {
		per  map[string]api.ProbeStats
		want string
	}{
		{map[string]api.ProbeStats{"a": s(10, 0, 1, 1)}, ""},                           // one node: nothing to compare
		{map[string]api.ProbeStats{"a": s(1000, 10, 1, 1), "b": s(10, 1, 1, 1)}, "b"},  // share lost, not count
		{map[string]api.ProbeStats{"a": s(10, 0, 5e6, 1), "b": s(10, 0, 9e6, 1)}, "b"}, // then CPU
		{map[string]api.ProbeStats{"a": s(10, 0, 1, 9<<20), "b": s(10, 0, 1, 1)}, "a"}, // then RSS
		{map[string]api.ProbeStats{"b": s(10, 0, 1, 1), "a": s(10, 0, 1, 1)}, "a"},     // then name
	}
	for i, c := range cases {
		if got, _, _ := WorstNode(c.per); got != c.want {
			t.Errorf("case %d: worst %q, want %q", i, got, c.want)
		}
	}
}
