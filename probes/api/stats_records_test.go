package api

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/kubectl-pixie/kubectl-pixie/probes/api/stats"
	"github.com/kubectl-pixie/kubectl-pixie/probes/api/vocab"
)

func TestHTTPStatsRoundTrip(t *testing.T) {
	a := stats.NewAggregator(stats.Config{})
	for i := range 100 {
		a.Add(stats.Observation{Service: "shop/checkout", Role: vocab.RoleServer, Method: "GET",
			Path: "/api/cart/42", Status: 200, LatencyNs: int64(1e6 * (i + 1)), TimeNs: 1e18})
	}
	a.Add(stats.Observation{Service: "shop/checkout", Role: vocab.RoleServer, Method: "GET",
		Path: "/api/cart/42", Status: 503, LatencyNs: 5e6, TimeNs: 1e18})
	rec := HTTPStats{Header: Header{Table: TableHTTPStats, V: Version, Seq: 3}, Time: 2e18, IntervalNs: 1e9, Rows: a.Drain()}
	b, err := json.Marshal(rec)
	if err != nil {
		t.Fatal(err)
	}
	for _, field := range []string{`"table":"http_stats"`, `"time_":`, `"interval_ns":1000000000`,
		`"req_path":"/api/cart/{id}"`, `"status_class":"5xx"`, `"latency":{"a":0.01`} {
		if !strings.Contains(string(b), field) {
			t.Errorf("record lacks %s: %s", field, b)
		}
	}
	var back HTTPStats
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	plugin := stats.NewAggregator(stats.Config{})
	plugin.Merge(back.Rows)
	rows := plugin.Rows()
	if len(rows) != 2 || rows[0].Count != 100 || rows[0].Latency.Quantile(1) != 100e6 {
		t.Fatalf("merged rows: %+v", rows)
	}

	sum := NewHTTPSummary(rows[0], 2e18, 10e9)
	if sum.Table != TableHTTPSummary || sum.ReqPerSec != 10 || sum.ErrorPct != 0 || sum.LatencyMax != 100e6 {
		t.Fatalf("summary: %+v", sum)
	}
	// p50 is the 50th sample (rank floor(0.5*99) = 49 -> 50 ms) within 1%
	if p := float64(sum.LatencyP50); p < 50e6*0.99 || p > 50e6*1.01 {
		t.Fatalf("p50 %v, want 50ms ±1%%", p)
	}
	if s5 := NewHTTPSummary(rows[1], 2e18, 0); s5.ErrorPct != 100 || s5.ReqPerSec != 0 || s5.Errors != 1 {
		t.Fatalf("5xx summary: %+v", s5)
	}
}
