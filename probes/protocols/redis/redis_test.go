package redis

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/kubectl-pixie/kubectl-pixie/probes/api"
	"github.com/kubectl-pixie/kubectl-pixie/probes/conn"
)

// cmd encodes a command as clients send it.
func cmd(args ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	return b.String()
}

func bulk(s string) string { return fmt.Sprintf("$%d\r\n%s\r\n", len(s), s) }

type want struct {
	cmd, args, resp, errKind string
}

func check(t *testing.T, h *harness, ws []want) {
	t.Helper()
	if len(h.Recs) != len(ws) {
		var got []string
		for _, r := range h.Recs {
			got = append(got, r.ReqCmd)
		}
		t.Fatalf("got %d records %v, want %d (stats %+v)", len(h.Recs), got, len(ws), h.Stats())
	}
	for i, w := range ws {
		r := h.Recs[i]
		if r.Table != api.TableRedisEvents {
			t.Errorf("record %d: table %q", i, r.Table)
		}
		if r.ReqCmd != w.cmd || r.RespError != w.errKind || (w.args != "" && r.ReqArgs != w.args) || (w.resp != "" && r.Resp != w.resp) {
			t.Errorf("record %d = %q %s -> %q (err %q); want %q %s -> %q (err %q)", i, r.ReqCmd, r.ReqArgs, r.Resp, r.RespError, w.cmd, w.args, w.resp, w.errKind)
		}
		if r.ReqArgs != "" && !json.Valid([]byte(r.ReqArgs)) {
			t.Errorf("record %d: req_args %q is not JSON", i, r.ReqArgs)
		}
	}
}

func TestInfer(t *testing.T) {
	full := cmd("GET", "k")
	for i := 1; i < len(full); i++ {
		inf := Protocol{}.Infer([]byte(full[:i]), conn.Egress, conn.TransportTCP)
		if i < len("*2\r\n$3\r\nGET") && inf.Conf != conn.NeedMore {
			t.Errorf("prefix %q: %v, want NeedMore", full[:i], inf.Conf)
		}
		if i >= len("*2\r\n$3\r\nGET") && (inf.Conf != conn.High || inf.Role != conn.RoleClient) {
			t.Errorf("prefix %q: %+v, want High client", full[:i], inf)
		}
	}
	for _, s := range []string{"+OK\r\n", "*2\r\n*1\r\n", "*0\r\n", "GET / HTTP/1.1\r\n", "*2\r\n$3\r\n1ET\r\n", "*99999999\r\n", "$3\r\nfoo\r\n"} {
		if inf := (Protocol{}).Infer([]byte(s), conn.Ingress, conn.TransportTCP); inf.Conf == conn.High || inf.Conf == conn.Low {
			t.Errorf("Infer(%q) = %v, want no match", s, inf.Conf)
		}
	}
	if inf := (Protocol{}).Infer([]byte(full), conn.Ingress, conn.TransportUDP); inf.Conf != conn.NoMatch {
		t.Errorf("UDP: %v", inf.Conf)
	}
}

// pipelined is a client's pipeline: three commands in one write, their
// three replies in one read, one of them an error.
var (
	pipeReq  = cmd("SET", "user:1", "alice") + cmd("get", "user:1") + cmd("NOSUCH", "x")
	pipeResp = "+OK\r\n" + bulk("alice") + "-ERR unknown command 'NOSUCH', with args beginning with: 'x' \r\n"
	pipeWant = []want{
		{cmd: "SET", args: `["<redacted 6 bytes>","<redacted 5 bytes>"]`, resp: "OK"},
		{cmd: "GET", args: `["<redacted 6 bytes>"]`, resp: "<redacted 5 bytes>"},
		{cmd: "NOSUCH", args: `["<redacted 1 bytes>"]`, resp: "ERR <redacted 56 bytes>", errKind: "ERR"},
	}
)

