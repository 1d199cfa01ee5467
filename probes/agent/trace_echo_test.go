//go:build linux

package agent

import (
	"bufio"
	"bytes"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/kubectl-pixie/kubectl-pixie/plugin/driver"
	"github.com/kubectl-pixie/kubectl-pixie/plugin/traceview"
	"github.com/kubectl-pixie/kubectl-pixie/probes/api"
	"github.com/kubectl-pixie/kubectl-pixie/probes/api/stats"
	"github.com/kubectl-pixie/kubectl-pixie/probes/conn"
	"github.com/kubectl-pixie/kubectl-pixie/probes/protocols"
	"github.com/kubectl-pixie/kubectl-pixie/probes/socktrace"
)

// echoEvent is the toy protocol's record: one "ECHO text" line and the
// line that answered it.
type echoEvent struct {
	api.Header
	api.ConnColumns
	Text      string `json:"text"`
	Reply     string `json:"reply"`
	ReqBytes  int64  `json:"req_bytes"`
	RespBytes int64  `json:"resp_bytes"`
}

func (*echoEvent) TableName() string { return "echo_events" }

// echoProtocol is a line-based echo protocol: the client sends
// "ECHO <text>\n", the server answers "<text>\n" ("ERR <why>\n" on error).
type echoProtocol struct{}

func (echoProtocol) Name() string { return "echo" }

func (echoProtocol) Infer(data []byte, dir conn.Dir, _ uint8) conn.Inference {
	if !bytes.HasPrefix(data, []byte("ECHO ")) {
		return conn.Inference{}
	}
	role := conn.RoleServer
	if dir == conn.Egress {
		role = conn.RoleClient
	}
	return conn.Inference{Conf: conn.High, Role: role}
}

func (echoProtocol) NewParser(env *conn.Env) conn.Parser { return &echoParser{env: env} }

func (echoProtocol) Observe(rec api.Record) (stats.Observation, bool) {
	ev, ok := rec.(*echoEvent)
	if !ok {
		return stats.Observation{}, false
	}
	class := "OK"
	if strings.HasPrefix(ev.Reply, "ERR") {
		class = "ERR"
	}
	return stats.Observation{Protocol: "echo", Method: "ECHO", Path: ev.Text, Class: class, ReqBytes: ev.ReqBytes, RespBytes: ev.RespBytes}, true
}

type echoParser struct {
	env     *conn.Env
	partial [2][]byte // per direction, the line so far
	pending []echoEvent
	starts  []uint64
}

func (p *echoParser) Feed(c *conn.Chunk) {
	if c.Gap > 0 || c.EOF {
		return
	}
	req := c.Dir == conn.Egress == (p.env.Role == conn.RoleClient)
	buf := append(p.partial[c.Dir-1], c.Data...)
	for {
		i := bytes.IndexByte(buf, '\n')
		if i < 0 {
			break
		}
		line := string(buf[:i])
		buf = buf[i+1:]
		if req {
			p.pending = append(p.pending, echoEvent{Text: strings.TrimPrefix(line, "ECHO "), ReqBytes: int64(i + 1)})
			p.starts = append(p.starts, c.WireNs())
			continue
		}
		if len(p.pending) == 0 {
			p.env.Stats.UnmatchedResponses++
			continue
		}
		ev := p.pending[0]
		ev.Reply, ev.RespBytes = line, int64(i+1)
		start := p.starts[0]
		p.pending, p.starts = p.pending[1:], p.starts[1:]
		p.env.Out.Emit(&ev, start, c.WireNs())
	}
	p.partial[c.Dir-1] = append([]byte(nil), buf...)
}

func (p *echoParser) End(uint64, conn.EndReason) {
	p.env.Stats.UnmatchedRequests += uint64(len(p.pending))
}

