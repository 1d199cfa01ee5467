package cql

import (
	"encoding/binary"
	"encoding/json"
	"hash/crc32"
	"net/netip"
	"strings"
	"testing"

	"github.com/kubectl-pixie/kubectl-pixie/probes/api"
	"github.com/kubectl-pixie/kubectl-pixie/probes/conn"
	"github.com/kubectl-pixie/kubectl-pixie/probes/protocols/internal/prototest"
)

type harness = prototest.Harness[*api.CQLEvent]

func newHarness(tb testing.TB, opts conn.Options) *harness {
	return prototest.New[*api.CQLEvent](tb, opts, Protocol{}, netip.MustParseAddrPort("127.0.0.1:9042"))
}

// Builders of the protocol's notations and frames.
func u16(n int) []byte           { return binary.BigEndian.AppendUint16(nil, uint16(n)) }
func i32(n int) []byte           { return binary.BigEndian.AppendUint32(nil, uint32(n)) }
func str(s string) []byte        { return append(u16(len(s)), s...) }
func longStr(s string) []byte    { return append(i32(len(s)), s...) }
func shortBytes(b string) []byte { return append(u16(len(b)), b...) }
func cat(bs ...[]byte) []byte {
	var out []byte
	for _, b := range bs {
		out = append(out, b...)
	}
	return out
}

func frame(version byte, resp bool, flags byte, stream int16, op byte, body []byte) []byte {
	if resp {
		version |= 0x80
	}
	return cat([]byte{version, flags}, u16(int(uint16(stream))), []byte{op}, i32(len(body)), body)
}

func req(stream int16, op byte, body []byte) []byte  { return frame(4, false, 0, stream, op, body) }
func resp(stream int16, op byte, body []byte) []byte { return frame(4, true, 0, stream, op, body) }

// query is a QUERY's body: the statement, consistency ONE, no flags.
func query(q string) []byte { return cat(longStr(q), u16(1), []byte{0}) }

// rows is a Rows result of text columns of ks.items and n rows of one
// value each.
func rows(n int, more bool, cols ...string) []byte {
	flags := rowsGlobalSpec
	var paging []byte
	if more {
		flags |= rowsMorePages
		paging = longStr("page2")
	}
	b := cat(i32(2), i32(flags), i32(len(cols)), paging, str("ks"), str("items"))
	for _, c := range cols {
		b = cat(b, str(c), u16(0x000d))
	}
	b = cat(b, i32(n))
	for range n {
		for range cols {
			b = cat(b, longStr("v"))
		}
	}
	return b
}

func errBody(code int, msg string) []byte { return cat(i32(code), str(msg)) }

// segment wraps payload in a v5 uncompressed segment.
func segment(payload []byte, selfContained bool) []byte {
	v := uint64(len(payload))
	if selfContained {
		v |= 1 << 17
	}
	crc := crc24(v, 3)
	h := []byte{byte(v), byte(v >> 8), byte(v >> 16), byte(crc), byte(crc >> 8), byte(crc >> 16)}
	c := crc32.Update(crc32Init, crc32.IEEETable, payload)
	return cat(h, payload, binary.LittleEndian.AppendUint32(nil, c))
}

// exchange is one call: out from the client (else from the server).
type exchange struct {
	out  bool
	data []byte
}

const prepID = "\x01\x02\x03\x04"

