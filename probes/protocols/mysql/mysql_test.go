package mysql

import (
	"encoding/binary"
	"encoding/json"
	"strings"
	"testing"

	"github.com/kubectl-pixie/kubectl-pixie/probes/api"
	"github.com/kubectl-pixie/kubectl-pixie/probes/conn"
)

func pkt(seq byte, payload ...string) string {
	p := strings.Join(payload, "")
	n := len(p)
	return string([]byte{byte(n), byte(n >> 8), byte(n >> 16), seq}) + p
}

func le16(v uint16) string { return string(binary.LittleEndian.AppendUint16(nil, v)) }
func le32(v uint32) string { return string(binary.LittleEndian.AppendUint32(nil, v)) }
func lstr(s string) string { return string([]byte{byte(len(s))}) + s }

func greetingPkt(caps uint32) string {
	return pkt(0, "\x0a", "10.11.6-MariaDB-0+deb12u1\x00", le32(7), "abcdefgh", "\x00", le16(uint16(caps)), "\x2d", le16(2),
		le16(uint16(caps>>16)), "\x15", strings.Repeat("\x00", 10), "ijklmnopqrst\x00", "mysql_native_password\x00")
}

func loginPkt(caps uint32) string {
	return pkt(1, le32(caps), le32(1<<24), "\x2d", strings.Repeat("\x00", 23), "root\x00", lstr("hunter2-hash-20bytes"), "app\x00",
		"mysql_native_password\x00")
}

const (
	capsBase = 0x000fa28d // 4.1 protocol, secure connection, plugin auth... (no query attributes)
)

func okPkt(seq byte, affected byte, status uint16) string {
	return pkt(seq, "\x00", string([]byte{affected}), "\x00", le16(status), le16(0))
}
func errPkt(seq byte, code uint16, state, msg string) string {
	return pkt(seq, "\xff", le16(code), "#"+state, msg)
}
func colDef(seq byte, name string) string {
	return pkt(seq, lstr("def"), lstr("app"), lstr("t"), lstr("t"), lstr(name), lstr(name), "\x0c", le16(45), le32(255), "\xfd", le16(0), "\x00", "\x00\x00")
}

// eofOrOK ends a result set: a 5-byte EOF in the classic protocol, an OK
// with the 0xfe header with CLIENT_DEPRECATE_EOF.
func eofOrOK(deprecate bool, seq byte, status uint16) string {
	if deprecate {
		return pkt(seq, "\xfe", "\x00", "\x00", le16(status), le16(0))
	}
	return pkt(seq, "\xfe", le16(0), le16(status))
}

// midEOF is the EOF after the column definitions (classic only).
func midEOF(deprecate bool, seq *byte) string {
	if deprecate {
		return ""
	}
	s := eofOrOK(false, *seq, 2)
	*seq++
	return s
}

type exchange struct{ req, resp string }

// session builds a connection: login, a SELECT, an INSERT with a secret
// literal, a failing SELECT, a prepared statement run twice, a PING, a
// CALL with two result sets, STMT_CLOSE and QUIT.
func session(deprecate bool) []exchange {
	caps := uint32(capsBase)
	if deprecate {
		caps |= capDeprecateEOF
	}
	var ex []exchange
	ex = append(ex, exchange{"", greetingPkt(caps)}, exchange{loginPkt(caps), okPkt(2, 0, 2)})
	var s byte = 1
	next := func() byte { s++; return s - 1 }
	s = 1
	r := pkt(next(), "\x01") + colDef(next(), "name")
	r += midEOF(deprecate, &s)
	r += pkt(next(), lstr("alice")) + pkt(next(), lstr("bob"))
	r += eofOrOK(deprecate, next(), 2)
	ex = append(ex, exchange{pkt(0, "\x03", "SELECT name FROM t WHERE id IN (5, 6)"), r})
	ex = append(ex, exchange{pkt(0, "\x03", "INSERT INTO t VALUES (1, 'secret')"), okPkt(1, 1, 2)})
	ex = append(ex, exchange{pkt(0, "\x03", "SELECT * FROM nosuch"), errPkt(1, 1146, "42S02", "Table 'app.nosuch' doesn't exist")})
	s = 1
	r = pkt(next(), "\x00", le32(1), le16(1), le16(1), "\x00", le16(0)) + colDef(next(), "?")
	r += midEOF(deprecate, &s)
	r += colDef(next(), "v")
	r += midEOF(deprecate, &s)
	ex = append(ex, exchange{pkt(0, "\x16", "SELECT v FROM t WHERE id = ?"), r})
	for range 2 {
		s = 1
		r = pkt(next(), "\x01") + colDef(next(), "v")
		r += midEOF(deprecate, &s)
		r += pkt(next(), "\x00\x00", lstr("secretvalue"))
		r += eofOrOK(deprecate, next(), 2)
		ex = append(ex, exchange{pkt(0, "\x17", le32(1), "\x00", le32(1), "\x00", "\x01", "\xfd\x00", lstr("7")), r})
	}
	ex = append(ex, exchange{pkt(0, "\x0e"), okPkt(1, 0, 2)})
	s = 1
	r = pkt(next(), "\x01") + colDef(next(), "x")
	r += midEOF(deprecate, &s)
	r += pkt(next(), lstr("1"))
	r += eofOrOK(deprecate, next(), 2|statusMoreResults)
	r += okPkt(next(), 0, 2)
	ex = append(ex, exchange{pkt(0, "\x03", "CALL p(42)"), r})
	ex = append(ex, exchange{pkt(0, "\x19", le32(1)), ""})
	ex = append(ex, exchange{pkt(0, "\x01"), ""})
	return ex
}

