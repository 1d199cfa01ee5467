package pgsql

import (
	"encoding/binary"
	"encoding/json"
	"strings"
	"testing"

	"github.com/kubectl-pixie/kubectl-pixie/probes/api"
	"github.com/kubectl-pixie/kubectl-pixie/probes/conn"
)

// msg encodes a typed message; body parts are joined as is.
func msg(typ byte, parts ...string) string {
	body := strings.Join(parts, "")
	b := make([]byte, 5, 5+len(body))
	b[0] = typ
	binary.BigEndian.PutUint32(b[1:], uint32(4+len(body)))
	return string(append(b, body...))
}

func u32(v uint32) string { return string(binary.BigEndian.AppendUint32(nil, v)) }
func u16(v uint16) string { return string(binary.BigEndian.AppendUint16(nil, v)) }

func untyped(code uint32, rest string) string {
	return u32(uint32(8+len(rest))) + u32(code) + rest
}

var (
	sslRequest = untyped(codeSSL, "")
	startup    = untyped(codeProtocol3, "user\x00alice\x00database\x00app\x00\x00")
	password   = msg('p', "hunter2\x00")
	query      = func(q string) string { return msg('Q', q+"\x00") }
	parse      = func(name, q string) string { return msg('P', name+"\x00", q+"\x00", u16(0)) }
	bind       = func(portal, stmt, val string) string {
		return msg('B', portal+"\x00", stmt+"\x00", u16(0), u16(1), u32(uint32(len(val))), val, u16(0))
	}
	describe = msg('D', "P\x00")
	execute  = func(portal string) string { return msg('E', portal+"\x00", u32(0)) }
	sync     = msg('S')

	authOK      = msg('R', u32(0))
	authClear   = msg('R', u32(3))
	paramStatus = msg('S', "server_version\x0015\x00")
	keyData     = msg('K', u32(1), u32(2))
	ready       = msg('Z', "I")
	rowDesc     = msg('T', u16(1), "c\x00", u32(0), u16(0), u32(23), u16(4), u32(0), u16(0))
	dataRow     = func(v string) string { return msg('D', u16(1), u32(uint32(len(v))), v) }
	complete    = func(tag string) string { return msg('C', tag+"\x00") }
	errorResp   = func(code, m string) string {
		return msg('E', "SERROR\x00", "VERROR\x00", "C"+code+"\x00", "M"+m+"\x00", "\x00")
	}
	parseOK  = msg('1')
	bindOK   = msg('2')
	noticeA  = msg('A', u32(9), "chan\x00", "payload\x00")
	noticeN  = msg('N', "SNOTICE\x00", "\x00")
	copyIn   = msg('G', "\x00", u16(1), u16(0))
	copyData = func(s string) string { return msg('d', s) }
	copyDone = msg('c')
)