var session = []exchange{
	{true, req(0, opOptions, nil)},
	{false, resp(0, opSupported, cat(u16(1), str("CQL_VERSION"), u16(1), str("3.4.5")))},
	{true, req(1, opStartup, cat(u16(1), str("CQL_VERSION"), str("3.0.0")))},
	{false, resp(1, opReady, nil)},
	{true, req(2, opRegister, cat(u16(1), str("SCHEMA_CHANGE")))},
	{false, resp(2, opReady, nil)},
	{true, req(3, opQuery, query("SELECT name FROM ks.items WHERE id = 42"))},
	{false, resp(3, opResult, rows(1, false, "name"))},
	{true, req(4, opPrepare, longStr("SELECT name FROM ks.items WHERE id = ?"))},
	{false, resp(4, opResult, cat(i32(4), shortBytes(prepID)))},
	// two in flight, answered out of order
	{true, cat(req(5, opExecute, cat(shortBytes(prepID), u16(1), []byte{1}, u16(1), longStr("\x00\x00\x00\x07"))), req(6, opQuery, query("SELECT * FROM ks.nope")))},
	{false, resp(6, opError, errBody(0x2200, "unconfigured table nope"))},
	{false, resp(5, opResult, rows(3, true, "name"))},
	{true, req(7, opBatch, cat([]byte{0}, u16(2), []byte{0}, longStr("INSERT INTO ks.items (id, name) VALUES (1, 'a')"), u16(0), []byte{1}, shortBytes(prepID), u16(1), longStr("x"), u16(1), []byte{0}))},
	{false, resp(7, opResult, i32(1))},
	{false, resp(-1, opEvent, cat(str("SCHEMA_CHANGE"), str("CREATED"), str("TABLE"), str("ks"), str("t")))},
	{true, req(8, opQuery, query("UPDATE ks.items SET name = 'b' WHERE id = 1"))},
	{false, resp(8, opError, errBody(0x1000, "Cannot achieve consistency level QUORUM"))},
}

type want struct {
	reqOp, respOp, kind, tmpl, reqBody, respBody, errName string
}

var wantSession = []want{
	{"OPTIONS", "SUPPORTED", "", "", "", `{"CQL_VERSION":["3.4.5"]}`, ""},
	{"STARTUP", "READY", "", "", `{"CQL_VERSION":"3.0.0"}`, "", ""},
	{"REGISTER", "READY", "", "", `["SCHEMA_CHANGE"]`, "", ""},
	{"QUERY", "RESULT", "SELECT", "SELECT name FROM ks.items WHERE id = ?", "SELECT name FROM ks.items WHERE id = 42", "1 rows", ""},
	{"PREPARE", "RESULT", "PREPARE", "SELECT name FROM ks.items WHERE id = ?", "SELECT name FROM ks.items WHERE id = ?", "prepared", ""},
	{"QUERY", "ERROR", "SELECT", "SELECT * FROM ks.nope", "SELECT * FROM ks.nope", "Invalid: unconfigured table nope", "Invalid"},
	{"EXECUTE", "RESULT", "SELECT", "SELECT name FROM ks.items WHERE id = ?", "SELECT name FROM ks.items WHERE id = ?", "3 rows, more pages", ""},
	{"BATCH", "RESULT", "BATCH", "INSERT INTO ks.items (id, name) VALUES (?); SELECT name FROM ks.items WHERE id = ?",
		"INSERT INTO ks.items (id, name) VALUES (1, 'a'); SELECT name FROM ks.items WHERE id = ?", "void", ""},
	{"", "EVENT", "", "", "", "SCHEMA_CHANGE CREATED", ""},
	{"QUERY", "ERROR", "UPDATE", "UPDATE ks.items SET name = ? WHERE id = ?", "UPDATE ks.items SET name = 'b' WHERE id = 1", "Unavailable: Cannot achieve consistency level QUORUM", "Unavailable"},
}

