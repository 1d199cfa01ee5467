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

// TestLocalPeersNamed: with --local the agent sends listening_ports at the
// end; a client row's server on a loopback address is then named by its
// process, and rows to two addresses of one process merge; another host's
// address stays, even on a port a local process listens on.
func TestLocalPeersNamed(t *testing.T) {
	agg := stats.NewAggregator(stats.Config{})
	for _, o := range []stats.Observation{
		{Service: "app", Role: "client", Method: "SELECT", Protocol: "pgsql", Class: "OK", Peer: "127.0.0.1:5432", LatencyNs: 1},
		{Service: "app", Role: "client", Method: "SELECT", Protocol: "pgsql", Class: "OK", Peer: "[::1]:5432", LatencyNs: 1},
		{Service: "app", Role: "client", Method: "GET", Path: "/x", Status: 200, Peer: "192.0.2.1:5432", LatencyNs: 1},
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
			emit("", []byte(`{"table":"listening_ports","addr":"0.0.0.0","port":5432,"pid":812,"comm":"postgres"}`))
		})
		got := out.String()
		if output == "table" {
			for _, want := range []string{"-> postgres (pid 812) pgsql SELECT", "-> 192.0.2.1:5432 GET /x"} {
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
		if len(peers) != 2 || peers["postgres (pid 812)"] != 2 || peers["192.0.2.1:5432"] != 1 {
			t.Errorf("summaries by peer %v, want postgres (pid 812) 2 and 192.0.2.1:5432 1", peers)
		}
		if strings.Contains(got, "listening_ports") {
			t.Errorf("-o json passed the listening_ports through:\n%s", got)
		}
	}
}