var sessionWant = []want{
	{"QUERY", "SELECT", "SELECT name FROM t WHERE id IN (?)", "OK", "2 rows", 0},
	{"QUERY", "INSERT", "INSERT INTO t VALUES (?)", "OK", "affected 1", 0},
	{"QUERY", "SELECT", "SELECT * FROM nosuch", "ERR", "ERR 1146", 1146},
	{"STMT_PREPARE", "PREPARE", "SELECT v FROM t WHERE id = ?", "OK", "stmt 1", 0},
	{"STMT_EXECUTE", "SELECT", "SELECT v FROM t WHERE id = ?", "OK", "1 rows", 0},
	{"STMT_EXECUTE", "SELECT", "SELECT v FROM t WHERE id = ?", "OK", "1 rows", 0},
	{"PING", "PING", "", "OK", "affected 0", 0},
	{"QUERY", "CALL", "CALL p(?)", "OK", "1 rows", 0},
	{"STMT_CLOSE", "STMT_CLOSE", "SELECT v FROM t WHERE id = ?", "NONE", "", 0},
	{"QUIT", "QUIT", "", "NONE", "", 0},
}

type want struct {
	cmd, kind, tmpl, status, body string
	code                          int
}

func check(t *testing.T, h *harness, ws []want) {
	t.Helper()
	if len(h.Recs) != len(ws) {
		var got []string
		for _, r := range h.Recs {
			got = append(got, r.ReqCmd+" "+r.QueryTemplate)
		}
		t.Fatalf("got %d records %q, want %d (stats %+v)", len(h.Recs), got, len(ws), h.Stats())
	}
	for i, w := range ws {
		r := h.Recs[i]
		if r.Table != api.TableMySQLEvents {
			t.Errorf("record %d: table %q", i, r.Table)
		}
		if r.ReqCmd != w.cmd || r.QueryKind != w.kind || r.QueryTemplate != w.tmpl || r.RespStatus != w.status || r.RespBody != w.body || r.ErrCode != w.code {
			t.Errorf("record %d = %q %q %q -> %q %q %d; want %q %q %q -> %q %q %d", i, r.ReqCmd, r.QueryKind, r.QueryTemplate, r.RespStatus, r.RespBody, r.ErrCode,
				w.cmd, w.kind, w.tmpl, w.status, w.body, w.code)
		}
		b, _ := json.Marshal(r)
		if strings.Contains(string(b), "secret") || strings.Contains(string(b), "hunter2") {
			t.Errorf("record %d keeps a secret or value: %s", i, b)
		}
	}
}

// play feeds a session, each exchange's request then its response, each
// cut at the given points.
func play(h *harness, role conn.Role, ex []exchange, cut func(s string) []string) {
	reqDir, respDir := conn.Ingress, conn.Egress
	if role == conn.RoleClient {
		reqDir, respDir = conn.Egress, conn.Ingress
	}
	for _, e := range ex {
		for _, part := range cut(e.req) {
			h.Call(reqDir, part, 0, 0)
		}
		for _, part := range cut(e.resp) {
			h.Call(respDir, part, 0, 0)
		}
	}
}

func whole(s string) []string {
	if s == "" {
		return nil
	}
	return []string{s}
}