// session is a client's whole conversation: SSL refused, password
// authentication, simple queries (one failing), an extended query, two
// pipelined extended queries, a COPY, and an asynchronous notification.
var (
	sessReq = sslRequest + startup + password +
		query("SELECT 1") +
		query("insert into t values (42, 'secret')") +
		query("SELECT * FROM nosuch") +
		parse("", "SELECT v FROM t WHERE id = $1") + bind("", "", "7") + describe + execute("") + sync +
		parse("s1", "UPDATE t SET v = v + 1 WHERE id = $1") + bind("", "s1", "1") + execute("") + sync +
		bind("", "s1", "2") + execute("") + sync +
		query("COPY t FROM STDIN") + copyData("1\t2\n") + copyData("3\t4\n") + copyDone +
		query("LISTEN chan")
	sessResp = "N" + authClear + authOK + paramStatus + keyData + ready +
		rowDesc + dataRow("1") + complete("SELECT 1") + ready +
		complete("INSERT 0 1") + ready +
		errorResp("42P01", `relation "nosuch" does not exist`) + ready +
		parseOK + bindOK + rowDesc + dataRow("secretvalue") + complete("SELECT 1") + ready +
		parseOK + bindOK + complete("UPDATE 1") + noticeN + ready +
		bindOK + complete("UPDATE 1") + ready +
		copyIn + complete("COPY 2") + ready +
		complete("LISTEN") + noticeA + ready
	sessWant = []want{
		{"QUERY", "SELECT", "SELECT ?", "SELECT 1", ""},
		{"QUERY", "INSERT", "INSERT into t values (?)", "INSERT 0 1", ""},
		{"QUERY", "SELECT", "SELECT * FROM nosuch", "ERROR 42P01", "42P01"},
		{"EXECUTE", "SELECT", "SELECT v FROM t WHERE id = $1", "SELECT 1", ""},
		{"EXECUTE", "UPDATE", "UPDATE t SET v = v + ? WHERE id = $1", "UPDATE 1", ""},
		{"EXECUTE", "UPDATE", "UPDATE t SET v = v + ? WHERE id = $1", "UPDATE 1", ""},
		{"QUERY", "COPY", "COPY t FROM STDIN", "COPY 2", ""},
		{"QUERY", "LISTEN", "LISTEN chan", "LISTEN", ""},
	}
)

type want struct {
	cmd, kind, tmpl, resp, state string
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
		if r.Table != api.TablePgSQLEvents {
			t.Errorf("record %d: table %q", i, r.Table)
		}
		if r.ReqCmd != w.cmd || r.QueryKind != w.kind || r.QueryTemplate != w.tmpl || r.Resp != w.resp || r.SQLState != w.state {
			t.Errorf("record %d = %q %q %q -> %q (%q); want %q %q %q -> %q (%q)", i, r.ReqCmd, r.QueryKind, r.QueryTemplate, r.Resp, r.SQLState,
				w.cmd, w.kind, w.tmpl, w.resp, w.state)
		}
		b, _ := json.Marshal(r)
		if strings.Contains(string(b), "hunter2") || strings.Contains(string(b), "secret") || strings.Contains(string(b), "alice") {
			t.Errorf("record %d keeps a secret or value: %s", i, b)
		}
	}
}

func TestInfer(t *testing.T) {
	for _, s := range []string{startup, sslRequest, query("SELECT 1"), parse("", "select 1")} {
		for _, dir := range []conn.Dir{conn.Egress, conn.Ingress} {
			inf := Protocol{}.Infer([]byte(s), dir, conn.TransportTCP)
			role := conn.RoleClient
			if dir == conn.Ingress {
				role = conn.RoleServer
			}
			if inf.Conf != conn.High || inf.Role != role {
				t.Errorf("Infer(%q, %v) = %+v", s, dir, inf)
			}
		}
		for i := 1; i < len(s); i++ {
			if inf := (Protocol{}).Infer([]byte(s[:i]), conn.Egress, conn.TransportTCP); inf.Conf == conn.NoMatch || inf.Conf == conn.High && i < 8 {
				t.Errorf("prefix %q: %v", s[:i], inf.Conf)
			}
		}
	}
	for _, s := range []string{"GET / HTTP/1.1\r\n", "*1\r\n$4\r\nPING\r\n", ready, complete("SELECT 1"), msg('Q', "\x01\x02\x00"),
		query("SELECT 1")[:len(query("SELECT 1"))-1] + "x", "\x00\x00\x00\x10\x00\x00\x00\x00"} {
		if inf := (Protocol{}).Infer([]byte(s), conn.Ingress, conn.TransportTCP); inf.Conf == conn.High || inf.Conf == conn.Low {
			t.Errorf("Infer(%q) = %v, want no match", s, inf.Conf)
		}
	}
	if inf := (Protocol{}).Infer([]byte(startup), conn.Egress, conn.TransportUDP); inf.Conf != conn.NoMatch {
		t.Errorf("UDP: %v", inf.Conf)
	}
}

