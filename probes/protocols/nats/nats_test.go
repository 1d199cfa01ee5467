package nats

import (
	"encoding/json"
	"net/netip"
	"strings"
	"testing"

	"github.com/kubectl-pixie/kubectl-pixie/probes/api"
	"github.com/kubectl-pixie/kubectl-pixie/probes/conn"
	"github.com/kubectl-pixie/kubectl-pixie/probes/protocols/internal/prototest"
)

type harness = prototest.Harness[*api.NATSEvent]

func newHarness(tb testing.TB, opts conn.Options) *harness {
	return prototest.New[*api.NATSEvent](tb, opts, Protocol{}, netip.MustParseAddrPort("127.0.0.1:4222"))
}

const (
	info    = `INFO {"server_id":"NABC","server_name":"s1","version":"2.9.10","proto":1,"headers":true,"max_payload":1048576,"nonce":"xyz"}` + "\r\n"
	connect = `CONNECT {"verbose":false,"pedantic":false,"user":"alice","pass":"hunter2","name":"app","lang":"go","version":"1.37.0","protocol":1,"headers":true,"no_responders":true}` + "\r\nPING\r\n"
)

// session is one client's conversation, as calls: out is what the client
// sends.
var session = []struct {
	out  bool
	data string
}{
	{false, info},
	{true, connect},
	{false, "PONG\r\n"},
	{true, "SUB orders.* 1\r\nSUB _INBOX.Xy7 2\r\n"},
	{true, "PUB orders.42 5\r\nhello\r\n"},
	{false, "MSG orders.42 1 5\r\nhello\r\n"},
	{true, "PUB svc.add _INBOX.Xy7.1 2\r\nhi\r\n"},
	{false, "HMSG _INBOX.Xy7.1 2 12 15\r\nNATS/1.0\r\n\r\nyes\r\n"},
	{true, "HPUB svc.add _INBOX.Xy7.2 26 26\r\nNATS/1.0\r\nX-Trace: abc\r\n\r\n\r\n"},
	{false, "HMSG _INBOX.Xy7.2 2 30 30\r\nNATS/1.0 503 No Responders\r\n\r\n\r\n"},
	{true, "UNSUB 1\r\n"},
	{false, "PING\r\n"},
	{true, "PONG\r\n"},
}

type want struct {
	cmd, subject, tmpl, resp, errText string
	paired                            bool
}

var wantSession = []want{
	{cmd: "INFO"},
	{cmd: "CONNECT"},
	{cmd: "PING", resp: "PONG", paired: true},
	{cmd: "SUB", subject: "orders.*", tmpl: "orders.*"},
	{cmd: "SUB", subject: "_INBOX.Xy7", tmpl: "_INBOX.*"},
	{cmd: "PUB", subject: "orders.42", tmpl: "orders.*"},
	{cmd: "MSG", subject: "orders.42", tmpl: "orders.*"},
	{cmd: "PUB", subject: "svc.add", tmpl: "svc.add", resp: `{"cmd":"HMSG","subject":"_INBOX.Xy7.1","sid":"2","bytes":15,"header_bytes":12,"payload":"yes"}`, paired: true},
	{cmd: "HPUB", subject: "svc.add", tmpl: "svc.add", resp: `{"cmd":"HMSG","subject":"_INBOX.Xy7.2","sid":"2","bytes":30,"header_bytes":30,"payload":""}`, errText: "503 No Responders", paired: true},
	{cmd: "UNSUB", subject: "orders.*", tmpl: "orders.*"},
	{cmd: "PING", resp: "PONG", paired: true},
}

func play(h *harness, role conn.Role, split int) {
	h.Open(role)
	for _, c := range session {
		dir := conn.Ingress
		if c.out == (role == conn.RoleClient) {
			dir = conn.Egress
		}
		for i := 0; i < len(c.data); i += split {
			h.Call(dir, c.data[i:min(i+split, len(c.data))], 0, 0)
		}
	}
	h.Close()
}

func check(t *testing.T, h *harness, ws []want) {
	t.Helper()
	if len(h.Recs) != len(ws) {
		for _, r := range h.Recs {
			t.Logf("%+v", *r)
		}
		t.Fatalf("%d records, want %d", len(h.Recs), len(ws))
	}
	for i, w := range ws {
		r := h.Recs[i]
		if r.Cmd != w.cmd || r.Subject != w.subject || r.SubjectTemplate != w.tmpl || r.Resp != w.resp || r.Error != w.errText {
			t.Errorf("record %d: %+v, want %+v", i, *r, w)
		}
		if (r.Latency > 0) != w.paired {
			t.Errorf("record %d %s: latency %d, paired %v", i, r.Cmd, r.Latency, w.paired)
		}
		if r.Body != "" && r.Cmd != "-ERR" && !json.Valid([]byte(r.Body)) {
			t.Errorf("record %d body %q is not JSON", i, r.Body)
		}
	}
	if s := h.Stats(); s.ParseErrors+s.UnmatchedRequests+s.UnmatchedResponses+s.Resyncs != 0 {
		t.Errorf("stats %+v", s)
	}
}

