package mapview

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/kubectl-pixie/kubectl-pixie/plugin/driver"
	"github.com/kubectl-pixie/kubectl-pixie/plugin/render"
	"github.com/kubectl-pixie/kubectl-pixie/probes/api"
	"github.com/kubectl-pixie/kubectl-pixie/probes/api/stats"
)

// selectEdges: four edges whose order differs by every key.
func selectEdges() []Edge {
	mk := func(from string, req, errs, bytes uint64, lat ...float64) Edge {
		s := stats.NewSketch()
		for _, l := range lat {
			s.Add(l)
		}
		return Edge{Requestor: from, Responder: "api", Protocol: "http", Requests: req, Errors: errs, BytesSent: bytes, Latency: s}
	}
	return []Edge{ // by requests, as Edges returns them
		mk("a", 40, 0, 100, 1e6, 1e6, 1e6, 2e6),
		mk("b", 30, 3, 50, 5e6, 5e6, 5e6, 5e6),
		mk("c", 20, 10, 9000, 1e6, 1e6, 80e6, 90e6),
		mk("d", 10, 0, 10, 1e6, 30e6, 30e6, 60e6),
	}
}

// --sort-by orders edges by the key, largest first (ties keep the order
// by requests), and --top keeps the first N.
func TestSelect(t *testing.T) {
	for _, c := range []struct {
		by   string
		top  int
		want string
	}{
		{"", 0, "abcd"},
		{"req", 2, "ab"},
		{"rps", 0, "abcd"},
		{"err", 0, "cbad"}, // 50%, 10%, then 0% in request order
		{"p50", 0, "dbac"}, // a and c tie at 1ms
		{"p99", 1, "c"},
		{"max", 0, "cdba"},
		{"bytes", 3, "cab"},
		{"", 1, "a"},
		{"err", 10, "cbad"},
	} {
		var got string
		for _, e := range Select(selectEdges(), c.by, c.top) {
			got += e.Requestor
		}
		if got != c.want {
			t.Errorf("Select(--sort-by %q, --top %d) = %s, want %s", c.by, c.top, got, c.want)
		}
	}
	if in := selectEdges(); Select(in, "err", 0)[0].Requestor != "c" || in[0].Requestor != "a" {
		t.Error("Select sorted its argument in place")
	}
}

// refilterLines are two nodes' records of a recorded --local map: every
// request with its observation, and stats rows (deliberately not what the
// requests add up to: a refiltered replay must count the requests).
func refilterLines(t *testing.T) map[string][][]byte {
	t.Helper()
	event := func(from string, status int, ms int64) []byte {
		o := stats.Observation{Service: "srv (pid 2)", Role: "server", Peer: from, Method: "GET", Path: "/x", Status: status, LatencyNs: ms * 1e6, RespBytes: 10}
		ev := api.HTTPEvent{Header: api.Header{Table: api.TableHTTPEvents, Obs: &o}, ReqMethod: "GET", ReqPath: "/x", RespStatus: status}
		return ev.AppendJSON(nil)
	}
	statsLine := func(from string, n uint64) []byte {
		b, _ := json.Marshal(api.HTTPStats{Header: api.Header{Table: api.TableHTTPStats}, Rows: []stats.Endpoint{row("srv (pid 2)", "server", from, "", n, 0, 1e6)}})
		return b
	}
	ready := []byte(`{"table":"probe_ready","v":1,"probe":"trace"}`)
	return map[string][][]byte{
		"n1": {ready, event("cli (pid 1)", 200, 5), event("cli (pid 1)", 503, 2), statsLine("cli (pid 1)", 99), event("cli (pid 1)", 200, 300)},
		"n2": {ready, event("cli (pid 3)", 200, 400), event("cli (pid 3)", 404, 1), statsLine("cli (pid 3)", 77),
			[]byte(`{"table":"http_events","req_path":"/x","resp_status":200}`)}, // no observation
	}
}

// runView plays lines (node by node) through a map view writing -o json
// and returns its edges as "requestor req/errors" and its stderr.
func runView(t *testing.T, o Options, lines map[string][][]byte) (string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	o.Output, o.Window = OutputJSON, 10*time.Second
	v := New(&errOut, o, render.PaletteFor(&errOut, "never"))
	err := driver.Run(context.Background(), func(_ context.Context, emit func(string, []byte)) error {
		for _, n := range []string{"n1", "n2"} {
			for _, l := range lines[n] {
				emit(n, l)
			}
		}
		return nil
	}, v, driver.Options{Out: &out, JSON: true})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for l := range strings.SplitSeq(strings.TrimSpace(out.String()), "\n") {
		var r Record
		if l != "" && json.Unmarshal([]byte(l), &r) == nil {
			got = append(got, fmt.Sprintf("%s %d/%d", r.RequestorService, r.Requests, r.Errors))
		}
	}
	return strings.Join(got, ", "), errOut.String()
}

// A replay with a filter counts the recorded requests again from their
// observations (the recorded rows are ignored), as the agent would have:
// the edges hold exactly the requests the filter keeps. --sort-by and
// --top then order and cut them; a request without its observation is
// left out, said once.
func TestViewRefilter(t *testing.T) {
	filter := func(f api.TraceFilter) *api.TraceFilter {
		if err := f.Compile(); err != nil {
			t.Fatal(err)
		}
		return &f
	}
	for _, c := range []struct {
		o    Options
		want string
	}{
		{Options{}, "cli (pid 1) 99/0, cli (pid 3) 77/0"}, // not refiltered: the rows as recorded
		{Options{Refilter: filter(api.TraceFilter{MinLatencyNs: 100e6})}, "cli (pid 1) 1/0, cli (pid 3) 1/0"},
		{Options{Refilter: filter(api.TraceFilter{Status: []string{"5xx"}})}, "cli (pid 1) 1/1"},
		{Options{Refilter: filter(api.TraceFilter{Status: []string{"404", "503"}})}, "cli (pid 1) 1/1, cli (pid 3) 1/0"},
		{Options{Refilter: filter(api.TraceFilter{Protocols: []string{"http"}})}, "cli (pid 1) 3/1, cli (pid 3) 2/0"},
		{Options{Refilter: filter(api.TraceFilter{Protocols: []string{"redis"}})}, ""},
		{Options{Refilter: filter(api.TraceFilter{Endpoint: "^GET /x$", MinLatencyNs: 3e6}), SortBy: "p99"}, "cli (pid 3) 1/0, cli (pid 1) 2/0"},
		{Options{Refilter: filter(api.TraceFilter{Protocols: []string{"http"}}), SortBy: "err", Top: 1}, "cli (pid 1) 3/1"},
		{Options{SortBy: "req", Top: 1}, "cli (pid 1) 99/0"},
	} {
		got, errOut := runView(t, c.o, refilterLines(t))
		if got != c.want {
			t.Errorf("%+v: edges %q, want %q", c.o, got, c.want)
		}
		if n := strings.Count(errOut, "without its observation was left out"); c.o.Refilter != nil && n != 1 || c.o.Refilter == nil && n != 0 {
			t.Errorf("%+v: %d warnings about the request without an observation:\n%s", c.o, n, errOut)
		}
	}
}