// TestEverySplit cuts the request stream and the response stream at every
// point, as clients and servers do when reads return partial data.
func TestEverySplit(t *testing.T) {
	for _, role := range []conn.Role{conn.RoleClient, conn.RoleServer} {
		reqDir, respDir := conn.Ingress, conn.Egress
		if role == conn.RoleClient {
			reqDir, respDir = conn.Egress, conn.Ingress
		}
		for i := 0; i <= len(sessReq); i++ {
			for _, j := range []int{0, 1, 2, 7, 20, len(sessResp) / 2, len(sessResp) - 3, len(sessResp)} {
				h := newHarness(t, conn.Options{})
				h.Open(role)
				for _, part := range []string{sessReq[:i], sessReq[i:]} {
					if part != "" {
						h.Call(reqDir, part, 0, 0)
					}
				}
				for _, part := range []string{sessResp[:j], sessResp[j:]} {
					if part != "" {
						h.Call(respDir, part, 0, 0)
					}
				}
				h.Close()
				check(t, h, sessWant)
				if t.Failed() {
					t.Fatalf("split %d/%d", i, j)
				}
				for _, r := range h.Recs {
					if r.TraceRole != role.String() || r.Latency <= 0 || r.RemotePort == 0 {
						t.Fatalf("split %d/%d: columns %+v", i, j, r.ConnColumns)
					}
				}
				if s := h.Stats(); s.UnmatchedRequests+s.UnmatchedResponses+s.ParseErrors+s.Resyncs != 0 || s.Pushes != 1 {
					t.Fatalf("split %d/%d: stats %+v", i, j, s)
				}
			}
		}
	}
}

// TestEveryResponseSplit cuts the responses at every point, one query at
// a time as psql sends them.
func TestEveryResponseSplit(t *testing.T) {
	for j := 0; j <= len(sessResp); j++ {
		h := newHarness(t, conn.Options{})
		h.Open(conn.RoleClient)
		h.Out(sessReq)
		for _, part := range []string{sessResp[:j], sessResp[j:]} {
			if part != "" {
				h.In(part)
			}
		}
		h.Close()
		check(t, h, sessWant)
		if t.Failed() {
			t.Fatalf("split %d", j)
		}
	}
}

// TestByteAtATime feeds one byte per call, each unit's request before
// its response.
func TestByteAtATime(t *testing.T) {
	h := newHarness(t, conn.Options{})
	h.Open(conn.RoleServer)
	for i := range len(sessReq) {
		h.In(sessReq[i : i+1])
	}
	for i := range len(sessResp) {
		h.Out(sessResp[i : i+1])
	}
	h.Close()
	check(t, h, sessWant)
}

func TestFullData(t *testing.T) {
	h := newHarness(t, conn.Options{FullData: true})
	h.Open(conn.RoleClient)
	h.Out(startup + password + query("insert into t values (42, 'secret')") + query("SELECT * FROM nosuch"))
	h.In(authClear + authOK + ready + complete("INSERT 0 1") + ready + errorResp("42P01", `relation "nosuch" does not exist`) + ready)
	h.Close()
	if len(h.Recs) != 2 || h.Recs[0].Req != "insert into t values (42, 'secret')" || h.Recs[0].QueryTemplate != "INSERT into t values (?)" ||
		h.Recs[1].Resp != `ERROR 42P01: relation "nosuch" does not exist` {
		t.Fatalf("records %+v", h.Recs)
	}
	for _, r := range h.Recs {
		if b, _ := json.Marshal(r); strings.Contains(string(b), "hunter2") {
			t.Errorf("password kept under full data: %s", b)
		}
	}
	// Without full data, the literals are gone from req too.
	h = newHarness(t, conn.Options{})
	h.Open(conn.RoleClient)
	h.Out(startup + query("insert into t values (42, 'secret')"))
	h.In(authOK + ready + complete("INSERT 0 1") + ready)
	if len(h.Recs) != 1 || h.Recs[0].Req != "INSERT into t values (?)" {
		t.Fatalf("records %+v", h.Recs)
	}
}