// TestSession: a client's whole conversation, from either end, cut at
// every size: publish and deliveries one-way, PINGs paired with PONGs,
// requests with their replies (a no-responders status an error), UNSUB
// named by its subscription's subject.
func TestSession(t *testing.T) {
	for _, role := range []conn.Role{conn.RoleClient, conn.RoleServer} {
		for _, split := range []int{1, 2, 3, 7, 1 << 20} {
			h := newHarness(t, conn.Options{BodyLimit: 64, FullData: true})
			play(h, role, split)
			check(t, h, wantSession)
		}
	}
}

// TestCredentialsNeverKept: CONNECT's user and password reach no column
// in any mode; the options that are no secret stay.
func TestCredentialsNeverKept(t *testing.T) {
	for _, a := range api.DataAccessModes {
		h := newHarness(t, conn.Options{BodyLimit: 4096, Access: a})
		play(h, conn.RoleClient, 1<<20)
		for _, r := range h.Recs {
			b, _ := json.Marshal(r)
			if strings.Contains(string(b), "hunter2") || strings.Contains(string(b), "alice") || strings.Contains(string(b), "xyz") {
				t.Errorf("%s: a credential or nonce in %s", a, b)
			}
		}
		c := h.Recs[1]
		if wantBody := `{"verbose":false,"pedantic":false,"name":"app","lang":"go","version":"1.37.0","protocol":1,"headers":true,"no_responders":true}`; a != api.DataAccessNone && c.Body != wantBody {
			t.Errorf("%s: CONNECT body %s", a, c.Body)
		}
		if a == api.DataAccessNone && (c.Body != "" || h.Recs[7].Resp != "") {
			t.Errorf("none keeps bodies: %+v", h.Recs)
		}
		if pub := h.Recs[5].Body; a == api.DataAccessRestricted && pub != `{"subject":"orders.42","bytes":5,"payload":"<redacted 5 bytes>"}` {
			t.Errorf("restricted PUB body %s", pub)
		}
	}
}

// TestVerbose: after CONNECT asks for verbose, every client op is
// answered by +OK or -ERR, in order; a request awaits both its ack and
// its reply.
func TestVerbose(t *testing.T) {
	h := newHarness(t, conn.Options{BodyLimit: 64, FullData: true})
	h.Open(conn.RoleClient)
	h.In(info)
	h.Out(`CONNECT {"verbose":true}` + "\r\n")
	h.In("+OK\r\n")
	h.Out("SUB a 1\r\nPUB a 1\r\nx\r\nPUB b _INBOX.r.1 0\r\n\r\n")
	h.In("+OK\r\nMSG a 1 1\r\nx\r\n-ERR 'Permissions Violation for Publish to \"b\"'\r\n")
	h.In("+OK\r\nMSG _INBOX.r.1 1 2\r\nok\r\n")
	h.In("-ERR 'Stale Connection'\r\n")
	h.Close()
	check(t, h, []want{
		{cmd: "INFO"},
		{cmd: "CONNECT", resp: "+OK", paired: true},
		{cmd: "SUB", subject: "a", tmpl: "a", resp: "+OK", paired: true},
		{cmd: "MSG", subject: "a", tmpl: "a"},
		{cmd: "PUB", subject: "a", tmpl: "a", resp: `-ERR 'Permissions Violation for Publish to "b"'`, errText: `Permissions Violation for Publish to "b"`, paired: true},
		{cmd: "PUB", subject: "b", tmpl: "b", resp: `{"cmd":"MSG","subject":"_INBOX.r.1","sid":"1","bytes":2,"payload":"ok"}`, paired: true},
		{cmd: "-ERR", errText: "Stale Connection"},
	})
}

// TestResponder: on the responder's connection the request is the
// delivered message, its reply the client's PUB to the reply subject.
func TestResponder(t *testing.T) {
	h := newHarness(t, conn.Options{BodyLimit: 64, FullData: true})
	h.Open(conn.RoleClient)
	h.In(info)
	h.Out("SUB svc.add q 1\r\n")
	h.In("MSG svc.add 1 _INBOX.r.1 2\r\nhi\r\n")
	h.Out("PUB _INBOX.r.1 3\r\nyes\r\n")
	h.Close()
	check(t, h, []want{
		{cmd: "INFO"},
		{cmd: "SUB", subject: "svc.add", tmpl: "svc.add"},
		{cmd: "MSG", subject: "svc.add", tmpl: "svc.add", resp: `{"cmd":"PUB","subject":"_INBOX.r.1","bytes":3,"payload":"yes"}`, paired: true},
	})
}