// TestEverySplit cuts the command stream and the reply stream at every
// point, as servers and clients do when reads return partial data.
func TestEverySplit(t *testing.T) {
	for _, role := range []conn.Role{conn.RoleClient, conn.RoleServer} {
		reqDir, respDir := conn.Ingress, conn.Egress
		if role == conn.RoleClient {
			reqDir, respDir = conn.Egress, conn.Ingress
		}
		for i := 0; i <= len(pipeReq); i++ {
			for _, j := range []int{0, 1, 5, 6, 12, len(pipeResp) - 1, len(pipeResp)} {
				h := newHarness(t, conn.Options{})
				h.Open(role)
				for _, part := range []string{pipeReq[:i], pipeReq[i:]} {
					if part != "" {
						h.Call(reqDir, part, 0, 0)
					}
				}
				for _, part := range []string{pipeResp[:j], pipeResp[j:]} {
					if part != "" {
						h.Call(respDir, part, 0, 0)
					}
				}
				h.Close()
				if t.Failed() {
					return
				}
				check(t, h, pipeWant)
				for _, r := range h.Recs {
					if r.TraceRole != role.String() || r.Latency <= 0 || r.RemotePort == 0 {
						t.Fatalf("split %d/%d: columns %+v", i, j, r.ConnColumns)
					}
				}
				if s := h.Stats(); s.UnmatchedRequests+s.UnmatchedResponses+s.ParseErrors+s.Resyncs != 0 {
					t.Fatalf("split %d/%d: stats %+v", i, j, s)
				}
			}
		}
	}
}

// TestByteByByte feeds every byte in its own call, replies interleaved.
func TestByteByByte(t *testing.T) {
	h := newHarness(t, conn.Options{})
	h.Open(conn.RoleClient)
	for i := range pipeReq {
		h.Out(pipeReq[i : i+1])
	}
	for i := range pipeResp {
		h.In(pipeResp[i : i+1])
	}
	check(t, h, pipeWant)
	// Latency: from the first command byte (a write's start) to the
	// return of the read with the last byte of its reply.
	if l, want := h.Recs[0].Latency, int64(len(pipeReq)+4)*tStep+tCall; l != want {
		t.Errorf("latency %d, want %d", l, want)
	}
}

// TestPipelineOrder: many commands sent before any reply pair in order,
// and latencies grow with the position of the reply.
func TestPipelineOrder(t *testing.T) {
	h := newHarness(t, conn.Options{FullData: true})
	h.Open(conn.RoleServer)
	var req, resp strings.Builder
	const n = 100
	for i := range n {
		req.WriteString(cmd("INCRBY", "k", fmt.Sprint(i)))
		fmt.Fprintf(&resp, ":%d\r\n", i*1000)
	}
	h.In(req.String())
	r := resp.String()
	for len(r) > 0 { // replies in 7-byte writes
		k := min(7, len(r))
		h.Out(r[:k])
		r = r[k:]
	}
	if len(h.Recs) != n {
		t.Fatalf("%d records, want %d", len(h.Recs), n)
	}
	for i, rec := range h.Recs {
		if rec.ReqArgs != fmt.Sprintf(`["k","%d"]`, i) || rec.Resp != fmt.Sprint(i*1000) {
			t.Fatalf("record %d = %s -> %s", i, rec.ReqArgs, rec.Resp)
		}
		if i > 0 && rec.Latency < h.Recs[i-1].Latency {
			t.Fatalf("record %d latency %d < previous %d", i, rec.Latency, h.Recs[i-1].Latency)
		}
	}
}

