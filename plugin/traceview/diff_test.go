package traceview

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kubectl-pixie/kubectl-pixie/plugin/gate"
	"github.com/kubectl-pixie/kubectl-pixie/plugin/internal/golden"
	"github.com/kubectl-pixie/kubectl-pixie/plugin/render"
	"github.com/kubectl-pixie/kubectl-pixie/probes/api"
	"github.com/kubectl-pixie/kubectl-pixie/probes/api/stats"
)

// endpointLoad is n requests of one endpoint: latency ms each, errs of
// them failing.
type endpointLoad struct {
	path    string
	n, errs int
	ms      float64
}

// finishedView is a finished 10s run of the loads.
func finishedView(t *testing.T, loads ...endpointLoad) *View {
	t.Helper()
	agg := stats.NewAggregator(stats.Config{})
	for _, l := range loads {
		for i := range l.n {
			status := 200
			if i < l.errs {
				status = 500
			}
			// 1% spread around l.ms, so quantiles are not one value.
			agg.Add(stats.Observation{Service: "web", Role: "server", Method: "GET", Path: l.path, Status: status,
				LatencyNs: int64(l.ms * 1e6 * (1 + float64(i%10)/1000))})
		}
	}
	b, err := json.Marshal(api.HTTPStats{Header: api.Header{Table: api.TableHTTPStats, V: 1, Seq: 2}, IntervalNs: 1e9, Rows: agg.Drain()})
	if err != nil {
		t.Fatal(err)
	}
	v := New(&bytes.Buffer{}, Options{Output: "table", Window: 10 * time.Second, Now: fixedNow})
	v.Line("", []byte(`{"table":"probe_ready","v":1,"seq":1,"probe":"trace"}`))
	v.Line("", b)
	v.Line("", []byte(`{"table":"probe_stats","v":1,"seq":3,"probe":"trace","window_ns":10000000000,"final":true}`))
	v.Frame(true)
	return v
}

// The marks: a latency change beyond the thresholds, an error share and
// a rate that moved significantly; not a change within the sketch error
// or the floors, not an endpoint with too few requests or in one run.
func TestCompareMarks(t *testing.T) {
	base := finishedView(t,
		endpointLoad{"/slow", 500, 0, 0.3}, endpointLoad{"/same", 500, 0, 0.3}, endpointLoad{"/jitter", 500, 0, 0.3},
		endpointLoad{"/errors", 1000, 5, 1}, endpointLoad{"/busier", 500, 0, 1}, endpointLoad{"/rare", 50, 0, 1},
		endpointLoad{"/gone", 200, 0, 1})
	next := finishedView(t,
		endpointLoad{"/slow", 500, 0, 20.3}, endpointLoad{"/same", 500, 0, 0.301}, endpointLoad{"/jitter", 500, 0, 0.6},
		endpointLoad{"/errors", 1000, 60, 1}, endpointLoad{"/busier", 1000, 0, 1}, endpointLoad{"/rare", 50, 0, 40},
		endpointLoad{"/new", 200, 0, 1})
	d := Compare(base, next, DefaultThresholds)
	got := map[string][]string{}
	for _, r := range d.Rows {
		got[r.Endpoint] = r.Marked
	}
	want := map[string][]string{"GET /slow": {"p50", "p99"}, "GET /errors": {"error_rate"}, "GET /busier": {"rps"}}
	for ep, m := range got {
		if !slices.Equal(m, want[ep]) {
			t.Errorf("%s: marked %v, want %v", ep, m, want[ep])
		}
	}
	if len(got) != 8 {
		t.Errorf("%d rows, want 8 (both runs' endpoints)", len(got))
	}

	var table, js bytes.Buffer
	d.Titles("base.pixie.gz", "new.pixie.gz", 10*time.Second, 10*time.Second)
	if err := d.WriteTable(&table, render.NewPalette(false), 0); err != nil {
		t.Fatal(err)
	}
	if err := d.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	golden.Check(t, "diff-table.txt", table.Bytes())
	golden.Check(t, "diff.ndjson", js.Bytes())

	r, err := gate.Parse(`p99 > +20% && marked =~ p99`, DiffGateSchema)
	if err != nil {
		t.Fatal(err)
	}
	fired, why := r.Check(d.GateSource())
	if !fired || len(why) != 1 || !strings.HasPrefix(why[0], "web GET /slow: p99 ") {
		t.Errorf("gate: %v %q, want /slow only", fired, why)
	}
}
