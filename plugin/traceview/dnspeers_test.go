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

// TestDNSPeersNamed: a client row whose server address a traced DNS
// answer named shows that name, before a local process's; a peer the
// cluster already named keeps its name; others stay addresses.
func TestDNSPeersNamed(t *testing.T) {
	agg := stats.NewAggregator(stats.Config{})
	for _, o := range []stats.Observation{
		{Service: "app", Role: "client", Method: "GET", Path: "/a", Status: 200, Peer: "127.0.0.5:8080", PeerDNS: "shop.pixie.test", LatencyNs: 1},
		{Service: "app", Role: "client", Method: "GET", Path: "/a", Status: 200, Peer: "127.0.0.6:8080", PeerDNS: "shop.pixie.test", LatencyNs: 1},
		{Service: "app", Role: "client", Method: "GET", Path: "/b", Status: 200, Peer: "shop/api", PeerDNS: "api.shop.svc.cluster.local", LatencyNs: 1},
		{Service: "app", Role: "client", Method: "GET", Path: "/c", Status: 200, Peer: "192.0.2.1:80", LatencyNs: 1},
	} {
		agg.Add(o)
	}
	line, _ := json.Marshal(api.HTTPStats{Header: api.Header{Table: api.TableHTTPStats}, IntervalNs: 1e9, Rows: agg.Drain()})
	for _, output := range []string{"table", "json"} {
		var out bytes.Buffer
		v := New(&bytes.Buffer{}, Options{Output: output, Window: 10 * time.Second, Now: fixedNow})
		_ = play(t, v, &out, func(emit func(string, []byte)) {
			emit("", []byte(`{"table":"probe_ready","v":1,"probe":"trace"}`))
			emit("", line)
			emit("", []byte(`{"table":"listening_ports","addr":"127.0.0.5","port":8080,"pid":812,"comm":"nginx"}`))
		})
		got := out.String()
		if output == "table" {
			for _, want := range []string{"-> shop.pixie.test GET /a", "-> shop/api GET /b", "-> 192.0.2.1:80 GET /c"} {
				if !strings.Contains(got, want) {
					t.Errorf("table lacks %q:\n%s", want, got)
				}
			}
			continue
		}
		peers := map[string]uint64{}
		for _, s := range summaries(t, out.Bytes()) {
			peers[s.Peer] += s.Count
		}
		if len(peers) != 3 || peers["shop.pixie.test"] != 2 || peers["shop/api"] != 1 || peers["192.0.2.1:80"] != 1 {
			t.Errorf("summaries by peer %v", peers)
		}
	}
}
