//go:build linux

package agent

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kubectl-pixie/kubectl-pixie/probes/api"
	"github.com/kubectl-pixie/kubectl-pixie/probes/conn"
	"github.com/kubectl-pixie/kubectl-pixie/probes/protocols"
	"github.com/kubectl-pixie/kubectl-pixie/probes/socktrace"
)

// serveHTTP feeds a server connection of one request per path through a
// pipeline with filter f, answering each with its status, and returns the
// NDJSON the agent wrote (events and the final stats).
func serveHTTP(t *testing.T, f *api.TraceFilter, exchanges map[string]int, edit ...func(*api.TraceConfig)) string {
	t.Helper()
	if err := f.Compile(); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	out := NewEmitter(&buf)
	cfg := api.TraceConfig{EmitEvents: true, Comms: []string{"web"}, Filter: f}
	for _, e := range edit {
		e(&cfg)
	}
	traceDefaults(&cfg)
	p := newPipeline(&cfg, api.DataAccessRestricted, out, protocols.All())
	id := conn.ID{TGID: 42, FD: 7, Gen: 1}
	now := uint64(1_000_000)
	p.handle(&conn.Event{Kind: conn.KindOpen, ID: id, PID: 42, Comm: "web", StartNs: now, EndNs: now + 10, Role: conn.RoleServer,
		Transport: conn.TransportTCP, Local: netip.MustParseAddrPort("10.0.0.1:80"), Remote: netip.MustParseAddrPort("10.0.0.2:40000")})
	var pos [2]uint64
	send := func(dir conn.Dir, data string) {
		now += 1000
		p.handle(&conn.Event{Kind: conn.KindData, ID: id, PID: 42, Comm: "web", StartNs: now, EndNs: now + 10,
			Dir: dir, Pos: pos[dir-1], Size: uint32(len(data)), Data: []byte(data)})
		pos[dir-1] += uint64(len(data))
	}
	for _, path := range []string{"/ok", "/missing", "/boom"} {
		send(conn.Ingress, "GET "+path+" HTTP/1.1\r\nHost: x\r\n\r\n")
		send(conn.Egress, fmt.Sprintf("HTTP/1.1 %d X\r\nContent-Length: 0\r\n\r\n", exchanges[path]))
	}
	p.handle(&conn.Event{Kind: conn.KindClose, ID: id, StartNs: now + 100, EndNs: now + 110})
	p.emitStats(true, func(cs conn.Stats, records uint64) *api.ProbeStats {
		return probeStats(socktrace.Stats{}, cs, records, time.Second, time.Millisecond, true)
	})
	return buf.String()
}

// The agent drops what the filter rejects before aggregating and emitting:
// the per-request records and the stats rows hold exactly the rest.
func TestPipelineFilter(t *testing.T) {
	statuses := map[string]int{"/ok": 200, "/missing": 404, "/boom": 500}
	for _, c := range []struct {
		name   string
		f      *api.TraceFilter
		kept   []string
		absent []string
	}{
		{"none", nil, []string{"/ok", "/missing", "/boom"}, nil},
		{"5xx", &api.TraceFilter{Status: []string{"5xx"}}, []string{"/boom"}, []string{"/ok", "/missing"}},
		{"code 404", &api.TraceFilter{Status: []string{"404"}}, []string{"/missing"}, []string{"/ok", "/boom"}},
		{"error or 4xx", &api.TraceFilter{Status: []string{"error", "4xx"}}, []string{"/missing", "/boom"}, []string{"/ok"}},
		{"endpoint", &api.TraceFilter{Endpoint: "^GET /(ok|boom)$"}, []string{"/ok", "/boom"}, []string{"/missing"}},
		{"protocol redis", &api.TraceFilter{Protocols: []string{"redis"}}, nil, []string{"/ok", "/missing", "/boom"}},
		{"protocol http", &api.TraceFilter{Protocols: []string{"http", "grpc"}}, []string{"/ok", "/missing", "/boom"}, nil},
		{"slower than all", &api.TraceFilter{MinLatencyNs: int64(time.Second)}, nil, []string{"/ok", "/missing", "/boom"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			js := serveHTTP(t, c.f, statuses)
			if n := strings.Count(js, `{"table":"http_events"`); n != len(c.kept) {
				t.Errorf("%d http_events, want %d:\n%s", n, len(c.kept), js)
			}
			for _, p := range c.kept {
				if strings.Count(js, `"req_path":"`+p+`"`) != 2 { // the event and the stats row
					t.Errorf("want %s in one event and one stats row:\n%s", p, js)
				}
			}
			for _, p := range c.absent {
				if strings.Contains(js, `"req_path":"`+p+`"`) {
					t.Errorf("%s should be filtered out:\n%s", p, js)
				}
			}
		})
	}
}