func TestRESP3(t *testing.T) {
	h := newHarness(t, conn.Options{FullData: true})
	h.Open(conn.RoleClient)
	h.Out(cmd("HELLO", "3", "AUTH", "default", "s3cret") + cmd("GET", "missing") + cmd("EXISTS", "a") +
		cmd("INCRBYFLOAT", "f", "1.5") + cmd("DEBUG", "bignum") + cmd("SET", "x") + cmd("LCS", "a", "b") +
		cmd("HGETALL", "h") + cmd("SMEMBERS", "s") + cmd("CLIENT", "TRACKING", "on") + cmd("GET", "cached"))
	h.In("%2\r\n$6\r\nserver\r\n$5\r\nredis\r\n$5\r\nproto\r\n:3\r\n" + // HELLO
		"_\r\n" + // GET missing
		"#t\r\n" + // EXISTS
		",1.5\r\n" + // INCRBYFLOAT
		"(3492890328409238509324850943850943825024385\r\n" + // big number
		"!21\r\nSYNTAX invalid syntax\r\n" + // blob error
		"=15\r\ntxt:Some string\r\n" + // verbatim
		">3\r\n$10\r\ninvalidate\r\n*1\r\n$1\r\nx\r\n$0\r\n\r\n" + // a push in between: not a reply
		"%1\r\n+f\r\n+v\r\n" + // HGETALL
		"|1\r\n+key-popularity\r\n%1\r\n$1\r\na\r\n,0.1923\r\n~2\r\n+a\r\n+b\r\n" + // attribute, then the set
		"+OK\r\n" + // CLIENT TRACKING
		"|1\r\n+ttl\r\n:10\r\n$2\r\nhi\r\n") // attribute before a bulk
	check(t, h, []want{
		{cmd: "HELLO", args: `["3","AUTH","<redacted>","<redacted>"]`, resp: "{server, redis, proto, 3}"},
		{cmd: "GET", resp: "<NULL>"},
		{cmd: "EXISTS", resp: "true"},
		{cmd: "INCRBYFLOAT", resp: "1.5"},
		{cmd: "DEBUG", resp: "3492890328409238509324850943850943825024385"},
		{cmd: "SET", resp: "SYNTAX invalid syntax", errKind: "SYNTAX"},
		{cmd: "LCS", resp: "Some string"},
		{cmd: "HGETALL", resp: "{f, v}"},
		{cmd: "SMEMBERS", resp: "[a, b]"},
		{cmd: "CLIENT TRACKING", args: `["TRACKING","on"]`, resp: "OK"},
		{cmd: "GET", resp: "hi"},
	})
	if s := h.Stats(); s.Pushes != 1 || s.ParseErrors != 0 || s.UnmatchedResponses != 0 {
		t.Errorf("stats %+v, want 1 push", s)
	}
}

// TestPubSub: RESP2 subscribe confirmations (one per channel) and
// messages are pushes; only the SUBSCRIBE and the PING are paired.
func TestPubSub(t *testing.T) {
	for _, resp3 := range []bool{false, true} {
		h := newHarness(t, conn.Options{})
		h.Open(conn.RoleClient)
		agg := "*"
		if resp3 {
			agg = ">"
		}
		h.Out(cmd("SUBSCRIBE", "news", "sport"))
		h.In(agg + "3\r\n" + bulk("subscribe") + bulk("news") + ":1\r\n")
		h.In(agg + "3\r\n" + bulk("subscribe") + bulk("sport") + ":2\r\n")
		for i := range 3 {
			h.In(agg + "3\r\n" + bulk("message") + bulk("news") + bulk(fmt.Sprint("m", i)))
		}
		h.Out(cmd("PING"))
		if resp3 {
			h.In("+PONG\r\n")
		} else {
			h.In("*2\r\n" + bulk("pong") + bulk(""))
		}
		h.In(agg + "3\r\n" + bulk("message") + bulk("sport") + bulk("late"))
		h.Out(cmd("UNSUBSCRIBE"))
		h.In(agg + "3\r\n" + bulk("unsubscribe") + bulk("news") + ":1\r\n")
		h.In(agg + "3\r\n" + bulk("unsubscribe") + bulk("sport") + ":0\r\n")
		h.Close()
		check(t, h, []want{{cmd: "SUBSCRIBE"}, {cmd: "PING"}, {cmd: "UNSUBSCRIBE"}})
		if s := h.Stats(); s.Pushes != 6 || s.UnmatchedRequests != 0 || s.UnmatchedResponses != 0 {
			t.Errorf("resp3=%v: stats %+v, want 6 pushes, nothing unmatched", resp3, s)
		}
	}
}

// TestRedaction: values are redacted without full data; AUTH's password
// always.
func TestRedaction(t *testing.T) {
	for _, full := range []bool{false, true} {
		h := newHarness(t, conn.Options{FullData: full})
		h.Open(conn.RoleClient)
		h.Out(cmd("AUTH", "hunter2") + cmd("AUTH", "bob", "hunter2") + cmd("SET", "k", "v1") + cmd("CONFIG", "SET", "requirepass", "pw"))
		h.In("+OK\r\n+OK\r\n+OK\r\n+OK\r\n")
		h.Out(cmd("GET", "k"))
		h.In(bulk("v1"))
		ws := []want{
			{cmd: "AUTH", args: `["<redacted>"]`},
			{cmd: "AUTH", args: `["<redacted>","<redacted>"]`},
			{cmd: "SET", args: `["<redacted 1 bytes>","<redacted 2 bytes>"]`},
			{cmd: "CONFIG SET", args: `["SET","<redacted 11 bytes>","<redacted>"]`},
			{cmd: "GET", resp: "<redacted 2 bytes>"},
		}
		if full {
			ws[2].args, ws[3].args, ws[4].resp = `["k","v1"]`, `["SET","requirepass","<redacted>"]`, "v1"
		}
		check(t, h, ws)
		for _, r := range h.Recs {
			if strings.Contains(r.ReqArgs, "hunter2") || strings.Contains(r.ReqArgs, `"pw"`) {
				t.Errorf("full=%v: password in %s", full, r.ReqArgs)
			}
		}
	}
}