// TestExtendedBatchError: an error in a batch skips the rest up to Sync;
// the executes after it were not run and make no records.
func TestExtendedBatchError(t *testing.T) {
	h := newHarness(t, conn.Options{})
	h.Open(conn.RoleClient)
	h.Out(startup)
	h.In(authOK + ready)
	h.Out(parse("", "SELECT 1/0") + bind("", "", "") + execute("") + parse("", "SELECT 2") + bind("", "", "") + execute("") + sync + parse("p", "SELECT $1::int") + describe + sync)
	h.In(parseOK + bindOK + errorResp("22012", "division by zero") + ready + parseOK + msg('t', u16(1), u32(23)) + msg('n') + ready)
	h.Close()
	check(t, h, []want{
		{"EXECUTE", "SELECT", "SELECT ?/?", "ERROR 22012", "22012"},
		{"PREPARE", "PREPARE", "SELECT $1::int", "PARSE", ""},
	})
}

// TestGaps: bytes lost inside a data row or a query are skipped; lost at
// a message boundary, the connection is given up, never paired on a guess.
func TestGaps(t *testing.T) {
	h := newHarness(t, conn.Options{})
	h.Open(conn.RoleClient)
	h.Out(startup)
	h.In(authOK + ready)
	q := query("SELECT 'a long literal that the capture cuts' FROM t")
	h.Call(conn.Egress, q[:12], len(q), 0) // truncated capture
	row := dataRow(strings.Repeat("x", 100))
	h.Call(conn.Ingress, rowDesc+row[:20], len(rowDesc)+len(row), 0)
	h.In(complete("SELECT 1") + ready)
	check(t, h, []want{{"QUERY", "SELECT", "SELECT…", "SELECT 1", ""}})

	// A whole query lost: its answer must not pair with the next one.
	h.Call(conn.Egress, "", 0, len(query("SELECT 1")))
	h.Out(query("SELECT 2"))
	h.In(complete("SELECT 1") + ready + complete("SELECT 1") + ready)
	h.Close()
	if len(h.Recs) != 1 {
		t.Fatalf("paired across a loss: %+v", h.Recs[1:])
	}
	if s := h.Stats(); s.Resyncs != 1 {
		t.Fatalf("stats %+v", s)
	}
}

// TestMidStream: a connection first seen mid-stream starts at a query; a
// response to something sent before is dropped, not paired.
func TestMidStream(t *testing.T) {
	h := newHarness(t, conn.Options{})
	h.In(dataRow("old") + complete("SELECT 1") + ready) // answer to an unseen query
	h.Out(copyData("x"))                                // not a message start we can trust
	h.Out(query("SELECT 2"))
	h.In(rowDesc + dataRow("2") + complete("SELECT 1") + ready)
	h.Out(parse("", "SELECT 3") + bind("", "", "") + execute("") + sync)
	h.In(parseOK + bindOK + complete("SELECT 1") + ready)
	h.Close()
	check(t, h, []want{
		{"QUERY", "SELECT", "SELECT ?", "SELECT 1", ""},
		{"EXECUTE", "SELECT", "SELECT ?", "SELECT 1", ""},
	})
	if s := h.Stats(); s.UnmatchedResponses != 0 || s.ParseErrors != 0 {
		t.Fatalf("stats %+v", s)
	}
}

// TestBounds: a huge query is templated from its first bytes and every
// column stays bounded.
func TestBounds(t *testing.T) {
	h := newHarness(t, conn.Options{BodyLimit: 64, MaxBufferedBytes: 1024})
	h.Open(conn.RoleServer)
	big := "INSERT INTO t VALUES " + strings.Repeat("(1, 'x'), ", 20000) + "(2, 'y')"
	h.In(startup)
	h.Out(authOK + ready)
	h.In(query(big))
	h.Out(complete("INSERT 0 20001") + ready)
	h.Close()
	if len(h.Recs) != 1 {
		t.Fatalf("records %+v", h.Recs)
	}
	r := h.Recs[0]
	if r.QueryTemplate != "INSERT INTO t VALUES (?)…" || len(r.Req) > 64+len("…") || r.ReqBytes != int64(len(query(big))) {
		t.Fatalf("record %+v", r)
	}
}

