package http1

import (
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/kubectl-pixie/kubectl-pixie/probes/api"
	"github.com/kubectl-pixie/kubectl-pixie/probes/conn"
)

type callSpec struct {
	dir  conn.Dir
	data string
	size int    // bytes moved; more than len(data) means an uncaptured tail
	skip int    // bytes lost before this call
	tail string // the call's last bytes, sent after a cut
}

func E(s string) callSpec { return callSpec{dir: conn.Egress, data: s} }
func I(s string) callSpec { return callSpec{dir: conn.Ingress, data: s} }

// trunc: a call that moved size bytes of which only data was captured.
func trunc(c callSpec, size int) callSpec { c.size = size; return c }

// cutCall: a call of size bytes cut by the capture: its first bytes
// (head) and its last (tail) were captured.
func cutCall(c callSpec, head, tail string, size int) callSpec {
	c.data, c.tail, c.size = head, tail, size
	return c
}

// lost: size bytes of calls lost before c.
func lost(c callSpec, n int) callSpec { c.skip = n; return c }

// summary is what the tests compare of a record.
type summary struct {
	Method, Path     string
	Minor            int
	Status           int
	Msg              string
	ReqBody          string
	ReqSize          int64
	RespBody         string
	RespSize         int64
	Role             string
	ReqHdr, RespHdr  map[string]string `cmp:"-"`
	Latency, TimeOff int64
}

func sum(e *api.HTTPEvent) summary {
	return summary{Method: e.ReqMethod, Path: e.ReqPath, Minor: e.MinorVersion, Status: e.RespStatus, Msg: e.RespMessage,
		ReqBody: e.ReqBody, ReqSize: e.ReqBodySize, RespBody: e.RespBody, RespSize: e.RespBodySize, Role: e.TraceRole}
}

// w builds an expected record: "GET /x 200" plus bodies and sizes.
func w(line string, reqBody string, reqSize int64, respBody string, respSize int64, role string) summary {
	var s summary
	var st int
	fmt.Sscanf(line, "%s %s %d", &s.Method, &s.Path, &st)
	s.Status, s.ReqBody, s.ReqSize, s.RespBody, s.RespSize, s.Role = st, reqBody, reqSize, respBody, respSize, role
	s.Minor = 1
	return s
}

const (
	get1   = "GET /a HTTP/1.1\r\nHost: x\r\nUser-Agent: t\r\n\r\n"
	get2   = "GET /b?q=1 HTTP/1.1\r\nHost: x\r\n\r\n"
	get3   = "GET /c HTTP/1.1\r\nHost: x\r\n\r\n"
	ok5    = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Type: text/plain\r\n\r\nhello"
	ok3    = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc"
	nf     = "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"
	post   = "POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\nhello world"
	chunk  = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n"
	noBody = "HTTP/1.1 204 No Content\r\n\r\n"
	// chunked2: three chunks, for the cut calls whose middle hides their
	// chunk-size lines.
	chunkedHdr = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
	chunked2   = chunkedHdr + "10\r\naaaaaaaaaaaaaaaa\r\n10\r\nbbbbbbbbbbbbbbbb\r\n5\r\nhello\r\n0\r\n\r\n"
	chunkedPut = "PUT /u HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n" + "10\r\naaaaaaaaaaaaaaaa\r\n10\r\nbbbbbbbbbbbbbbbb\r\n5\r\nhello\r\n0\r\n\r\n"
)