func TestSession(t *testing.T) {
	for _, deprecate := range []bool{false, true} {
		for _, role := range []conn.Role{conn.RoleClient, conn.RoleServer} {
			h := newHarness(t, conn.Options{})
			h.Open(role)
			play(h, role, session(deprecate), whole)
			h.Close()
			check(t, h, sessionWant)
			for _, r := range h.Recs {
				if r.TraceRole != role.String() || r.Latency < 0 || r.RemotePort == 0 || r.RespStatus != "NONE" && r.Latency <= 0 {
					t.Fatalf("columns %+v", r.ConnColumns)
				}
			}
			if s := h.Stats(); s.UnmatchedRequests+s.UnmatchedResponses+s.ParseErrors+s.Resyncs != 0 {
				t.Fatalf("deprecate %v: stats %+v", deprecate, s)
			}
		}
	}
}

// TestEverySplit cuts every request and response at every point (each
// exchange at the same offset), and byte by byte.
func TestEverySplit(t *testing.T) {
	for _, deprecate := range []bool{false, true} {
		ex := session(deprecate)
		longest := 0
		for _, e := range ex {
			longest = max(longest, len(e.req), len(e.resp))
		}
		for i := 0; i <= longest+1; i++ {
			h := newHarness(t, conn.Options{})
			h.Open(conn.RoleServer)
			play(h, conn.RoleServer, ex, func(s string) []string {
				if s == "" {
					return nil
				}
				if i == longest+1 { // byte by byte
					var parts []string
					for k := range len(s) {
						parts = append(parts, s[k:k+1])
					}
					return parts
				}
				k := min(i, len(s))
				var parts []string
				for _, p := range []string{s[:k], s[k:]} {
					if p != "" {
						parts = append(parts, p)
					}
				}
				return parts
			})
			h.Close()
			check(t, h, sessionWant)
			if t.Failed() {
				t.Fatalf("deprecate %v split %d", deprecate, i)
			}
		}
	}
}

// TestUnknownEOFMode: a connection seen mid-stream (no greeting, no
// login) with both protocol modes: responses still end where they do.
func TestUnknownEOFMode(t *testing.T) {
	for _, deprecate := range []bool{false, true} {
		h := newHarness(t, conn.Options{})
		play(h, conn.RoleClient, session(deprecate)[2:], whole)
		h.Close()
		check(t, h, sessionWant)
		if s := h.Stats(); s.UnmatchedResponses+s.ParseErrors != 0 {
			t.Fatalf("deprecate %v: stats %+v", deprecate, s)
		}
	}
}

// TestMidStream: a response to a command sent before tracing is dropped;
// pairing starts at the next command.
func TestMidStream(t *testing.T) {
	h := newHarness(t, conn.Options{})
	h.In(okPkt(1, 3, 2))                  // an answer to an unseen command
	h.Out(pkt(3, "more infile data"))     // not a command start
	h.Out(pkt(0, "\x03", "SELECT 1"))     // a command
	h.In(pkt(1, "\x01") + colDef(2, "1")) // split response
	h.In(pkt(3, lstr("1")) + eofOrOK(true, 4, 2))
	h.Close()
	check(t, h, []want{{"QUERY", "SELECT", "SELECT ?", "OK", "1 rows", 0}})
}

// TestGaps: a gap inside a row is skipped; at a packet boundary the
// connection is given up, never paired on a guess.
func TestGaps(t *testing.T) {
	h := newHarness(t, conn.Options{})
	h.Open(conn.RoleClient)
	ex := session(true)
	play(h, conn.RoleClient, ex[:2], whole)
	h.Out(pkt(0, "\x03", "SELECT big FROM t"))
	row := pkt(3, lstr(strings.Repeat("x", 200)))
	h.In(pkt(1, "\x01") + colDef(2, "big"))
	h.Call(conn.Ingress, row[:10], len(row), 0)
	h.In(eofOrOK(true, 4, 2))
	check(t, h, []want{{"QUERY", "SELECT", "SELECT big FROM t", "OK", "1 rows", 0}})

	h.Call(conn.Egress, "", 0, len(pkt(0, "\x0e"))) // a PING lost
	h.Out(pkt(0, "\x03", "SELECT 2"))
	h.In(okPkt(1, 0, 2))
	h.In(pkt(1, "\x01") + colDef(2, "x") + pkt(3, lstr("2")) + eofOrOK(true, 4, 2))
	h.Close()
	if len(h.Recs) != 1 || h.Stats().Resyncs != 1 {
		t.Fatalf("paired across a loss: %+v %+v", h.Recs, h.Stats())
	}
}