// TestRestricted: restricted access keeps command names, subcommands,
// numbers and a few status words; every argument, script, value, status
// and error text becomes a marker of its size. None keeps no args and no
// reply.
func TestRestricted(t *testing.T) {
	const secret = "s3cr3t-value"
	req := cmd("EVAL", "return redis.status_reply('"+secret+"')", "0") +
		cmd("SET", "session:"+secret, secret) + cmd("CLIENT", "SETNAME", secret) +
		cmd("EVAL", "return redis.error_reply('MYERR "+secret+"')", "0") + cmd("INCR", "n") + cmd("PING")
	resp := "+" + secret + "\r\n+OK\r\n+OK\r\n-MYERR " + secret + "\r\n:7\r\n+PONG\r\n"
	h := newHarness(t, conn.Options{Access: api.DataAccessRestricted})
	h.Open(conn.RoleClient)
	h.Out(req)
	h.In(resp)
	check(t, h, []want{
		{cmd: "EVAL", args: `["<redacted 41 bytes>","<redacted 1 bytes>"]`, resp: "<redacted 12 bytes>"},
		{cmd: "SET", args: `["<redacted 20 bytes>","<redacted 12 bytes>"]`, resp: "OK"},
		{cmd: "CLIENT SETNAME", args: `["SETNAME","<redacted 12 bytes>"]`, resp: "OK"},
		{cmd: "EVAL", args: `["<redacted 46 bytes>","<redacted 1 bytes>"]`, resp: "MYERR <redacted 12 bytes>", errKind: "MYERR"},
		{cmd: "INCR", args: `["<redacted 1 bytes>"]`, resp: "7"},
		{cmd: "PING", args: "[]", resp: "PONG"},
	})
	for _, r := range h.Recs {
		if b, _ := json.Marshal(r); strings.Contains(string(b), "s3cr3t") {
			t.Errorf("restricted record keeps the secret: %s", b)
		}
	}

	h = newHarness(t, conn.Options{Access: api.DataAccessNone})
	h.Open(conn.RoleClient)
	h.Out(req)
	h.In(resp)
	if len(h.Recs) != 6 {
		t.Fatalf("none: %d records", len(h.Recs))
	}
	for _, r := range h.Recs {
		if r.ReqArgs != "" || r.Resp != "" || r.ReqCmd == "" || r.ReqBytes == 0 || r.RespBytes == 0 {
			t.Errorf("none: %+v", r)
		}
	}
	if h.Recs[3].RespError != "MYERR" {
		t.Errorf("none: error kind %q", h.Recs[3].RespError)
	}
}

// TestBounds: arguments and replies are cut at the body limit; unknown
// command names are escaped and bounded.
func TestBounds(t *testing.T) {
	h := newHarness(t, conn.Options{FullData: true, BodyLimit: 16})
	h.Open(conn.RoleClient)
	h.Out(cmd("SET", "k", strings.Repeat("x", 1000)) + cmd("GET", "k") + cmd("bad\x00cmd\n") + cmd(strings.Repeat("z", 100)))
	h.In("+OK\r\n" + bulk(strings.Repeat("y", 1000)) + "-ERR no\r\n-ERR no\r\n")
	check(t, h, []want{
		{cmd: "SET", args: `["k","xxxxx…"]`},
		{cmd: "GET", resp: "yyyyyyyyyyyyyyyy…"},
		{cmd: `bad\x00cmd\n`, errKind: "ERR"},
		{cmd: strings.Repeat("z", 64) + "…", errKind: "ERR"},
	})
}