// TestLoss: bytes lost inside a payload cut the message; lost in a
// control line they lose the framing until a call starts with an op. A
// connection seen mid-stream starts at such a call.
func TestLoss(t *testing.T) {
	h := newHarness(t, conn.Options{BodyLimit: 64, FullData: true})
	h.Open(conn.RoleClient)
	h.Out("PUB a 10\r\n01234")
	h.Call(conn.Egress, "", 5, 0) // 5 payload bytes not captured
	h.Out("\r\nPUB b 1")
	h.Lose(conn.Egress, 4)
	h.Out("89\r\nPUB zz 1\r\n")
	h.Out("x\r\n") // the rest of a message whose line was lost
	h.Out("PUB c 1\r\ny\r\n")
	h.Close()
	var got []string
	for _, r := range h.Recs {
		got = append(got, r.Subject)
	}
	if strings.Join(got, ",") != "a,c" || h.Recs[0].Body != `{"subject":"a","bytes":10,"payload":"01234…"}` {
		t.Errorf("records %v, first %+v", got, h.Recs[0])
	}
	if s := h.Stats(); s.Resyncs != 1 || s.DroppedBytes == 0 {
		t.Errorf("stats %+v", s)
	}

	h = newHarness(t, conn.Options{BodyLimit: 64})
	h.In("llo\r\nMSG a 1 1\r\nx\r\n") // mid-payload
	h.In("MSG a 1 1\r\nx\r\n")
	h.Close()
	if len(h.Recs) != 1 || h.Recs[0].Cmd != "MSG" || h.Recs[0].TraceRole != "client" {
		t.Errorf("mid-stream records %+v", h.Recs)
	}
}

// TestBadInput: lines that are not NATS lose the framing, never a
// record; long lines are bounded.
func TestBadInput(t *testing.T) {
	for _, in := range []string{
		"PUB a -1\r\n", "PUB a 99999999999\r\n", "HPUB a 5 3\r\nxxx\r\n", "SUB\r\n", "UNSUB 1 x\r\n",
		"PUB a 1 2 3 4\r\n", "FOO bar\r\n", "PUB a 1\r\nxyz\r\n", "PUB " + strings.Repeat("a", 20000) + " 1\r\n",
	} {
		h := newHarness(t, conn.Options{BodyLimit: 64, MaxBufferedBytes: 1024})
		h.Open(conn.RoleClient)
		h.In(info)
		h.Out(in)
		h.Close()
		if len(h.Recs) != 1 || h.Stats().ParseErrors != 1 {
			t.Errorf("%.40q: records %+v, stats %+v", in, h.Recs, h.Stats())
		}
	}
	h := newHarness(t, conn.Options{BodyLimit: 64, MaxBufferedBytes: 1024})
	h.Open(conn.RoleClient)
	h.In(info)
	h.Out(`CONNECT {"jwt":"` + strings.Repeat("j", 5000) + `"}` + "\r\nPUB a 0\r\n\r\n")
	h.Close()
	if len(h.Recs) != 3 || h.Recs[1].Body != "{}" || h.Recs[2].Subject != "a" {
		t.Errorf("long CONNECT: %+v", h.Recs)
	}
}

func TestInfer(t *testing.T) {
	for _, tc := range []struct {
		in   string
		dir  conn.Dir
		conf conn.Confidence
		role conn.Role
	}{
		{info, conn.Ingress, conn.High, conn.RoleClient},
		{info, conn.Egress, conn.High, conn.RoleServer},
		{connect, conn.Egress, conn.High, conn.RoleClient},
		{"CONNECT example.com:443 HTTP/1.1\r\n", conn.Egress, conn.NoMatch, 0},
		{"INF", conn.Ingress, conn.NeedMore, 0},
		{"PUB a 1\r\nx\r\n", conn.Egress, conn.Low, conn.RoleClient},
		{"MSG a 1 1\r\nx\r\n", conn.Ingress, conn.Low, conn.RoleClient},
		{"PUB a", conn.Egress, conn.NeedMore, 0},
		{"PUB a b c d\r\n", conn.Egress, conn.NoMatch, 0},
		{"PING\r\n", conn.Egress, conn.NoMatch, 0},
		{"GET / HTTP/1.1\r\n", conn.Egress, conn.NoMatch, 0},
	} {
		got := Protocol{}.Infer([]byte(tc.in), tc.dir, conn.TransportTCP)
		if got.Conf != tc.conf || got.Conf >= conn.Low && got.Role != tc.role {
			t.Errorf("Infer(%.20q, %v) = %+v, want %v %v", tc.in, tc.dir, got, tc.conf, tc.role)
		}
	}
}

func TestSubjectTemplate(t *testing.T) {
	for in, want := range map[string]string{
		"orders.42.created": "orders.*.created", "_INBOX.abc.1": "_INBOX.*", "a.>": "a.>",
		"svc.v2": "svc.*", "orders.7": "orders.*", "x.ABCDEFGHIJKLMNOPQRSTUV": "x.*", "plain": "plain",
	} {
		if got := subjectTemplate(in); got != want {
			t.Errorf("subjectTemplate(%q) = %q, want %q", in, got, want)
		}
	}
}