// TestPipelineServerPeers: with ServerPeers (cluster mode) a server's
// stats rows keep the caller's IP, without its ephemeral port, for the
// plugin to name; without, server rows have no peer.
func TestPipelineServerPeers(t *testing.T) {
	statuses := map[string]int{"/ok": 200, "/missing": 404, "/boom": 500}
	js := serveHTTP(t, nil, statuses, func(c *api.TraceConfig) { c.ServerPeers = true })
	if n := strings.Count(js, `"peer":"10.0.0.2"`); n != 3 {
		t.Errorf("%d stats rows with the caller's address, want 3:\n%s", n, js)
	}
	if js := serveHTTP(t, nil, statuses); strings.Contains(js, `"peer":`) {
		t.Errorf("a server row with a peer without ServerPeers:\n%s", js)
	}
}

// A filter the agent cannot honour is refused before anything is traced.
func TestTraceRefusesBadFilter(t *testing.T) {
	for _, f := range []api.TraceFilter{{Protocols: []string{"smtp"}}, {Status: []string{"5x x"}}, {Endpoint: "("}, {MinLatencyNs: -1}} {
		var out bytes.Buffer
		err := Trace(t.Context(), api.TraceConfig{PIDs: []uint32{1}, Filter: &f}, NewEmitter(&out))
		var ue *UserError
		if !errors.As(err, &ue) || !strings.HasPrefix(ue.Msg, "filter: ") || out.Len() != 0 {
			t.Errorf("%+v: %v, wrote %q; want a filter user error and no output", f, err, out.String())
		}
	}
}

// TestPipelineEventObs: with EventObs (--record) every request record
// carries the observation the agent counted, so a replay can filter and
// count it again; without, no record carries one.
func TestPipelineEventObs(t *testing.T) {
	statuses := map[string]int{"/ok": 200, "/missing": 404, "/boom": 500}
	js := serveHTTP(t, nil, statuses, func(c *api.TraceConfig) { c.EventObs = true })
	var got []string
	for _, line := range strings.Split(strings.TrimSpace(js), "\n") {
		var h api.Header
		if err := json.Unmarshal([]byte(line), &h); err != nil {
			t.Fatal(err)
		}
		if h.Table != api.TableHTTPEvents {
			continue
		}
		if h.Obs == nil || h.Obs.Role != "server" || h.Obs.LatencyNs <= 0 || h.Obs.TimeNs <= 0 {
			t.Fatalf("event without a whole observation: %s", line)
		}
		got = append(got, fmt.Sprintf("%s %s %s %d", h.Obs.Service, h.Obs.Method, h.Obs.Path, h.Obs.Status))
	}
	if want := []string{"web GET /ok 200", "web GET /missing 404", "web GET /boom 500"}; !slices.Equal(got, want) {
		t.Errorf("observations %q, want %q", got, want)
	}
	if js := serveHTTP(t, nil, statuses); strings.Contains(js, `"obs":`) {
		t.Errorf("observations without EventObs:\n%s", js)
	}
}