// TestSSL: a login asking for TLS leaves the connection.
func TestSSL(t *testing.T) {
	h := newHarness(t, conn.Options{})
	h.Open(conn.RoleClient)
	h.In(greetingPkt(capsBase | capSSL))
	h.Out(pkt(1, le32(capsBase|capSSL), le32(1<<24), "\x2d", strings.Repeat("\x00", 23)))
	h.Out("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03") // ClientHello
	h.In("\x16\x03\x03\x00\x7a\x02\x00\x00\x76\x03\x03")
	h.Close()
	if len(h.Recs) != 0 || h.Stats().ParseErrors != 0 {
		t.Fatalf("TLS bytes parsed: %+v %+v", h.Recs, h.Stats())
	}
}

func TestFullData(t *testing.T) {
	h := newHarness(t, conn.Options{FullData: true})
	h.Open(conn.RoleClient)
	ex := session(true)
	play(h, conn.RoleClient, ex[:5], whole)
	h.Close()
	if len(h.Recs) != 3 || h.Recs[1].ReqBody != "INSERT INTO t VALUES (1, 'secret')" || h.Recs[1].QueryTemplate != "INSERT INTO t VALUES (?)" ||
		h.Recs[2].RespBody != "ERR 1146: Table 'app.nosuch' doesn't exist" {
		t.Fatalf("records %+v", h.Recs)
	}
	for _, r := range h.Recs {
		if b, _ := json.Marshal(r); strings.Contains(string(b), "hunter2") {
			t.Errorf("login kept: %s", b)
		}
	}
}

func TestInfer(t *testing.T) {
	g := greetingPkt(capsBase)
	if inf := (Protocol{}).Infer([]byte(g), conn.Egress, conn.TransportTCP); inf.Conf != conn.High || inf.Role != conn.RoleServer {
		t.Errorf("greeting sent: %+v", inf)
	}
	if inf := (Protocol{}).Infer([]byte(g), conn.Ingress, conn.TransportTCP); inf.Conf != conn.High || inf.Role != conn.RoleClient {
		t.Errorf("greeting received: %+v", inf)
	}
	for i := 1; i < 30; i++ {
		if inf := (Protocol{}).Infer([]byte(g[:i]), conn.Ingress, conn.TransportTCP); inf.Conf != conn.NeedMore {
			t.Errorf("greeting prefix %d: %v", i, inf.Conf)
		}
	}
	q := pkt(0, "\x03", "select 1")
	if inf := (Protocol{}).Infer([]byte(q), conn.Egress, conn.TransportTCP); inf.Conf != conn.High || inf.Role != conn.RoleClient {
		t.Errorf("query: %+v", inf)
	}
	for _, s := range []string{"GET / HTTP/1.1\r\n", "*1\r\n$4\r\nPING\r\n", "\x00\x00\x00\x08\x04\xd2\x16\x2f", "Q\x00\x00\x00\x0dSELECT 1\x00",
		pkt(0, "\x0e"), pkt(0, "\x03", "\x01\x02"), okPkt(1, 0, 2)} {
		if inf := (Protocol{}).Infer([]byte(s), conn.Ingress, conn.TransportTCP); inf.Conf == conn.High || inf.Conf == conn.Low {
			t.Errorf("Infer(%q) = %v, want no match", s, inf.Conf)
		}
	}
}

