package traceview

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/kubectl-pixie/kubectl-pixie/plugin/render"
	"github.com/kubectl-pixie/kubectl-pixie/probes/api"
	"github.com/kubectl-pixie/kubectl-pixie/probes/api/stats"
)

// A refiltered replay counts the kept requests of each node, also those
// after a node's last stats record (a cut recording), and leaves out a
// request without its observation, saying so once.
func TestRefilterCountsRequests(t *testing.T) {
	f := &api.TraceFilter{MinLatencyNs: 100}
	if err := f.Compile(); err != nil {
		t.Fatal(err)
	}
	var errOut, out bytes.Buffer
	v := New(&errOut, Options{Output: "json", Now: fixedNow, Refilter: f, ByNode: true,
		Palette: render.PaletteFor(&out, "never"), ErrPalette: render.PaletteFor(&errOut, "never")})
	event := func(latency int64, status int) []byte {
		o := stats.Observation{Service: "web", Role: "server", Method: "GET", Path: "/a", Status: status, LatencyNs: latency}
		ev := api.HTTPEvent{Header: api.Header{Table: api.TableHTTPEvents, Obs: &o}, ReqPath: "/a", RespStatus: status}
		return ev.AppendJSON(nil)
	}
	err := play(t, v, &out, func(emit func(string, []byte)) {
		emit("n1", []byte(`{"table":"probe_ready","probe":"trace"}`))
		emit("n1", event(500, 200))
		emit("n1", event(50, 200)) // too fast
		emit("n1", statsLine(t, "web", 7, 200))
		emit("n2", []byte(`{"table":"probe_ready","probe":"trace"}`))
		emit("n2", event(900, 503))
		emit("n2", []byte(`{"table":"http_events","req_path":"/a","resp_status":200}`)) // no observation
	})
	if err != nil {
		t.Fatal(err)
	}
	var rows []string
	events := 0
	for _, l := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		var s api.HTTPSummary
		_ = json.Unmarshal([]byte(l), &s)
		switch s.Table {
		case api.TableHTTPEvents:
			events++
		case api.TableHTTPSummary:
			rows = append(rows, s.Node+" "+s.StatusClass+" "+string(rune('0'+s.Count)))
		}
	}
	if events != 2 || strings.Join(rows, ",") != "n1 2xx 1,n2 5xx 1" {
		t.Errorf("%d events, rows %q: want 2 events, rows n1 2xx 1 and n2 5xx 1\n%s", events, rows, out.String())
	}
	if n := strings.Count(errOut.String(), "without its observation was left out"); n != 1 {
		t.Errorf("%d warnings about the request without an observation, want 1:\n%s", n, errOut.String())
	}
}