// TestCopyGap: COPY data lost across messages (a server's truncated reads
// of a bulk load) does not end the connection: the COPY is answered and
// paired, and pairing goes on at the next query after its answer.
func TestCopyGap(t *testing.T) {
	for _, role := range []conn.Role{conn.RoleClient, conn.RoleServer} {
		reqDir, respDir := conn.Ingress, conn.Egress
		if role == conn.RoleClient {
			reqDir, respDir = conn.Egress, conn.Ingress
		}
		h := newHarness(t, conn.Options{})
		h.Open(role)
		h.Call(reqDir, startup, 0, 0)
		h.Call(respDir, authOK+ready, 0, 0)
		h.Call(reqDir, query("COPY t FROM STDIN"), 0, 0)
		h.Call(respDir, copyIn, 0, 0)
		data := strings.Repeat(copyData("1\t2\n"), 100) + copyDone
		h.Call(reqDir, data[:30], len(data), 0) // captured 30 of the bytes
		h.Call(reqDir, copyData("9\t9\n")+copyDone, 0, 0)
		h.Call(respDir, complete("COPY 101")+ready, 0, 0)
		h.Call(reqDir, query("SELECT 2"), 0, 0)
		h.Call(respDir, complete("SELECT 1")+ready, 0, 0)
		h.Close()
		check(t, h, []want{
			{"QUERY", "COPY", "COPY t FROM STDIN", "COPY 101", ""},
			{"QUERY", "SELECT", "SELECT ?", "SELECT 1", ""},
		})
		if s := h.Stats(); s.Resyncs != 1 || s.UnmatchedRequests+s.UnmatchedResponses+s.ParseErrors != 0 {
			t.Fatalf("stats %+v", s)
		}
	}
}

// TestResponseGap: an answer's bytes lost across messages (a large result
// written in calls longer than the capture) while one unit waits. If the
// call that ends the answer shows its CommandComplete or ErrorResponse
// whole, the unit is recorded with it; if not, the unit makes no record
// and pairing goes on with the next unit's answer.
func TestResponseGap(t *testing.T) {
	rows := strings.Repeat(dataRow("some row data"), 100)
	for _, tc := range []struct {
		name  string
		tail  string // the last call of the big answer, fully captured
		want  []want
		unmat uint64
	}{
		{"complete", dataRow("x") + complete("SELECT 101") + ready,
			[]want{{"QUERY", "SELECT", "SELECT * FROM big", "SELECT 101", ""}, {"QUERY", "SELECT", "SELECT ?", "SELECT 1", ""}}, 0},
		{"error", dataRow("x") + errorResp("22012", "division by zero") + ready,
			[]want{{"QUERY", "SELECT", "SELECT * FROM big", "ERROR 22012", "22012"}, {"QUERY", "SELECT", "SELECT ?", "SELECT 1", ""}}, 0},
		{"no end seen", "", []want{{"QUERY", "SELECT", "SELECT ?", "SELECT 1", ""}}, 1},
		{"end unreadable", "ow data" + complete("SELECT 101")[:4] + "\x00\x00" + ready, []want{{"QUERY", "SELECT", "SELECT ?", "SELECT 1", ""}}, 1},
	} {
		h := newHarness(t, conn.Options{})
		h.Open(conn.RoleServer)
		h.In(startup)
		h.Out(authOK + ready)
		h.In(query("SELECT * FROM big"))
		h.Call(conn.Egress, rowDesc+rows[:20], len(rowDesc)+len(rows), 0)
		h.Call(conn.Egress, rows[:10], 200, 0) // mid-row
		if tc.tail != "" {
			h.Out(tc.tail)
		}
		h.In(query("SELECT 2"))
		h.Out(complete("SELECT 1") + ready)
		h.Close()
		check(t, h, tc.want)
		if s := h.Stats(); s.Resyncs != 1 || s.UnmatchedRequests != tc.unmat || s.UnmatchedResponses+s.ParseErrors != 0 {
			t.Fatalf("%s: stats %+v", tc.name, s)
		}
	}

	// With two units waiting, a loss in the answers ends the pairing.
	h := newHarness(t, conn.Options{})
	h.Open(conn.RoleClient)
	h.Out(startup)
	h.In(authOK + ready)
	h.Out(query("SELECT 1") + query("SELECT 2"))
	h.Call(conn.Ingress, "", 0, 30)
	h.In(complete("SELECT 1") + ready)
	h.Out(query("SELECT 3"))
	h.In(complete("SELECT 1") + ready)
	h.Close()
	if len(h.Recs) != 0 {
		t.Fatalf("paired across a loss: %+v", h.Recs)
	}
}