// TestResponseGap: a large result written in calls longer than the
// capture. When the call ending it shows its last packet whole, the
// command is recorded with that status (row count unknown); when not, it
// makes no record and pairing goes on at the next command's response.
func TestResponseGap(t *testing.T) {
	for _, deprecate := range []bool{false, true} {
		var rows strings.Builder
		for i := range 100 {
			rows.WriteString(pkt(byte(3+i), lstr("some row data")))
		}
		for _, tc := range []struct {
			name  string
			tail  string
			want  []want
			unmat uint64
		}{
			{"ok", pkt(200, lstr("x")) + eofOrOK(deprecate, 201, 2), []want{
				{"QUERY", "SELECT", "SELECT * FROM big", "OK", "", 0}, {"QUERY", "SELECT", "SELECT ?", "OK", "1 rows", 0}}, 0},
			{"error", pkt(200, lstr("x")) + errPkt(201, 1317, "70100", "Query execution was interrupted"), []want{
				{"QUERY", "SELECT", "SELECT * FROM big", "ERR", "ERR 1317", 1317}, {"QUERY", "SELECT", "SELECT ?", "OK", "1 rows", 0}}, 0},
			{"no end seen", "", []want{{"QUERY", "SELECT", "SELECT ?", "OK", "1 rows", 0}}, 1},
		} {
			h := newHarness(t, conn.Options{})
			h.Open(conn.RoleServer)
			play(h, conn.RoleServer, session(deprecate)[:2], whole)
			h.In(pkt(0, "\x03", "SELECT * FROM big"))
			head := pkt(1, "\x01") + colDef(2, "big")
			h.Call(conn.Egress, head+rows.String()[:30], len(head)+rows.Len(), 0)
			h.Call(conn.Egress, "\x00\x00", 300, 0) // mid-packet
			if tc.tail != "" {
				h.Out(tc.tail)
			}
			h.In(pkt(0, "\x03", "SELECT 2"))
			h.Out(pkt(1, "\x01") + colDef(2, "2") + midEOF(deprecate, new(byte(3))) + pkt(4, lstr("2")) + eofOrOK(deprecate, 5, 2))
			h.Close()
			check(t, h, tc.want)
			if s := h.Stats(); s.Resyncs != 1 || s.UnmatchedRequests != tc.unmat || s.UnmatchedResponses+s.ParseErrors != 0 {
				t.Fatalf("%s: stats %+v", tc.name, s)
			}
		}
	}
}

// TestInfileGap: LOCAL INFILE data lost across packets: the load is still
// paired with its OK, and commands after it too.
func TestInfileGap(t *testing.T) {
	h := newHarness(t, conn.Options{})
	h.Open(conn.RoleClient)
	play(h, conn.RoleClient, session(true)[:2], whole)
	h.Out(pkt(0, "\x03", "LOAD DATA LOCAL INFILE '/tmp/x' INTO TABLE t"))
	h.In(pkt(1, "\xfb", "/tmp/x"))
	var data strings.Builder
	for i := range 50 {
		data.WriteString(pkt(byte(2+i), "1\tsome line\n"))
	}
	h.Call(conn.Egress, data.String()[:20], data.Len(), 0)
	h.Out(pkt(52, "1\tlast\n") + pkt(53))
	h.In(okPkt(54, 51, 2))
	h.Out(pkt(0, "\x0e"))
	h.In(okPkt(1, 0, 2))
	h.Close()
	check(t, h, []want{
		{"QUERY", "LOAD", "LOAD DATA LOCAL INFILE ? INTO TABLE t", "OK", "affected 51", 0},
		{"PING", "PING", "", "OK", "affected 0", 0},
	})
	if s := h.Stats(); s.Resyncs != 1 || s.UnmatchedRequests+s.UnmatchedResponses+s.ParseErrors != 0 {
		t.Fatalf("stats %+v", s)
	}
}

// TestBackslashMode: whether a backslash escapes a quote comes from the
// server's status flags (sql_mode NO_BACKSLASH_ESCAPES); until one is
// seen, a string whose end depends on it makes the rest one literal.
func TestBackslashMode(t *testing.T) {
	h := newHarness(t, conn.Options{})
	ambiguous := `SELECT 'C:\', 'pxleak'`
	h.Out(pkt(0, "\x03", ambiguous)) // mid-stream: no status seen yet
	h.In(errPkt(1, 1064, "42000", "syntax"))
	h.Out(pkt(0, "\x03", "SET sql_mode = ''"))
	h.In(okPkt(1, 0, 2))
	h.Out(pkt(0, "\x03", `SELECT 'O\'Brien', "pxleak"`))
	h.In(errPkt(1, 1064, "42000", "syntax"))
	h.Out(pkt(0, "\x03", "SET sql_mode = 'NO_BACKSLASH_ESCAPES'"))
	h.In(okPkt(1, 0, 2|statusNoBackslash))
	h.Out(pkt(0, "\x03", ambiguous))
	h.In(errPkt(1, 1064, "42000", "syntax"))
	h.Close()
	want := []string{"SELECT ?…", "SET sql_mode = ?", "SELECT ?", "SET sql_mode = ?", "SELECT ?"}
	if len(h.Recs) != len(want) {
		t.Fatalf("%d records, want %d: %+v", len(h.Recs), len(want), h.Recs)
	}
	for i, r := range h.Recs {
		if r.QueryTemplate != want[i] || r.ReqBody != want[i] || strings.Contains(r.ReqBody, "pxleak") {
			t.Errorf("record %d: template %q body %q, want %q", i, r.QueryTemplate, r.ReqBody, want[i])
		}
	}
}
