package render

import (
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/kubectl-pixie/kubectl-pixie/probes/api/stats"
	"github.com/kubectl-pixie/kubectl-pixie/probes/api/vocab"
)

// selectModel holds four endpoints with known counts, errors, latencies
// and sizes, so every order differs from the count order somewhere.
func selectModel() *TraceModel {
	agg := stats.NewAggregator(stats.Config{})
	add := func(method, path string, n, status int, latMs, bytes int64) {
		for range n {
			agg.Add(stats.Observation{Service: "web", Role: vocab.RoleServer, Method: method, Path: path,
				Status: status, LatencyNs: latMs * 1e6, ReqBytes: bytes, TimeNs: t0})
		}
	}
	add("GET", "/home", 50, 200, 1, 10)     // most requests
	add("GET", "/slow", 5, 200, 900, 10)    // slowest
	add("POST", "/api/pay", 20, 200, 5, 10) // half its requests fail
	add("POST", "/api/pay", 20, 500, 5, 10)
	add("GET", "/big", 2, 200, 2, 100_000) // most bytes
	m := NewTraceModel(stats.Config{})
	m.agg.Merge(agg.Drain())
	return m
}

func TestTraceSelect(t *testing.T) {
	for _, c := range []struct {
		name string
		s    TraceSelect
		want []string
	}{
		{"default order", TraceSelect{}, []string{"GET /home", "POST /api/pay", "GET /slow", "GET /big"}},
		{"endpoint", TraceSelect{Endpoint: regexp.MustCompile(`^POST /api/`)}, []string{"POST /api/pay"}},
		{"err", TraceSelect{SortBy: "err", Top: 1}, []string{"POST /api/pay"}},
		{"p99", TraceSelect{SortBy: "p99"}, []string{"GET /slow", "POST /api/pay", "GET /big", "GET /home"}},
		{"max top 2", TraceSelect{SortBy: "max", Top: 2}, []string{"GET /slow", "POST /api/pay"}},
		{"p50", TraceSelect{SortBy: "p50", Top: 1}, []string{"GET /slow"}},
		{"bytes", TraceSelect{SortBy: "bytes", Top: 2}, []string{"GET /big", "GET /home"}},
		{"req", TraceSelect{SortBy: "req", Top: 3}, []string{"GET /home", "POST /api/pay", "GET /slow"}},
		{"rps", TraceSelect{SortBy: "rps", Top: 1}, []string{"GET /home"}},
		{"no match", TraceSelect{Endpoint: regexp.MustCompile(`nothing`)}, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			m := selectModel()
			m.Select = c.s
			// -o json: one summary per endpoint and status class, in order.
			var got []string
			for _, s := range m.Summaries(t0, 1e9) {
				got = append(got, s.ReqMethod+" "+s.ReqPath)
			}
			want := expandPay(c.want)
			if !slices.Equal(got, want) {
				t.Errorf("summaries %q, want %q", got, want)
			}
			// The table: the same endpoints, one line each, in order.
			frame := string(TraceFrame(m.View(TraceView{}), TraceOptions{}))
			var lines []string
			for _, l := range strings.Split(frame, "\n") {
				if f := strings.Fields(l); len(f) > 2 && strings.HasPrefix(f[2], "/") {
					lines = append(lines, f[1]+" "+f[2])
				}
			}
			tableWant := slices.Compact(slices.Clone(want))
			if !slices.Equal(lines, tableWant) {
				t.Errorf("table rows %q, want %q:\n%s", lines, tableWant, frame)
			}
		})
	}
}

// expandPay lists /api/pay twice: its 2xx and its 5xx summary.
func expandPay(eps []string) []string {
	var out []string
	for _, e := range eps {
		out = append(out, e)
		if e == "POST /api/pay" {
			out = append(out, e)
		}
	}
	return out
}