// TestDataAccessModes: restricted keeps no literal even where the string's
// end depends on standard_conforming_strings; none keeps the template and
// SQLSTATE, no statement text and no error text.
func TestDataAccessModes(t *testing.T) {
	h := newHarness(t, conn.Options{Access: api.DataAccessRestricted})
	h.Open(conn.RoleClient)
	h.Out(startup + query(`SELECT 'O\'Brien pxleak tail'`))
	h.In(authOK + ready + complete("SELECT 1") + ready)
	if len(h.Recs) != 1 || h.Recs[0].Req != "SELECT ?…" || h.Recs[0].QueryTemplate != "SELECT ?…" {
		t.Fatalf("restricted: records %+v", h.Recs)
	}
	h = newHarness(t, conn.Options{Access: api.DataAccessNone})
	h.Open(conn.RoleClient)
	h.Out(startup + query("insert into t values (42, 'secret')") + query("SELECT * FROM nosuch"))
	h.In(authOK + ready + complete("INSERT 0 1") + ready + errorResp("42P01", `relation "nosuch" does not exist`) + ready)
	if len(h.Recs) != 2 || h.Recs[0].QueryTemplate != "INSERT into t values (?)" || h.Recs[1].SQLState != "42P01" {
		t.Fatalf("none: records %+v", h.Recs)
	}
	for _, r := range h.Recs {
		if r.Req != "" || r.Resp != "" {
			t.Errorf("none keeps text: %+v", r)
		}
	}
}

// TestConformingStrings: standard_conforming_strings as the server reports
// it at startup says how to read strings; after a change (SET) it is
// unsure again, and a string whose end depends on it ends the template.
func TestConformingStrings(t *testing.T) {
	h := newHarness(t, conn.Options{})
	h.Open(conn.RoleClient)
	ambiguous := `SELECT 'C:\' AS p, 'pxleak'`
	h.Out(startup)
	h.In(authOK + msg('S', "standard_conforming_strings\x00on\x00") + ready)
	h.Out(query(ambiguous))
	h.In(complete("SELECT 1") + ready)
	h.Out(query("SET standard_conforming_strings = off"))
	h.In(msg('S', "standard_conforming_strings\x00off\x00") + complete("SET") + ready)
	h.Out(query(ambiguous))
	h.In(complete("SELECT 1") + ready)
	want := []string{"SELECT ? AS p, ?", "SET standard_conforming_strings = off", "SELECT ?…"}
	if len(h.Recs) != len(want) {
		t.Fatalf("%d records, want %d: %+v", len(h.Recs), len(want), h.Recs)
	}
	for i, r := range h.Recs {
		if r.QueryTemplate != want[i] || strings.Contains(r.Req, "pxleak") {
			t.Errorf("record %d: template %q req %q, want %q", i, r.QueryTemplate, r.Req, want[i])
		}
	}
}