func TestHTTP1(t *testing.T) {
	const cl, sv = "client", "server"
	tests := []struct {
		name   string
		role   conn.Role // open event role; RoleUnknown: socket seen mid-stream
		noOpen bool
		opts   conn.Options
		calls  []callSpec
		close  bool
		want   []summary
		stats  conn.Stats // only non-zero fields are compared
	}{
		{name: "client get", role: conn.RoleClient, calls: []callSpec{E(get1), I(ok5)},
			want: []summary{w("GET /a 200", "", 0, "hello", 5, cl)}},
		{name: "server get", role: conn.RoleServer, calls: []callSpec{I(get1), E(ok5)},
			want: []summary{w("GET /a 200", "", 0, "hello", 5, sv)}},
		{name: "keep-alive", role: conn.RoleClient, calls: []callSpec{E(get1), I(ok5), E(get2), I(nf), E(get3), I(ok3)},
			want: []summary{w("GET /a 200", "", 0, "hello", 5, cl), w("GET /b?q=1 404", "", 0, "", 0, cl), w("GET /c 200", "", 0, "abc", 3, cl)}},
		{name: "pipelined", role: conn.RoleClient, calls: []callSpec{E(get1 + get2 + get3), I(ok5 + nf), I(ok3)},
			want: []summary{w("GET /a 200", "", 0, "hello", 5, cl), w("GET /b?q=1 404", "", 0, "", 0, cl), w("GET /c 200", "", 0, "abc", 3, cl)}},
		{name: "post body", role: conn.RoleServer, calls: []callSpec{I(post), E(ok3)},
			want: []summary{w("POST /p 200", "hello world", 11, "abc", 3, sv)}},
		{name: "post body split", role: conn.RoleServer, calls: []callSpec{I(post[:20]), I(post[20 : len(post)-5]), I(post[len(post)-5:]), E(ok3)},
			want: []summary{w("POST /p 200", "hello world", 11, "abc", 3, sv)}},
		{name: "chunked response with extension and trailer", role: conn.RoleClient, calls: []callSpec{E(get1), I(chunk), E(get2), I(ok3)},
			want: []summary{w("GET /a 200", "", 0, "hello world", 11, cl), w("GET /b?q=1 200", "", 0, "abc", 3, cl)}},
		{name: "chunked request", role: conn.RoleServer, calls: []callSpec{
			I("PUT /u HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"), E(nf)},
			want: []summary{w("PUT /u 404", "abc", 3, "", 0, sv)}},
		{name: "100 continue", role: conn.RoleClient, calls: []callSpec{
			E("POST /up HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n"),
			I("HTTP/1.1 100 Continue\r\n\r\n"), E("data"), I(ok3), E(get2), I(nf)},
			want: []summary{w("POST /up 200", "data", 4, "abc", 3, cl), w("GET /b?q=1 404", "", 0, "", 0, cl)}},
		{name: "103 early hints and 100 in one read", role: conn.RoleClient, calls: []callSpec{
			E(get1), I("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </s.css>\r\n\r\n" + ok5)},
			want: []summary{w("GET /a 200", "", 0, "hello", 5, cl)}},
		{name: "head has no body", role: conn.RoleClient, calls: []callSpec{
			E("HEAD /h HTTP/1.1\r\n\r\n"), I("HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n"), E(get2), I(ok3)},
			want: []summary{w("HEAD /h 200", "", 0, "", 0, cl), w("GET /b?q=1 200", "", 0, "abc", 3, cl)}},
		{name: "204 and 304 have no body", role: conn.RoleClient, calls: []callSpec{
			E(get1), I(noBody), E(get2), I("HTTP/1.1 304 Not Modified\r\nETag: x\r\n\r\n"), E(get3), I(ok3)},
			want: []summary{w("GET /a 204", "", 0, "", 0, cl), w("GET /b?q=1 304", "", 0, "", 0, cl), w("GET /c 200", "", 0, "abc", 3, cl)}},
		{name: "body until close", role: conn.RoleClient, close: true, calls: []callSpec{
			E("GET /old HTTP/1.0\r\n\r\n"), I("HTTP/1.0 200 OK\r\nServer: s\r\n\r\nfirst "), I("second")},
			want: []summary{{Method: "GET", Path: "/old", Status: 200, RespBody: "first second", RespSize: 12, Role: cl}}},
		{name: "body until EOF (a read of 0)", role: conn.RoleClient, calls: []callSpec{
			E("GET /old HTTP/1.0\r\n\r\n"), I("HTTP/1.0 200 OK\r\n\r\nall"), I("")},
			want: []summary{{Method: "GET", Path: "/old", Status: 200, RespBody: "all", RespSize: 3, Role: cl}}},
		{name: "body until close needs the close", role: conn.RoleClient, calls: []callSpec{
			E(get1), I("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nstream")},
			stats: conn.Stats{UnmatchedRequests: 1}},
		{name: "empty lines between messages", role: conn.RoleServer, calls: []callSpec{I(post + "\r\n"), E(ok3), I(get2), E(nf)},
			want: []summary{w("POST /p 200", "hello world", 11, "abc", 3, sv), w("GET /b?q=1 404", "", 0, "", 0, sv)}},
		{name: "truncated capture inside body", role: conn.RoleClient, calls: []callSpec{
			E(get1), trunc(I("HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\nab"), 41+1000), E(get2), I(ok3)},
			want:  []summary{w("GET /a 200", "", 0, "ab", 1000, cl), w("GET /b?q=1 200", "", 0, "abc", 3, cl)},
			stats: conn.Stats{Uncaptured: 998}},
		{name: "sendfile body", role: conn.RoleServer, calls: []callSpec{
			I(get1), E("HTTP/1.1 200 OK\r\nContent-Length: 4096\r\n\r\n"), trunc(E(""), 4096), I(get2), E(ok3)},
			want: []summary{w("GET /a 200", "", 0, "", 4096, sv), w("GET /b?q=1 200", "", 0, "abc", 3, sv)}},
		{name: "sendfile chunked", role: conn.RoleServer, calls: []callSpec{
			I(get1), E("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n400\r\n"), trunc(E(""), 1024), E("\r\n0\r\n\r\n"), I(get2), E(ok3)},
			want: []summary{w("GET /a 200", "", 0, "", 1024, sv), w("GET /b?q=1 200", "", 0, "abc", 3, sv)}},
		{name: "chunk framing hidden in a cut call: the last chunk in its tail", role: conn.RoleClient, calls: []callSpec{
			E(get1), cutCall(I(""), chunked2[:len(chunkedHdr)+6], chunked2[len(chunked2)-9:], len(chunked2)), E(get2), I(ok3)},
			want:  []summary{w("GET /a 200", "", 0, "aa", int64(len(chunked2)-len(chunkedHdr)-4), cl), w("GET /b?q=1 200", "", 0, "abc", 3, cl)},
			stats: conn.Stats{Uncaptured: uint64(len(chunked2) - len(chunkedHdr) - 6 - 9)}},
		{name: "chunk framing hidden: the last chunk split over calls", role: conn.RoleClient, calls: []callSpec{
			E(get1), cutCall(I(""), chunked2[:len(chunkedHdr)+6], chunked2[len(chunked2)-9:len(chunked2)-2], len(chunked2)-2),
			I(chunked2[len(chunked2)-2:]), E(get2), I(ok3)},
			want: []summary{w("GET /a 200", "", 0, "aa", int64(len(chunked2)-len(chunkedHdr)-4), cl), w("GET /b?q=1 200", "", 0, "abc", 3, cl)}},
		{name: "chunk framing hidden in a request: the next request follows the last chunk", role: conn.RoleServer, calls: []callSpec{
			cutCall(I(""), chunkedPut[:len(chunkedPut)-40], chunkedPut[len(chunkedPut)-9:]+get2, len(chunkedPut)+len(get2)), E(nf), E(ok3)},
			want: []summary{w("PUT /u 404", "aaaaaaaaaaaaaaa", 55, "", 0, sv), w("GET /b?q=1 200", "", 0, "abc", 3, sv)}},
		{name: "chunk framing hidden: a last chunk inside the data is not the end", role: conn.RoleClient, calls: []callSpec{
			E(get1), cutCall(I(""), chunkedHdr+"20\r\nab", "x\r\n0\r\n\r\nyy", len(chunkedHdr)+4+40+10), I("\r\n0\r\n\r\n"), E(get2), I(ok3)},
			want: []summary{w("GET /a 200", "", 0, "ab", 2+38+10+7, cl), w("GET /b?q=1 200", "", 0, "abc", 3, cl)}},
		{name: "chunk framing hidden by lost calls: resync", role: conn.RoleClient, calls: []callSpec{
			E(get1), I(chunked2[:len(chunkedHdr)+6]), lost(I(chunked2[len(chunked2)-9:]), len(chunked2)-len(chunkedHdr)-6-9), E(get2), I(ok3)},
			want:  []summary{w("GET /b?q=1 200", "", 0, "abc", 3, cl)},
			stats: conn.Stats{ParseErrors: 1, UnmatchedRequests: 1}},
		{name: "lost events inside body", role: conn.RoleClient, calls: []callSpec{
			E(get1), I("HTTP/1.1 200 OK\r\nContent-Length: 30\r\n\r\n0123456789"), lost(I("0123456789"), 10), E(get2), I(ok3)},
			want:  []summary{w("GET /a 200", "", 0, "0123456789", 30, cl), w("GET /b?q=1 200", "", 0, "abc", 3, cl)},
			stats: conn.Stats{Gaps: 1, GapBytes: 10}},
		{name: "gap inside request headers resyncs", role: conn.RoleServer, calls: []callSpec{
			I(get1[:20]), lost(I(get1[25:]), 5), E(ok5), I(get2), E(ok3)},
			want:  []summary{w("GET /b?q=1 200", "", 0, "abc", 3, sv)},
			stats: conn.Stats{ParseErrors: 1, Resyncs: 1, UnmatchedResponses: 1}},
		{name: "gap inside response headers resyncs", role: conn.RoleClient, calls: []callSpec{
			E(get1), I(ok5[:10]), lost(I(ok5[20:]), 10), E(get2), I(ok3)},
			want:  []summary{w("GET /b?q=1 200", "", 0, "abc", 3, cl)},
			stats: conn.Stats{ParseErrors: 1, Resyncs: 1, UnmatchedRequests: 1}},
		{name: "lost whole request: response unmatched, nothing invented", role: conn.RoleServer, calls: []callSpec{
			I(get1), E(ok5), lost(E(ok3), len(get2)*0), lost(I(get3), len(get2)), E(nf)},
			want:  []summary{w("GET /a 200", "", 0, "hello", 5, sv), w("GET /c 404", "", 0, "", 0, sv)},
			stats: conn.Stats{UnmatchedResponses: 1}},
		{name: "lost whole response: its request dropped", role: conn.RoleClient, calls: []callSpec{
			E(get1), E(get2), lost(I(ok3), len(ok5))},
			want:  []summary{w("GET /b?q=1 200", "", 0, "abc", 3, cl)},
			stats: conn.Stats{UnmatchedRequests: 1, Resyncs: 1}},
		{name: "a line cut by a loss is not a request", role: conn.RoleServer, calls: []callSpec{
			I(get1), E(ok5), lost(I("T /b HTTP/1.1\r\n\r\n"), 2), E(nf), I(get3), E(ok3)},
			want:  []summary{w("GET /a 200", "", 0, "hello", 5, sv), w("GET /c 200", "", 0, "abc", 3, sv)},
			stats: conn.Stats{UnmatchedResponses: 1, Resyncs: 1}},
		{name: "mid-stream server: tail of a body first", role: conn.RoleUnknown, calls: []callSpec{
			I("tail of an earlier body\r\n"), E("end of a response"), I(get1), E(ok5)},
			want: []summary{w("GET /a 200", "", 0, "hello", 5, sv)}},
		{name: "mid-stream client: response before any request is unmatched", role: conn.RoleUnknown, calls: []callSpec{
			I(ok3), E(get1), I(ok5)},
			want: []summary{w("GET /a 200", "", 0, "hello", 5, cl)}},
		{name: "no open event", noOpen: true, calls: []callSpec{E(get1), I(ok5)},
			want: []summary{w("GET /a 200", "", 0, "hello", 5, cl)}},
		{name: "request line split at inference", role: conn.RoleClient, calls: []callSpec{E("GE"), E("T /a HTT"), E(get1[10:]), I(ok5)},
			want: []summary{w("GET /a 200", "", 0, "hello", 5, cl)}},
		{name: "body limit", role: conn.RoleClient, opts: conn.Options{BodyLimit: 3}, calls: []callSpec{E(post), I(ok5)},
			want: []summary{w("POST /p 200", "hel", 11, "hel", 5, cl)}},
		{name: "no body kept", role: conn.RoleClient, opts: conn.Options{BodyLimit: -1}, calls: []callSpec{E(post), I(ok5)},
			want: []summary{w("POST /p 200", "", 11, "", 5, cl)}},
		{name: "header bound", role: conn.RoleServer, opts: conn.Options{MaxBufferedBytes: 256}, calls: []callSpec{
			I("GET /big HTTP/1.1\r\nX: " + strings.Repeat("y", 200)), I(strings.Repeat("y", 200) + "\r\n\r\n"), E(ok3), I(get2), E(nf)},
			want:  []summary{w("GET /b?q=1 404", "", 0, "", 0, sv)},
			stats: conn.Stats{ParseErrors: 1, UnmatchedResponses: 1}},
		{name: "garbage after a message resyncs", role: conn.RoleServer, calls: []callSpec{
			I(get1 + "\x00\x01garbage\r\n"), E(ok3), I("more garbage\r\n" + get2), E(nf)},
			want:  []summary{w("GET /a 200", "", 0, "abc", 3, sv), w("GET /b?q=1 404", "", 0, "", 0, sv)},
			stats: conn.Stats{ParseErrors: 1, Resyncs: 1}},
		{name: "bad chunk size resyncs", role: conn.RoleClient, calls: []callSpec{
			E(get1), I("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"), E(get2), I(ok3)},
			want:  []summary{w("GET /b?q=1 200", "", 0, "abc", 3, cl)},
			stats: conn.Stats{ParseErrors: 1, Resyncs: 1, UnmatchedRequests: 1}},
		{name: "conflicting content-length", role: conn.RoleServer, calls: []callSpec{
			I("POST /p HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabc"), E(ok3)},
			stats: conn.Stats{UnmatchedResponses: 1}},
		{name: "switching protocols stops parsing", role: conn.RoleClient, calls: []callSpec{
			E("GET /ws HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"),
			I("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n\x81\x05hello"), E("GET /x HTTP/1.1\r\n\r\n"), I(ok3)},
			want: []summary{w("GET /ws 101", "", 0, "", 0, cl)}},
		{name: "connect tunnel stops parsing", role: conn.RoleClient, calls: []callSpec{
			E("CONNECT h:443 HTTP/1.1\r\n\r\n"), I("HTTP/1.1 200 Connection established\r\n\r\n"), E("\x16\x03\x01"), I("\x16\x03\x03")},
			want: []summary{w("CONNECT h:443 200", "", 0, "", 0, cl)}},
		{name: "http/1.0 and bare LF", role: conn.RoleServer, calls: []callSpec{
			I("GET /lf HTTP/1.0\nHost: x\n\n"), E("HTTP/1.0 200 OK\nContent-Length: 2\n\nok")},
			want: []summary{{Method: "GET", Path: "/lf", Status: 200, RespBody: "ok", RespSize: 2, Role: sv}}},
		{name: "not http", role: conn.RoleClient, close: true, calls: []callSpec{E("\x00\x00\x00\x08hello"), I("*1\r\n$4\r\nPING\r\n")},
			stats: conn.Stats{UnknownConns: 1}},
		{name: "unanswered requests at close", role: conn.RoleClient, close: true, calls: []callSpec{E(get1 + get2)},
			stats: conn.Stats{UnmatchedRequests: 2}},
		{name: "request body pending when response completes", role: conn.RoleServer, calls: []callSpec{
			I("POST /big HTTP/1.1\r\nContent-Length: 10\r\n\r\nab"), E("HTTP/1.1 413 Too Large\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")},
			want: []summary{w("POST /big 413", "ab", 10, "", 0, sv)}},
	}
	for _, tt := range tests {
		for _, noOther := range []bool{false, true} {
			name := tt.name
			if noOther {
				name += "/no other pos"
			}
			t.Run(name, func(t *testing.T) {
				h := newHarness(t, tt.opts)
				h.NoOtherPos = noOther
				if !tt.noOpen {
					h.Open(tt.role)
				}
				for _, c := range tt.calls {
					h.CallTail(c.dir, c.data, c.tail, c.size, c.skip)
				}
				if tt.close {
					h.Close()
				}
				var got []summary
				for _, r := range h.Recs {
					s := sum(r)
					got = append(got, s)
					if r.Latency <= 0 || r.Time <= 0 {
						t.Errorf("record %s %s: latency %d time %d, want > 0", r.ReqMethod, r.ReqPath, r.Latency, r.Time)
					}
				}
				ignore := cmp.FilterPath(func(p cmp.Path) bool {
					n := p.Last().String()
					return n == ".Msg" || n == ".Minor" || n == ".Latency" || n == ".TimeOff" || n == ".ReqHdr" || n == ".RespHdr"
				}, cmp.Ignore())
				if d := cmp.Diff(tt.want, got, ignore); d != "" {
					t.Errorf("records (-want +got):\n%s", d)
				}
				h.Tr.Flush()
				checkStats(t, tt.stats, h.Stats())
			})
		}
	}
}

