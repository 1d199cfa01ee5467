package traceview

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/kubectl-pixie/kubectl-pixie/probes/api"
	"github.com/kubectl-pixie/kubectl-pixie/probes/api/stats"
)

// replicaFeed: the agents of two nodes name the replicas of one workload
// alike ("shop/web", from the plugin's config), 3 and 2 requests.
func replicaFeed(t *testing.T) func(emit func(string, []byte)) {
	return func(emit func(string, []byte)) {
		emit("n1", []byte(`{"table":"probe_ready","v":1,"seq":1,"probe":"trace"}`))
		emit("n2", []byte(`{"table":"probe_ready","v":1,"seq":1,"probe":"trace"}`))
		emit("n1", statsLine(t, "shop/web", 3, 200))
		emit("n2", statsLine(t, "shop/web", 2, 200))
	}
}

func summaries(t *testing.T, out []byte) []api.HTTPSummary {
	t.Helper()
	var got []api.HTTPSummary
	for l := range strings.SplitSeq(strings.TrimSpace(string(out)), "\n") {
		var s api.HTTPSummary
		if err := json.Unmarshal([]byte(l), &s); err != nil {
			t.Fatal(err)
		}
		if s.Table == api.TableHTTPSummary {
			got = append(got, s)
		}
	}
	return got
}

// TestReplicasMergeExactly: one row per workload, its count the sum and
// its latency sketch the merge of both nodes' (the same quantiles as one
// sketch of every request); with ByNode one row per node, named.
func TestReplicasMergeExactly(t *testing.T) {
	var out bytes.Buffer
	v := New(&bytes.Buffer{}, Options{Output: "json", Window: 10 * time.Second, Now: fixedNow})
	_ = play(t, v, &out, replicaFeed(t))
	got := summaries(t, out.Bytes())
	all := stats.NewSketch()
	for _, n := range []int{3, 2} {
		for i := range n {
			all.Add(float64(1000 * (i + 1))) // as statsLine observes
		}
	}
	q := all.Quantiles(0.5, 0.9, 0.99)
	if len(got) != 1 || got[0].Service != "shop/web" || got[0].Count != 5 || got[0].Node != "" ||
		got[0].LatencyP50 != int64(q[0]) || got[0].LatencyP99 != int64(q[2]) {
		t.Fatalf("summaries = %+v; want one shop/web row of 5 requests, p50 %v p99 %v", got, q[0], q[2])
	}

	out.Reset()
	v = New(&bytes.Buffer{}, Options{Output: "json", Window: 10 * time.Second, ByNode: true, Now: fixedNow})
	_ = play(t, v, &out, replicaFeed(t))
	got = summaries(t, out.Bytes())
	counts := map[string]uint64{}
	for _, s := range got {
		counts[s.Service+"@"+s.Node] = s.Count
	}
	if len(got) != 2 || counts["shop/web@n1"] != 3 || counts["shop/web@n2"] != 2 {
		t.Errorf("by node: %v, want shop/web@n1 3 and shop/web@n2 2", counts)
	}

	out.Reset()
	v = New(&bytes.Buffer{}, Options{Output: "table", Window: 10 * time.Second, ByNode: true, Now: fixedNow})
	_ = play(t, v, &out, replicaFeed(t))
	for _, want := range []string{"NODE", "shop/web   n1 ", "shop/web   n2 "} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, out.String())
		}
	}
}
