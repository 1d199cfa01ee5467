package mapview

import (
	"encoding/json"
	"io"
	"testing"
	"time"

	"github.com/kubectl-pixie/kubectl-pixie/plugin/traceview"
	"github.com/kubectl-pixie/kubectl-pixie/probes/api"
	"github.com/kubectl-pixie/kubectl-pixie/probes/api/stats"
)

// mapRun is a finished 10s map of web calling api (120 requests of ms
// each) and cache (150 of 1ms), the processes with PIDs of their run.
func mapRun(t *testing.T, pid string, apiMs float64) *View {
	t.Helper()
	lat := func(ms float64, n int) []float64 {
		out := make([]float64, n)
		for i := range out {
			out[i] = ms * 1e6 * (1 + float64(i%10)/1000)
		}
		return out
	}
	rows := []stats.Endpoint{
		row("api (pid "+pid+")", "server", "web (pid 1"+pid+")", "", 120, 0, lat(apiMs, 120)...),
		row("cache (pid 2"+pid+")", "server", "web (pid 1"+pid+")", "redis", 150, 0, lat(1, 150)...),
	}
	b, err := json.Marshal(api.HTTPStats{Header: api.Header{Table: api.TableHTTPStats, V: 1}, IntervalNs: 1e9, Rows: rows})
	if err != nil {
		t.Fatal(err)
	}
	v := New(io.Discard, Options{Output: OutputTable, Window: 10 * time.Second}, nil)
	v.Line("", []byte(`{"table":"probe_ready","v":1,"probe":"trace"}`))
	v.Line("", b)
	v.Line("", []byte(`{"table":"probe_stats","v":1,"probe":"trace","window_ns":10000000000,"final":true}`))
	return v
}

// Edges match across runs by name without PIDs; the slower one is marked.
func TestDiffRows(t *testing.T) {
	base, baseSecs := mapRun(t, "7", 2).DiffRows()
	next, newSecs := mapRun(t, "8", 30).DiffRows()
	d := traceview.CompareRows(base, next, baseSecs, newSecs, traceview.DefaultThresholds)
	got := map[string][]string{}
	for _, r := range d.Rows {
		got[r.Service+" "+r.Endpoint] = r.Marked
	}
	if len(got) != 2 || len(got["web -> api http"]) != 2 || got["web -> cache redis"] != nil || baseSecs != 10 {
		t.Errorf("rows %v over %vs, want web -> api http marked p50 and p99, web -> cache redis not", got, baseSecs)
	}
}