// TestGaps: bytes lost inside a value are skipped (large values captured
// in part); bytes lost elsewhere end pairing on the connection, counted.
func TestGaps(t *testing.T) {
	t.Run("inside value", func(t *testing.T) {
		h := newHarness(t, conn.Options{})
		h.Open(conn.RoleClient)
		big := strings.Repeat("v", 10000)
		h.Out(cmd("GET", "big") + cmd("GET", "small"))
		// The reply write moved 10 kB but only 4 kB were captured.
		resp := bulk(big)
		h.Call(conn.Ingress, resp[:4096], len(resp), 0)
		h.In(bulk("s"))
		check(t, h, []want{{cmd: "GET", resp: "<redacted 10000 bytes>"}, {cmd: "GET", resp: "<redacted 1 bytes>"}})
		if s := h.Stats(); s.Uncaptured == 0 || s.ParseErrors != 0 || s.Resyncs != 0 {
			t.Errorf("stats %+v", s)
		}
	})
	t.Run("lost command", func(t *testing.T) {
		h := newHarness(t, conn.Options{})
		h.Open(conn.RoleClient)
		h.Out(cmd("GET", "a"))
		h.In(bulk("1"))
		h.Out(cmd("GET", "b"))
		h.Call(conn.Egress, cmd("GET", "c"), 0, len(cmd("GET", "lost")))
		h.In(bulk("2") + bulk("lost") + bulk("3"))
		h.Close()
		check(t, h, []want{{cmd: "GET", resp: "<redacted 1 bytes>"}})
		if s := h.Stats(); s.Resyncs != 1 || s.UnmatchedRequests != 1 || s.Gaps != 1 {
			t.Errorf("stats %+v, want 1 resync, 1 unmatched request", s)
		}
	})
	t.Run("lost reply framing", func(t *testing.T) {
		h := newHarness(t, conn.Options{})
		h.Open(conn.RoleClient)
		h.Out(cmd("GET", "a") + cmd("GET", "b"))
		h.Call(conn.Ingress, bulk("1")[:2], len(bulk("1")+bulk("2")), 0)
		h.Close()
		if len(h.Recs) != 0 || h.Stats().UnmatchedRequests != 2 {
			t.Errorf("records %d, stats %+v", len(h.Recs), h.Stats())
		}
	})
	t.Run("mid-stream", func(t *testing.T) {
		h := newHarness(t, conn.Options{})
		// No open event: the connection predates tracing. A reply to an
		// earlier command comes first and must not be paired.
		h.In(bulk("old"))
		h.Out(cmd("GET", "a"))
		h.In(bulk("new"))
		h.Out(cmd("DEL", "a"))
		h.In(":1\r\n")
		check(t, h, []want{{cmd: "GET"}, {cmd: "DEL", resp: "1"}})
	})
	t.Run("parse error", func(t *testing.T) {
		h := newHarness(t, conn.Options{})
		h.Open(conn.RoleClient)
		h.Out(cmd("GET", "a"))
		h.In("?garbage\r\n")
		h.Out(cmd("GET", "b"))
		h.In(bulk("x"))
		h.Close()
		if len(h.Recs) != 0 || h.Stats().ParseErrors != 1 || h.Stats().UnmatchedRequests != 1 {
			t.Errorf("records %d, stats %+v", len(h.Recs), h.Stats())
		}
	})
}

// TestUnmatched: commands without replies at the end, replies without
// commands.
func TestUnmatched(t *testing.T) {
	h := newHarness(t, conn.Options{})
	h.Open(conn.RoleClient)
	h.Out(cmd("GET", "a"))
	h.In(bulk("1") + bulk("extra"))
	h.Out(cmd("BLPOP", "q", "0"))
	h.Close()
	check(t, h, []want{{cmd: "GET"}})
	if s := h.Stats(); s.UnmatchedRequests != 1 || s.UnmatchedResponses != 1 {
		t.Errorf("stats %+v", s)
	}
}

func TestAggregateOnly(t *testing.T) {
	// The agent without -o json: no args or reply text, the rest intact.
	h := newHarness(t, conn.Options{BodyLimit: -1, NoHeaders: true})
	h.Open(conn.RoleClient)
	h.Out(pipeReq)
	h.In(pipeResp)
	check(t, h, []want{{cmd: "SET"}, {cmd: "GET"}, {cmd: "NOSUCH", errKind: "ERR"}})
	for _, r := range h.Recs {
		if r.ReqArgs != "" || r.Resp != "" || r.ReqBytes == 0 || r.RespBytes == 0 {
			t.Errorf("record %+v", r)
		}
	}
}
