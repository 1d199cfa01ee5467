package traceview

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/kubectl-pixie/kubectl-pixie/probes/api"
)

// Across nodes, the footer names the worst node (the largest share lost)
// with its loss, CPU and RSS; -o json gives every node's probe_stats, then
// the merged one naming the worst node.
func TestViewWorstNode(t *testing.T) {
	feed := func(emit func(string, []byte)) {
		emit("n1", []byte(`{"table":"probe_ready","v":1,"seq":1,"probe":"trace"}`))
		emit("n2", []byte(`{"table":"probe_ready","v":1,"seq":1,"probe":"trace"}`))
		emit("n1", statsLine(t, "shop/web", 3, 200))
		emit("n1", []byte(`{"table":"probe_stats","v":1,"seq":3,"probe":"trace","window_ns":10000000000,"events_captured":1000,"events_lost":0,"user_cpu_ns":300000000,"peak_rss_bytes":31457280,"records":3,"final":true}`))
		emit("n2", []byte(`{"table":"probe_stats","v":1,"seq":3,"probe":"trace","window_ns":10000000000,"events_captured":900,"events_lost":100,"user_cpu_ns":100000000,"peak_rss_bytes":20971520,"records":2,"final":true}`))
	}
	var out, errOut bytes.Buffer
	v := New(&errOut, Options{Output: "table", Window: 10 * time.Second, NodesTotal: 2, Now: fixedNow})
	if err := play(t, v, &out, feed); err != nil {
		t.Fatal(err)
	}
	if want := "worst node n2: lost 100 events (10.0%) · probe CPU 1.0% · probe RSS 20 MiB"; !strings.Contains(out.String(), want) {
		t.Errorf("table lacks %q:\n%s", want, out.String())
	}

	out.Reset()
	v = New(&errOut, Options{Output: "json", Window: 10 * time.Second, NodesTotal: 2, Now: fixedNow})
	if err := play(t, v, &out, feed); err != nil {
		t.Fatal(err)
	}
	var stats []api.ProbeStats
	for _, l := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		if strings.Contains(l, `"table":"probe_stats"`) {
			var s api.ProbeStats
			if err := json.Unmarshal([]byte(l), &s); err != nil {
				t.Fatal(err)
			}
			stats = append(stats, s)
		}
	}
	if len(stats) != 3 || stats[0].Node != "n1" || stats[1].Node != "n2" || stats[1].EventsLost != 100 ||
		stats[2].Node != "" || stats[2].WorstNode != "n2" || stats[2].EventsLost != 100 || stats[2].EventsCaptured != 1900 {
		t.Errorf("probe_stats records %+v: want n1's, n2's, then the merged one naming n2", stats)
	}
}