func play(h *harness, role conn.Role, xs []exchange, split int) {
	h.Open(role)
	for _, x := range xs {
		dir := conn.Ingress
		if x.out == (role == conn.RoleClient) {
			dir = conn.Egress
		}
		for i := 0; i < len(x.data); i += split {
			h.CallBytes(dir, x.data[i:min(i+split, len(x.data))], 0, 0)
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
		t.Fatalf("%d records, want %d (stats %+v)", len(h.Recs), len(ws), h.Stats())
	}
	for i, w := range ws {
		r := h.Recs[i]
		got := want{r.ReqOp, r.RespOp, r.QueryKind, r.QueryTemplate, r.ReqBody, r.RespBody, r.ErrorName}
		if got != w {
			t.Errorf("record %d:\n got %+v\nwant %+v", i, got, w)
		}
		if (r.Latency > 0) != (w.reqOp != "") {
			t.Errorf("record %d %s: latency %d", i, r.ReqOp, r.Latency)
		}
	}
	if s := h.Stats(); s.ParseErrors+s.UnmatchedRequests+s.UnmatchedResponses+s.Resyncs+s.DroppedBytes != 0 {
		t.Errorf("stats %+v", s)
	}
}

// TestSession: a v4 session from either end, cut at every size: every
// op, statements templated, an EXECUTE shown by its PREPARE, two streams
// answered out of order, a pushed EVENT, errors by name.
func TestSession(t *testing.T) {
	for _, role := range []conn.Role{conn.RoleClient, conn.RoleServer} {
		for _, split := range []int{1, 2, 5, 9, 13, 1 << 20} {
			h := newHarness(t, conn.Options{BodyLimit: 256, FullData: true})
			play(h, role, session, split)
			// Records come in response order; the EVENT as it came.
			check(t, h, wantSession)
		}
	}
}

// TestRestricted: statements as templates, error messages and options
// dropped in restricted mode; none keeps no bodies.
func TestRestricted(t *testing.T) {
	h := newHarness(t, conn.Options{BodyLimit: 256})
	play(h, conn.RoleClient, session, 1<<20)
	if r := h.Recs[3]; r.ReqBody != "SELECT name FROM ks.items WHERE id = ?" {
		t.Errorf("restricted QUERY body %q", r.ReqBody)
	}
	if r := h.Recs[5]; r.RespBody != "Invalid" {
		t.Errorf("restricted ERROR body %q", r.RespBody)
	}
	h = newHarness(t, conn.Options{BodyLimit: 256, Access: api.DataAccessNone})
	play(h, conn.RoleClient, session, 1<<20)
	for _, r := range h.Recs {
		if r.ReqBody != "" || r.RespBody != "" {
			t.Errorf("none keeps %+v", *r)
		}
	}
	if h.Recs[6].QueryTemplate == "" || h.Recs[5].ErrorName != "Invalid" {
		t.Errorf("none loses summaries: %+v", h.Recs)
	}
}

// TestV5Segments: after a v5 STARTUP is answered, frames travel in
// segments; a frame larger than a segment spans several; a checksum that
// does not match breaks that direction for good.
func TestV5Segments(t *testing.T) {
	q := "SELECT name FROM ks.items WHERE id = 7"
	big := "INSERT INTO ks.items (id, name) VALUES (2, '" + strings.Repeat("x", 200) + "')"
	bigFrame := frame(5, false, 0, 3, opQuery, query(big))
	xs := []exchange{
		{true, frame(5, false, 0, 1, opStartup, cat(u16(1), str("CQL_VERSION"), str("3.0.0")))},
		{false, frame(5, true, 0, 1, opReady, nil)},
		{true, segment(cat(frame(5, false, 0, 2, opQuery, query(q)), frame(5, false, 0, 4, opOptions, nil)), true)},
		{false, segment(cat(frame(5, true, 0, 2, opResult, rows(2, false, "name")), frame(5, true, 0, 4, opSupported, u16(0))), true)},
		{true, cat(segment(bigFrame[:100], false), segment(bigFrame[100:], false))},
		{false, segment(frame(5, true, 0, 3, opResult, i32(1)), true)},
	}
	for _, split := range []int{1, 3, 7, 1 << 20} {
		h := newHarness(t, conn.Options{BodyLimit: 256, FullData: true})
		play(h, conn.RoleClient, xs, split)
		check(t, h, []want{
			{"STARTUP", "READY", "", "", `{"CQL_VERSION":"3.0.0"}`, "", ""},
			{"QUERY", "RESULT", "SELECT", "SELECT name FROM ks.items WHERE id = ?", q, "2 rows", ""},
			{"OPTIONS", "SUPPORTED", "", "", "", "{}", ""},
			{"QUERY", "RESULT", "INSERT", "INSERT INTO ks.items (id, name) VALUES (?)", big, "void", ""},
		})
		if h.Recs[1].Version != 5 {
			t.Errorf("version %d", h.Recs[1].Version)
		}
	}
	bad := segment(frame(5, false, 0, 2, opQuery, query(q)), true)
	bad[len(bad)-1] ^= 1
	h := newHarness(t, conn.Options{BodyLimit: 256})
	play(h, conn.RoleClient, append(xs[:2:2], exchange{true, bad}, exchange{true, segment(frame(5, false, 0, 5, opOptions, nil), true)}), 1<<20)
	if s := h.Stats(); len(h.Recs) != 1 || s.ParseErrors != 1 || s.DroppedBytes == 0 {
		t.Errorf("bad checksum: records %+v stats %+v", h.Recs, s)
	}
}

// TestV5Compressed: after a v5 STARTUP that asked for LZ4, segments
// are compressed: their frames are counted as dropped bytes, never read.
func TestV5Compressed(t *testing.T) {
	lz4Segment := func(compressed []byte) []byte {
		v := uint64(len(compressed)) | uint64(100)<<17 | 1<<34
		crc := crc24(v, 5)
		h := []byte{byte(v), byte(v >> 8), byte(v >> 16), byte(v >> 24), byte(v >> 32), byte(crc), byte(crc >> 8), byte(crc >> 16)}
		return cat(h, compressed, []byte{1, 2, 3, 4})
	}
	xs := []exchange{
		{true, frame(5, false, 0, 1, opStartup, cat(u16(2), str("CQL_VERSION"), str("3.0.0"), str("COMPRESSION"), str("lz4")))},
		{false, frame(5, true, 0, 1, opReady, nil)},
		{true, lz4Segment([]byte("\x00\x00\x00\x10compressed frames"))},
		{false, lz4Segment([]byte("\x00\x00\x00\x08answer"))},
	}
	h := newHarness(t, conn.Options{BodyLimit: 256})
	play(h, conn.RoleClient, xs, 1<<20)
	if s := h.Stats(); len(h.Recs) != 1 || s.DroppedBytes != uint64(len("\x00\x00\x00\x10compressed frames")+len("\x00\x00\x00\x08answer")) || s.ParseErrors != 0 {
		t.Errorf("records %+v stats %+v", h.Recs, s)
	}
}

// TestCompressedAndAuth: a compressed frame is paired and marked, its
// body never read; AUTH_RESPONSE's token reaches no column.
func TestCompressedAndAuth(t *testing.T) {
	xs := []exchange{
		{true, req(1, opStartup, cat(u16(1), str("COMPRESSION"), str("lz4")))},
		{false, resp(1, opAuthenticate, str("org.apache.cassandra.auth.PasswordAuthenticator"))},
		{true, req(2, opAuthResponse, longStr("\x00cassandra\x00hunter2"))},
		{false, resp(2, opAuthSuccess, i32(-1))},
		{true, frame(4, false, flagCompressed, 3, opQuery, []byte("\x00\x00\x00\x20garbage that is lz4"))},
		{false, frame(4, true, flagCompressed, 3, opResult, []byte("\x00\x00\x00\x10more"))},
	}
	h := newHarness(t, conn.Options{BodyLimit: 256, FullData: true})
	play(h, conn.RoleClient, xs, 1<<20)
	check(t, h, []want{
		{"STARTUP", "AUTHENTICATE", "", "", `{"COMPRESSION":"lz4"}`, "org.apache.cassandra.auth.PasswordAuthenticator", ""},
		{"AUTH_RESPONSE", "AUTH_SUCCESS", "", "", "", "", ""},
		{"QUERY", "RESULT", "", "", "", "", ""},
	})
	if !h.Recs[2].Compressed || h.Recs[1].Compressed {
		t.Errorf("compressed: %+v", h.Recs)
	}
	b, _ := json.Marshal(h.Recs)
	if strings.Contains(string(b), "hunter2") {
		t.Errorf("the password in %s", b)
	}
}

// TestResponseBeforeRequest: a driver's reader can report the answer
// before its writer returns from write(2): the pair is still made.
func TestResponseBeforeRequest(t *testing.T) {
	h := newHarness(t, conn.Options{BodyLimit: 256})
	h.Open(conn.RoleClient)
	h.Send(conn.Egress, req(1, opOptions, nil))
	h.Send(conn.Ingress, resp(1, opSupported, u16(0)))
	q, a := req(2, opQuery, query("TRUNCATE ks.items")), resp(2, opResult, i32(1))
	// The answer's read ends first; the question's write started before.
	h.Tr.Handle(&conn.Event{Kind: conn.KindData, ID: h.ID, PID: 43, Comm: "test", StartNs: h.Now + 5, EndNs: h.Now + 20,
		Dir: conn.Ingress, Pos: h.Pos[conn.Ingress], Size: uint32(len(a)), Data: a, OtherPos: h.Pos[conn.Egress] + uint64(len(q)), HasOtherPos: true})
	h.Tr.Handle(&conn.Event{Kind: conn.KindData, ID: h.ID, PID: 43, Comm: "test", StartNs: h.Now, EndNs: h.Now + 30,
		Dir: conn.Egress, Pos: h.Pos[conn.Egress], Size: uint32(len(q)), Data: q, OtherPos: h.Pos[conn.Ingress] + uint64(len(a)), HasOtherPos: true})
	h.Pos[conn.Egress] += uint64(len(q))
	h.Pos[conn.Ingress] += uint64(len(a))
	h.Now += 100
	h.Close()
	if len(h.Recs) != 2 || h.Recs[1].QueryKind != "TRUNCATE" || h.Recs[1].RespBody != "void" {
		t.Errorf("records %+v", h.Recs)
	}
}

// TestLoss: a connection seen mid-stream starts at a frame of a known
// direction; a lost header loses the framing until the next one.
func TestLoss(t *testing.T) {
	h := newHarness(t, conn.Options{BodyLimit: 256})
	h.Send(conn.Egress, []byte("tail of an earlier frame"))
	h.Send(conn.Egress, req(9, opQuery, query("SELECT a FROM ks.t")))
	h.Send(conn.Ingress, resp(9, opResult, rows(0, false, "a")))
	f := req(10, opQuery, query("SELECT b FROM ks.t"))
	h.Lose(conn.Egress, 4)
	h.Send(conn.Egress, f[4:])
	h.Send(conn.Egress, req(11, opQuery, query("SELECT c FROM ks.t")))
	h.Send(conn.Ingress, resp(11, opResult, rows(0, false, "c")))
	h.Close()
	if len(h.Recs) != 2 || h.Recs[0].RespBody != "0 rows" || h.Recs[1].QueryTemplate != "SELECT c FROM ks.t" {
		t.Errorf("records %+v", h.Recs)
	}
}

func TestInfer(t *testing.T) {
	for _, tc := range []struct {
		in   []byte
		dir  conn.Dir
		conf conn.Confidence
		role conn.Role
	}{
		{req(0, opOptions, nil), conn.Egress, conn.High, conn.RoleClient},
		{req(0, opStartup, cat(u16(1), str("CQL_VERSION"), str("3.0.0"))), conn.Ingress, conn.High, conn.RoleServer},
		{req(3, opQuery, query("SELECT 1")), conn.Egress, conn.Low, conn.RoleClient},
		{resp(3, opResult, i32(1)), conn.Ingress, conn.Low, conn.RoleClient},
		{req(0, opOptions, nil)[:5], conn.Egress, conn.NeedMore, 0},
		{frame(2, false, 0, 0, opOptions, nil), conn.Egress, conn.NoMatch, 0},
		{req(0, opResult, nil), conn.Egress, conn.NoMatch, 0},
		{[]byte("GET / HTTP/1.1\r\n"), conn.Egress, conn.NoMatch, 0},
		{append(req(0, opOptions, nil), 'x'), conn.Egress, conn.NoMatch, 0},
	} {
		got := Protocol{}.Infer(tc.in, tc.dir, conn.TransportTCP)
		if got.Conf != tc.conf || got.Conf >= conn.Low && got.Role != tc.role {
			t.Errorf("Infer(%x, %v) = %+v, want %v %v", tc.in, tc.dir, got, tc.conf, tc.role)
		}
	}
}