// checkStats compares the non-zero counters of want.
func checkStats(t *testing.T, want, got conn.Stats) {
	t.Helper()
	wm, gm := want.Map(), got.Map()
	for k, v := range wm {
		if v != 0 && gm[k] != v {
			t.Errorf("stats %s = %d, want %d (all: %v)", k, gm[k], v, gm)
		}
	}
}

func TestRecordColumns(t *testing.T) {
	h := newHarness(t, conn.Options{WallOffsetNs: 1_700_000_000_000_000_000, Access: api.DataAccessRestricted})
	h.Open(conn.RoleClient)
	reqAt := h.Now
	h.Out("GET /x HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer s3cret\r\nCookie: a=b\r\nX-Api-Key: k\r\nX-Trace: 1\r\n\r\n")
	h.In("HTTP/1.1 201 Created\r\nSet-Cookie: s=1\r\nContent-Length: 2\r\n\r\n")
	respEnd := h.Now + tCall
	h.In("ok")
	if len(h.Recs) != 1 {
		t.Fatalf("got %d records, want 1", len(h.Recs))
	}
	r := h.Recs[0]
	want := &api.HTTPEvent{
		Header: api.Header{Table: api.TableHTTPEvents, V: api.Version},
		ConnColumns: api.ConnColumns{
			Time: 1_700_000_000_000_000_000 + int64(reqAt), PID: 42, Comm: "test",
			LocalAddr: "127.0.0.1", LocalPort: 40000, RemoteAddr: "127.0.0.1", RemotePort: 8080,
			TraceRole: "client", Latency: int64(respEnd - reqAt),
		},
		MajorVersion: 1, MinorVersion: 1, ReqMethod: "GET", ReqPath: "/x",
		ReqHeaders: map[string]string{"Host": "h", "Authorization": "<redacted 13 bytes>", "Cookie": "<redacted 3 bytes>", "X-Api-Key": "<redacted 1 bytes>", "X-Trace": "<redacted 1 bytes>"},
		RespStatus: 201, RespMessage: "Created",
		RespHeaders: map[string]string{"Set-Cookie": "<redacted 3 bytes>", "Content-Length": "2"},
		RespBody:    "<redacted 2 bytes>", RespBodySize: 2,
	}
	if d := cmp.Diff(want, r); d != "" {
		t.Errorf("record (-want +got):\n%s", d)
	}

	// FullData keeps credentials; a server measures from the read's return
	// to the start of the write with the last response byte.
	h = newHarness(t, conn.Options{Access: api.DataAccessFull})
	h.Open(conn.RoleServer)
	arrival := h.Now + tCall
	h.In("GET / HTTP/1.1\r\nAuthorization: Basic eA==\r\n\r\n")
	h.Out("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
	r = h.Recs[0]
	if r.ReqHeaders["Authorization"] != "Basic eA==" {
		t.Errorf("FullData: Authorization = %q", r.ReqHeaders["Authorization"])
	}
	if r.Time != int64(arrival) || r.Latency != int64(h.Now-tStep-arrival) || r.TraceRole != "server" || r.LocalPort != 8080 {
		t.Errorf("server record: time %d latency %d role %s local port %d", r.Time, r.Latency, r.TraceRole, r.LocalPort)
	}
}

// TestSplits feeds the same exchanges cut at every byte, and at random
// points, and expects the same records.
func TestSplits(t *testing.T) {
	reqs := []string{get1, post, "PUT /u HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n10\r\n0123456789abcdef\r\n0\r\nT: 1\r\n\r\n", "HEAD /h HTTP/1.1\r\n\r\n", get2}
	resps := []string{ok5, "HTTP/1.1 100 Continue\r\n\r\n" + ok3, chunk, "HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n", noBody}
	want := []summary{
		w("GET /a 200", "", 0, "hello", 5, "client"),
		w("POST /p 200", "hello world", 11, "abc", 3, "client"),
		w("PUT /u 200", "abc0123456789abcdef", 19, "hello world", 11, "client"),
		w("HEAD /h 200", "", 0, "", 0, "client"),
		w("GET /b?q=1 204", "", 0, "", 0, "client"),
	}
	ignore := cmp.FilterPath(func(p cmp.Path) bool {
		n := p.Last().String()
		return n == ".Msg" || n == ".Minor" || n == ".Latency" || n == ".TimeOff" || n == ".ReqHdr" || n == ".RespHdr"
	}, cmp.Ignore())
	run := func(t *testing.T, cut func(i int, s string) []string, pipelined bool) {
		t.Helper()
		h := newHarness(t, conn.Options{})
		h.Open(conn.RoleClient)
		if pipelined {
			for _, p := range cut(0, strings.Join(reqs, "")) {
				h.Out(p)
			}
			for _, p := range cut(1, strings.Join(resps, "")) {
				h.In(p)
			}
		} else {
			for i := range reqs {
				for _, p := range cut(2*i, reqs[i]) {
					h.Out(p)
				}
				for _, p := range cut(2*i+1, resps[i]) {
					h.In(p)
				}
			}
		}
		var got []summary
		for _, r := range h.Recs {
			got = append(got, sum(r))
		}
		if d := cmp.Diff(want, got, ignore); d != "" {
			t.Fatalf("records (-want +got):\n%s", d)
		}
		if st := h.Stats(); st.ParseErrors+st.Resyncs+st.UnmatchedRequests+st.UnmatchedResponses != 0 {
			t.Fatalf("stats %+v", st)
		}
	}
	for k := 1; k < 400; k++ {
		at := func(_ int, s string) []string {
			if k >= len(s) {
				return []string{s}
			}
			return []string{s[:k], s[k:]}
		}
		run(t, at, false)
		run(t, at, true)
	}
	bytewise := func(_ int, s string) []string { return strings.Split(s, "") }
	run(t, bytewise, false)
	run(t, bytewise, true)
}

func TestBounds(t *testing.T) {
	// More pipelined requests than maxPending: the oldest are dropped
	// and counted; the newest still pair with their responses in order.
	h := newHarness(t, conn.Options{})
	h.Open(conn.RoleServer)
	n := maxPending + 8
	for i := range n {
		h.In(fmt.Sprintf("GET /%d HTTP/1.1\r\n\r\n", i))
	}
	for range maxPending {
		h.Out(ok3)
	}
	if len(h.Recs) != maxPending || h.Recs[0].ReqPath != "/8" || h.Stats().UnmatchedRequests != 8 {
		t.Errorf("pipelining cap: %d records, first %q, stats %+v", len(h.Recs), h.Recs[0].ReqPath, h.Stats())
	}

	// Pending header bytes are bounded by MaxBufferedBytes.
	h = newHarness(t, conn.Options{MaxBufferedBytes: 1000})
	h.Open(conn.RoleServer)
	big := "GET /big HTTP/1.1\r\nX: " + strings.Repeat("v", 400) + "\r\n\r\n"
	h.In(big + big + big)
	h.Out(ok3 + ok3)
	if len(h.Recs) != 2 || h.Stats().UnmatchedRequests != 1 {
		t.Errorf("pending bytes cap: %d records, stats %+v", len(h.Recs), h.Stats())
	}

	// A long request line one byte per call parses, in linear time.
	h = newHarness(t, conn.Options{})
	h.Open(conn.RoleClient)
	long := "GET /" + strings.Repeat("a", maxLine-100) + " HTTP/1.1\r\nHost: x\r\n\r\n"
	for i := range len(long) {
		h.Out(long[i : i+1])
	}
	h.In(ok3)
	if len(h.Recs) != 1 || len(h.Recs[0].ReqPath) != maxLine-99 {
		t.Errorf("long line: %d records", len(h.Recs))
	}
}

// TestNeverInvents: streams without a request line produce no record,
// whatever they hold and however they are cut.
func TestNeverInvents(t *testing.T) {
	streams := []string{
		ok5 + chunk + ok3,
		"HTTP/1.1 200 OK\r\nGET: /x HTTP/1.1\r\n\r\n",
		"get / http/1.1\r\n\r\n",
		"GET / HTTP/2.0\r\n\r\nGET /x HTTP/1.1",
		"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
		strings.Repeat("\r\n", 100),
	}
	for _, s := range streams {
		for _, role := range []conn.Role{conn.RoleClient, conn.RoleServer, conn.RoleUnknown} {
			for _, cut := range []int{1, 3, 1000} {
				h := newHarness(t, conn.Options{})
				h.Open(role)
				for _, p := range cutEvery([]byte(s), cut) {
					h.Out(string(p))
					h.In(string(p))
				}
				h.Close()
				if len(h.Recs) != 0 {
					t.Errorf("%q role %s cut %d: invented %d records", s, role, cut, len(h.Recs))
				}
			}
		}
	}
}

func TestInfer(t *testing.T) {
	tests := []struct {
		data      string
		dir       conn.Dir
		transport uint8
		want      conn.Inference
	}{
		{"GET / HTTP/1.1\r\n", conn.Egress, conn.TransportTCP, conn.Inference{Conf: conn.High, Role: conn.RoleClient}},
		{"GET / HTTP/1.1\r\n", conn.Ingress, conn.TransportTCP, conn.Inference{Conf: conn.High, Role: conn.RoleServer}},
		{"HTTP/1.1 200 OK\r\n", conn.Egress, conn.TransportTCP, conn.Inference{Conf: conn.High, Role: conn.RoleServer}},
		{"HTTP/1.0 404 Not", conn.Ingress, conn.TransportTCP, conn.Inference{Conf: conn.High, Role: conn.RoleClient}},
		{"HTTP/1.", conn.Ingress, conn.TransportTCP, conn.Inference{Conf: conn.NeedMore, Role: conn.RoleClient}},
		{"POS", conn.Egress, conn.TransportTCP, conn.Inference{Conf: conn.NeedMore, Role: conn.RoleClient}},
		{"GET /" + strings.Repeat("x", 300), conn.Egress, conn.TransportTCP, conn.Inference{Conf: conn.High, Role: conn.RoleClient}},
		{"GET / HTTP/1.1\r\n", conn.Egress, conn.TransportUDP, conn.Inference{}},
		{"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", conn.Egress, conn.TransportTCP, conn.Inference{}},
		{"get / HTTP/1.1\r\n", conn.Egress, conn.TransportTCP, conn.Inference{}},
		{"\x16\x03\x01\x02\x00", conn.Egress, conn.TransportTCP, conn.Inference{}},
		{"*1\r\n$4\r\nPING\r\n", conn.Egress, conn.TransportTCP, conn.Inference{}},
		{"", conn.Egress, conn.TransportTCP, conn.Inference{}},
	}
	for _, tt := range tests {
		got := Protocol{}.Infer([]byte(tt.data), tt.dir, tt.transport)
		if tt.want.Conf == conn.NoMatch {
			got.Role = conn.RoleUnknown
		}
		if got != tt.want {
			t.Errorf("Infer(%q, %s) = %+v, want %+v", tt.data, tt.dir, got, tt.want)
		}
	}
}

func TestRepeatedHeaders(t *testing.T) {
	h := newHarness(t, conn.Options{Access: api.DataAccessRestricted})
	h.Open(conn.RoleServer)
	h.In("GET / HTTP/1.1\r\nAccept: a\r\nX-Folded: one\r\n  two\r\nAccept:  b \r\nCookie: c=1\r\nCookie: d=2\r\nAccept: c\r\n\r\n")
	h.Out("HTTP/1.1 200 OK\r\nContent-Length: 0\r\nContent-Length: 0\r\n\r\n")
	if len(h.Recs) != 1 {
		t.Fatalf("%d records", len(h.Recs))
	}
	want := map[string]string{"Accept": "a, b, c", "X-Folded": "<redacted 7 bytes>", "Cookie": "<redacted 8 bytes>"}
	if d := cmp.Diff(want, h.Recs[0].ReqHeaders); d != "" {
		t.Errorf("headers (-want +got):\n%s", d)
	}
}

// TestUnmatchedHeadAnswer: the answer to an unseen HEAD request announces a
// body it does not send; it must not swallow the next answer.
func TestUnmatchedHeadAnswer(t *testing.T) {
	h := newHarness(t, conn.Options{})
	h.Open(conn.RoleUnknown)
	h.In("HTTP/1.1 200 OK\r\nContent-Length: 500\r\n\r\n") // answer to a HEAD sent before tracing
	h.Out(get1)
	h.In("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
	h.Out(get2)
	h.In("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc")
	if len(h.Recs) != 2 || h.Recs[0].RespStatus != 404 || h.Recs[1].ReqPath != "/b?q=1" {
		t.Fatalf("records: %d", len(h.Recs))
	}
}

// TestNoHeaders: with NoHeaders (aggregates only) the records are the same
// but for the header maps, which are not built; framing still comes from
// the headers (Content-Length, chunked).
func TestNoHeaders(t *testing.T) {
	exchange := func(opts conn.Options) *api.HTTPEvent {
		h := newHarness(t, opts)
		h.Open(conn.RoleServer)
		h.In("POST /users/7 HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nX-A: 1\r\n\r\nabc")
		h.Out("HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n")
		if len(h.Recs) != 1 {
			t.Fatalf("got %d records, want 1", len(h.Recs))
		}
		return h.Recs[0]
	}
	with := exchange(conn.Options{})
	without := exchange(conn.Options{NoHeaders: true})
	if without.ReqHeaders != nil || without.RespHeaders != nil {
		t.Fatalf("headers built with NoHeaders: %v %v", without.ReqHeaders, without.RespHeaders)
	}
	with.ReqHeaders, with.RespHeaders = nil, nil
	if d := cmp.Diff(with, without); d != "" {
		t.Fatalf("records differ beyond headers (-with +without):\n%s", d)
	}
	if without.ReqBodySize != 3 || without.RespBodySize != 2 || without.RespStatus != 201 {
		t.Fatalf("framing lost: %+v", without)
	}
}