// A protocol defined outside the tree plugs in with one registry entry
// (here, appended to the list the pipeline gets): its records are
// labelled, aggregated and emitted by the agent, and the plugin shows them
// in the table, passes them through with -o json and counts them in the
// footer. The bytes are a recorded client session: three echoes, one
// refused.
func TestToyProtocolPlugsIn(t *testing.T) {
	session := []struct {
		dir  conn.Dir
		data string
	}{
		{conn.Egress, "ECHO hello\n"}, {conn.Ingress, "hello\n"},
		{conn.Egress, "ECHO hel"}, {conn.Egress, "lo\nECHO bye\n"}, {conn.Ingress, "hello\nbye\n"},
		{conn.Egress, "ECHO \n"}, {conn.Ingress, "ERR empty\n"},
	}
	ndjson := func(emitEvents bool) []byte {
		var buf bytes.Buffer
		out := NewEmitter(&buf)
		cfg := api.TraceConfig{EmitEvents: emitEvents, Comms: []string{"toy"}}
		traceDefaults(&cfg)
		p := newPipeline(&cfg, api.DataAccessFull, out, append(protocols.All(), echoProtocol{}))
		id := conn.ID{TGID: 42, FD: 7, Gen: 1}
		now := uint64(1_000_000)
		p.handle(&conn.Event{Kind: conn.KindOpen, ID: id, PID: 42, Comm: "toy", StartNs: now, EndNs: now + 10, Role: conn.RoleClient,
			Transport: conn.TransportTCP, Local: netip.MustParseAddrPort("10.0.0.1:40000"), Remote: netip.MustParseAddrPort("10.0.0.2:7")})
		var pos [2]uint64
		for _, s := range session {
			now += 1000
			p.handle(&conn.Event{Kind: conn.KindData, ID: id, PID: 42, Comm: "toy", StartNs: now, EndNs: now + 10,
				Dir: s.dir, Pos: pos[s.dir-1], Size: uint32(len(s.data)), Data: []byte(s.data)})
			pos[s.dir-1] += uint64(len(s.data))
		}
		p.handle(&conn.Event{Kind: conn.KindClose, ID: id, StartNs: now + 100, EndNs: now + 110})
		ready := &api.ProbeReady{Header: api.Header{Table: api.TableProbeReady}, Probe: "trace", Targets: 1}
		out.Emit(&ready.Header, ready)
		p.emitStats(true, func(cs conn.Stats, records uint64) *api.ProbeStats {
			return probeStats(socktrace.Stats{}, cs, records, 2*time.Second, time.Millisecond, true)
		})
		return buf.Bytes()
	}
	show := func(output string, lines []byte) string {
		var out, errOut bytes.Buffer
		now := time.Unix(1_700_000_000, 0)
		clock := func() time.Time { return now }
		v := traceview.New(&errOut, traceview.Options{Output: output, Window: 2 * time.Second, Now: clock})
		screen := driver.NewScreen(v, driver.Options{Out: &out, ErrOut: &errOut, JSON: output == "json", Now: clock})
		for sc := bufio.NewScanner(bytes.NewReader(lines)); sc.Scan(); {
			screen.Line("", sc.Bytes())
		}
		now = now.Add(2 * time.Second)
		if err := screen.End(nil); err != nil {
			t.Errorf("%s: %v", output, err)
		}
		if errOut.Len() > 0 {
			t.Errorf("%s: stderr %q", output, errOut.String())
		}
		return out.String()
	}

	table := show("wide", ndjson(false))
	for _, want := range []string{"echo", "ECHO hello", "ECHO bye", "10.0.0.2:7", "captured 4 requests", "lost 0"} {
		if !strings.Contains(table, want) {
			t.Errorf("table lacks %q:\n%s", want, table)
		}
	}
	if !strings.Contains(table, "ERR") {
		t.Errorf("table lacks the refused echo's class:\n%s", table)
	}

	js := show("json", ndjson(true))
	if n := strings.Count(js, `{"table":"echo_events"`); n != 4 {
		t.Errorf("-o json passed %d echo_events, want 4:\n%s", n, js)
	}
	for _, want := range []string{`"comm":"toy"`, `"trace_role":"client"`, `"remote_port":7`, `"text":"bye","reply":"bye"`,
		`"table":"http_summary"`, `"protocol":"echo"`, `"req_method":"ECHO","req_path":"hello"`, `"records":4`,
		`"status_class":"ERR","count":1,"errors":1`} {
		if !strings.Contains(js, want) {
			t.Errorf("-o json lacks %s:\n%s", want, js)
		}
	}
}
