package render

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/kubectl-pixie/kubectl-pixie/probes/api"
	"github.com/kubectl-pixie/kubectl-pixie/probes/api/stats"
	"github.com/kubectl-pixie/kubectl-pixie/probes/api/vocab"
)

// Two agents send deltas and cumulative footers as NDJSON; the model
// renders what one aggregator over all traffic would.
func TestTraceModelMergesNodes(t *testing.T) {
	var wire bytes.Buffer
	enc := json.NewEncoder(&wire)
	for n, node := range []string{"worker-1", "worker-2"} {
		agent := stats.NewAggregator(stats.Config{})
		for tick := range 3 {
			for i := range 10 * (n + 1) {
				agent.Add(stats.Observation{Service: "shop/checkout", Role: vocab.RoleServer, Method: "GET",
					Path: "/api/cart/7", Status: 200 + 300*(i%10/9), LatencyNs: int64(1e6 * (i + 1)), TimeNs: t0})
			}
			if err := enc.Encode(api.HTTPStats{Header: api.Header{Table: api.TableHTTPStats, Node: node}, IntervalNs: 1e9,
				Rows: agent.Drain()}); err != nil {
				t.Fatal(err)
			}
			if err := enc.Encode(api.ProbeStats{Header: api.Header{Table: api.TableProbeStats, Node: node},
				WindowNs: int64(tick+1) * 1e9, Records: uint64(10 * (n + 1) * (tick + 1)), PeakRSSBytes: uint64(20+n) << 20,
				Final: tick == 2}); err != nil {
				t.Fatal(err)
			}
		}
	}

	m := NewTraceModel(stats.Config{})
	dec := json.NewDecoder(&wire)
	for dec.More() {
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			t.Fatal(err)
		}
		var h api.Header
		_ = json.Unmarshal(raw, &h)
		switch h.Table {
		case api.TableHTTPStats:
			var r api.HTTPStats
			if err := json.Unmarshal(raw, &r); err != nil {
				t.Fatal(err)
			}
			m.AddHTTPStats(r)
		case api.TableProbeStats:
			var s api.ProbeStats
			if err := json.Unmarshal(raw, &s); err != nil {
				t.Fatal(err)
			}
			m.AddProbeStats(s)
		}
	}

	rows := m.Rows()
	if len(rows) != 2 || rows[0].Count != 81 || rows[1].Count != 9 || rows[1].StatusClass != "5xx" {
		t.Fatalf("rows: %+v", rows)
	}
	s, nodes, ok := m.ProbeStats()
	if !ok || nodes != 2 || s.Records != 30+60 || s.PeakRSSBytes != 21<<20 || s.WindowNs != 3e9 || !s.Final {
		t.Fatalf("probe stats: %+v nodes=%d", s, nodes)
	}
	v := m.View(TraceView{Protocol: "HTTP", Elapsed: 3 * time.Second, Window: 3 * time.Second, NodesReady: 2, NodesTotal: 2})
	out := string(TraceFrame(v, TraceOptions{}))
	for _, want := range []string{"GET /api/cart/{id}", "2xx,5xx", "90", "30.0", "10.0", "captured 90 requests"} {
		if !bytes.Contains([]byte(out), []byte(want)) {
			t.Errorf("frame lacks %q:\n%s", want, out)
		}
	}
	sums := m.Summaries(t0, 3e9)
	if len(sums) != 2 || sums[0].Count != 81 || sums[0].ReqPerSec != 27 || sums[1].ErrorPct != 100 ||
		sums[0].Table != api.TableHTTPSummary {
		t.Fatalf("summaries: %+v", sums)
	}
}
