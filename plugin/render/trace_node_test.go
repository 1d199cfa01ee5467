package render

import (
	"bytes"
	"testing"
	"time"

	"github.com/kubectl-pixie/kubectl-pixie/probes/api/stats"
	"github.com/kubectl-pixie/kubectl-pixie/probes/api/vocab"
)

// TestTraceTableByNode: rows that carry a node (--group-by workload,node)
// add a NODE column after SERVICE, in the table and -o wide; rows without
// one (the default) show none (the goldens of TestTraceTable).
func TestTraceTableByNode(t *testing.T) {
	v := checkoutView(t)
	for i := range v.Rows {
		v.Rows[i].Node = []string{"worker-1", "worker-2"}[i%2]
	}
	for name, o := range map[string]TraceOptions{"trace_bynode": {}, "trace_bynode_wide": {Wide: true}} {
		plain, _ := renderBoth(t, name, v, o)
		for _, want := range []string{"SERVICE         NODE       ", "shop/checkout   worker-1", "shop/checkout   worker-2"} {
			if !bytes.Contains(plain, []byte(want)) {
				t.Errorf("%s lacks %q:\n%s", name, want, plain)
			}
		}
	}
	if plain, _ := renderBoth(t, "trace", checkoutView(t), TraceOptions{}); bytes.Contains(plain, []byte("NODE")) {
		t.Errorf("a NODE column without --group-by node:\n%s", plain)
	}
}

// TestTraceServerCallers: a server row that knows its caller (cluster
// mode) shows it in ENDPOINT, "<- shop/frontend GET /cart"; -o wide in PEER.
func TestTraceServerCallers(t *testing.T) {
	s := stats.NewSketch()
	s.Add(2e6)
	v := TraceView{Protocol: "HTTP", Elapsed: time.Second, Rows: []stats.Endpoint{{Key: stats.Key{Service: "shop/api",
		Role: vocab.RoleServer, Method: "GET", Path: "/cart", Peer: "shop/frontend", StatusClass: "2xx"}, Count: 4, Latency: s}}}
	if got := TraceFrame(v, TraceOptions{}); !bytes.Contains(got, []byte("shop/api   <- shop/frontend GET /cart")) {
		t.Errorf("no caller in the table:\n%s", got)
	}
	if got := TraceFrame(v, TraceOptions{Wide: true}); !bytes.Contains(got, []byte("server   shop/frontend   GET /cart")) {
		t.Errorf("no caller in PEER:\n%s", got)
	}
}
