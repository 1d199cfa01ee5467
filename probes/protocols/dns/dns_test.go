package dns

import (
	"encoding/json"
	"net/netip"
	"strings"
	"testing"

	"golang.org/x/net/dns/dnsmessage"

	"github.com/kubectl-pixie/kubectl-pixie/probes/api"
	"github.com/kubectl-pixie/kubectl-pixie/probes/conn"
)

var (
	clientAddr  = netip.MustParseAddrPort("127.0.0.1:40000")
	client2Addr = netip.MustParseAddrPort("127.0.0.1:40001")
	serverAddr  = netip.MustParseAddrPort("127.0.0.1:5353")
)

const (
	tStart = 1_000_000
	tStep  = 1000
	tCall  = 10
)

// harness feeds a Tracker with UDP datagram events of one socket.
type harness struct {
	t     testing.TB
	tr    *conn.Tracker
	recs  []*api.DNSEvent
	now   uint64
	local netip.AddrPort
	// remote is set for a connected socket (a client's), invalid for a
	// server's: then each datagram's peer comes with the event.
	remote netip.AddrPort
}

func newHarness(t testing.TB, opts conn.Options, local, remote netip.AddrPort) *harness {
	opts.Protocols = []conn.Protocol{Protocol{}}
	h := &harness{t: t, now: tStart, local: local, remote: remote}
	h.tr = conn.NewTracker(opts, func(_ conn.Protocol, r api.Record) { h.recs = append(h.recs, r.(*api.DNSEvent)) })
	return h
}

// dgram reports one sendto/recvfrom of msg (size bytes moved).
func (h *harness) dgram(dir conn.Dir, peer netip.AddrPort, msg []byte, size int) {
	if size < len(msg) {
		size = len(msg)
	}
	ev := &conn.Event{Kind: conn.KindData, ID: conn.ID{TGID: 9, FD: 3, Gen: 1}, PID: 9, Comm: "dig", StartNs: h.now, EndNs: h.now + tCall,
		Transport: conn.TransportUDP, Local: h.local, Remote: h.remote, Dir: dir, Size: uint32(size), Data: msg}
	if peer != h.remote {
		ev.Peer = peer
	}
	h.tr.Handle(ev)
	h.now += tStep
}

func name(s string) dnsmessage.Name { return dnsmessage.MustNewName(s) }

// build makes a real message with Go's DNS library (compression on).
func build(t testing.TB, id uint16, resp bool, rcode dnsmessage.RCode, qname string, qtype dnsmessage.Type, answers ...[4]byte) []byte {
	t.Helper()
	b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: id, Response: resp, RecursionDesired: true, RecursionAvailable: resp, RCode: rcode})
	b.EnableCompression()
	if err := b.StartQuestions(); err != nil {
		t.Fatal(err)
	}
	if err := b.Question(dnsmessage.Question{Name: name(qname), Type: qtype, Class: dnsmessage.ClassINET}); err != nil {
		t.Fatal(err)
	}
	if err := b.StartAnswers(); err != nil {
		t.Fatal(err)
	}
	for _, a := range answers {
		if err := b.AResource(dnsmessage.ResourceHeader{Name: name(qname), Class: dnsmessage.ClassINET, TTL: 60}, dnsmessage.AResource{A: a}); err != nil {
			t.Fatal(err)
		}
	}
	if !resp {
		if err := b.StartAdditionals(); err != nil {
			t.Fatal(err)
		}
		var rh dnsmessage.ResourceHeader
		if err := rh.SetEDNS0(1232, dnsmessage.RCodeSuccess, false); err != nil {
			t.Fatal(err)
		}
		if err := b.OPTResource(rh, dnsmessage.OPTResource{}); err != nil {
			t.Fatal(err)
		}
	}
	msg, err := b.Finish()
	if err != nil {
		t.Fatal(err)
	}
	return msg
}

func TestInfer(t *testing.T) {
	q := build(t, 1, false, 0, "example.test.", dnsmessage.TypeA)
	r := build(t, 1, true, 0, "example.test.", dnsmessage.TypeA, [4]byte{10, 1, 2, 3})
	for _, c := range []struct {
		msg  []byte
		dir  conn.Dir
		role conn.Role
	}{{q, conn.Egress, conn.RoleClient}, {q, conn.Ingress, conn.RoleServer}, {r, conn.Ingress, conn.RoleClient}, {r, conn.Egress, conn.RoleServer}} {
		if inf := (Protocol{}).Infer(c.msg, c.dir, conn.TransportUDP); inf.Conf != conn.High || inf.Role != c.role {
			t.Errorf("Infer(%v) = %+v, want High %v", c.dir, inf, c.role)
		}
	}
	if inf := (Protocol{}).Infer(q, conn.Egress, conn.TransportTCP); inf.Conf != conn.NoMatch {
		t.Errorf("TCP: %v", inf.Conf)
	}
	bad := [][]byte{
		nil, q[:11], q[:len(q)-1], []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
		append(append([]byte{}, q...), 0),                                      // a byte after the OPT record
		{0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 12, 0, 1, 0, 1}, // question name points at itself
		{0x12, 0x34, 0x01, 0x00, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 1},        // two questions
		{0x12, 0x34, 0x28, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 1},        // opcode UPDATE
	}
	for i, b := range bad {
		if inf := (Protocol{}).Infer(b, conn.Egress, conn.TransportUDP); inf.Conf == conn.High || inf.Conf == conn.Low {
			t.Errorf("bad %d: Infer = %v", i, inf.Conf)
		}
	}
}

func TestClientQuery(t *testing.T) {
	h := newHarness(t, conn.Options{}, clientAddr, serverAddr)
	h.dgram(conn.Egress, serverAddr, build(t, 0xbeef, false, 0, "Example.TEST.", dnsmessage.TypeA), 0)
	h.dgram(conn.Ingress, serverAddr, build(t, 0xbeef, true, 0, "example.test.", dnsmessage.TypeA, [4]byte{10, 1, 2, 3}, [4]byte{10, 1, 2, 4}), 0)
	if len(h.recs) != 1 {
		t.Fatalf("%d records, stats %+v", len(h.recs), h.tr.Stats())
	}
	r := h.recs[0]
	if r.QueryType != "A" || r.QueryName != "example.test" || r.RCodeName != "NOERROR" || r.TraceRole != "client" ||
		r.RemoteAddr != "127.0.0.1" || r.RemotePort != 5353 || r.Latency != tStep+tCall || r.Table != api.TableDNSEvents {
		t.Fatalf("record %+v", r)
	}
	var hdr map[string]int
	if err := json.Unmarshal([]byte(r.ReqHeader), &hdr); err != nil || hdr["txid"] != 0xbeef || hdr["rd"] != 1 || hdr["num_queries"] != 1 || hdr["num_addl"] != 1 {
		t.Errorf("req_header %s: %v", r.ReqHeader, err)
	}
	if r.ReqBody != `{"queries":[{"name":"Example.TEST","type":"A"}]}` {
		t.Errorf("req_body %s", r.ReqBody)
	}
	// The answers' names are compression pointers to the question.
	if r.RespBody != `{"answers":[{"name":"example.test","type":"A","addr":"10.1.2.3"},{"name":"example.test","type":"A","addr":"10.1.2.4"}]}` {
		t.Errorf("resp_body %s", r.RespBody)
	}
	if !json.Valid([]byte(r.RespHeader)) || !strings.Contains(r.RespHeader, `"qr":1`) {
		t.Errorf("resp_header %s", r.RespHeader)
	}
}

// TestServerPeers: a server socket gets the same transaction ID from two
// clients; responses sent in the other order match by ID and peer.
func TestServerPeers(t *testing.T) {
	h := newHarness(t, conn.Options{}, serverAddr, netip.AddrPort{})
	h.dgram(conn.Ingress, clientAddr, build(t, 7, false, 0, "a.test.", dnsmessage.TypeA), 0)
	h.dgram(conn.Ingress, client2Addr, build(t, 7, false, 0, "b.test.", dnsmessage.TypeAAAA), 0)
	h.dgram(conn.Egress, client2Addr, build(t, 7, true, dnsmessage.RCodeNameError, "b.test.", dnsmessage.TypeAAAA), 0)
	h.dgram(conn.Egress, clientAddr, build(t, 7, true, 0, "a.test.", dnsmessage.TypeA, [4]byte{1, 2, 3, 4}), 0)
	if len(h.recs) != 2 {
		t.Fatalf("%d records, stats %+v", len(h.recs), h.tr.Stats())
	}
	// Server side: from the return of the read to the start of the write.
	b, a := h.recs[0], h.recs[1]
	if b.QueryName != "b.test" || b.QueryType != "AAAA" || b.RCode != 3 || b.RCodeName != "NXDOMAIN" || b.RemotePort != 40001 || b.Latency != tStep-tCall {
		t.Errorf("b: %+v", b)
	}
	if a.QueryName != "a.test" || a.RCodeName != "NOERROR" || a.RemotePort != 40000 || a.TraceRole != "server" || a.Latency != 3*tStep-tCall {
		t.Errorf("a: %+v", a)
	}
}

func TestUnmatchedAndMismatch(t *testing.T) {
	h := newHarness(t, conn.Options{}, clientAddr, serverAddr)
	h.dgram(conn.Egress, serverAddr, build(t, 1, false, 0, "a.test.", dnsmessage.TypeA), 0)
	// Same ID, other question: not its answer.
	h.dgram(conn.Ingress, serverAddr, build(t, 1, true, 0, "evil.test.", dnsmessage.TypeA, [4]byte{6, 6, 6, 6}), 0)
	// No query with that ID.
	h.dgram(conn.Ingress, serverAddr, build(t, 2, true, 0, "a.test.", dnsmessage.TypeA), 0)
	// A response from another peer does not answer it either.
	h.dgram(conn.Ingress, client2Addr, build(t, 1, true, 0, "a.test.", dnsmessage.TypeA), 0)
	h.tr.Flush()
	s := h.tr.Stats()
	if len(h.recs) != 0 || s.UnmatchedResponses != 3 || s.UnmatchedRequests != 1 {
		t.Errorf("records %d, stats %+v", len(h.recs), s)
	}
}

// TestTruncatedCapture: a response cut by the capture limit still answers
// its query; the answers that fit are listed.
func TestTruncatedCapture(t *testing.T) {
	h := newHarness(t, conn.Options{}, clientAddr, serverAddr)
	h.dgram(conn.Egress, serverAddr, build(t, 3, false, 0, "many.test.", dnsmessage.TypeA), 0)
	var as [][4]byte
	for i := range 20 {
		as = append(as, [4]byte{10, 0, 0, byte(i)})
	}
	resp := build(t, 3, true, 0, "many.test.", dnsmessage.TypeA, as...)
	h.dgram(conn.Ingress, serverAddr, resp[:12+len("many.test")+2+4+16*3+5], len(resp))
	if len(h.recs) != 1 {
		t.Fatalf("%d records, stats %+v", len(h.recs), h.tr.Stats())
	}
	r := h.recs[0]
	if r.RespBytes != int64(len(resp)) || strings.Count(r.RespBody, "addr") != 3 || h.tr.Stats().ParseErrors != 0 {
		t.Errorf("record %+v stats %+v", r, h.tr.Stats())
	}
}

func TestNames(t *testing.T) {
	hdr := make([]byte, 12)
	for _, c := range []struct {
		name string
		msg  []byte
		want string
		err  bool
	}{
		{"root", []byte{0}, ".", false},
		{"plain", []byte{1, 'a', 2, 'b', 'c', 0}, "a.bc", false},
		{"escapes", []byte{3, 'a', '.', 0xff, 0}, `a\.\255`, false},
		{"self pointer", []byte{0xc0, 12}, "", true},
		{"forward pointer", []byte{0xc0, 14, 0}, "", true},
		{"loop via label", []byte{1, 'a', 0xc0, 12}, "", true},
		{"short", []byte{5, 'a'}, "", true},
		{"bad label type", []byte{0x40, 0}, "", true},
		{"too long", append(append([]byte{}, []byte(strings.Repeat("\x3f"+strings.Repeat("x", 63), 4))...), 0), "", true},
	} {
		msg := append(append([]byte{}, hdr...), c.msg...)
		got, _, err := readName(msg, 12)
		if (err != nil) != c.err || got != c.want {
			t.Errorf("%s: %q, %v", c.name, got, err)
		}
	}
	// A chain of backward pointers is fine.
	msg := append(append([]byte{}, hdr...), 1, 'a', 0, 1, 'b', 0xc0, 12, 1, 'c', 0xc0, 15)
	if got, end, err := readName(msg, 19); err != nil || got != "c.b.a" || end != len(msg) {
		t.Errorf("chain: %q %d %v", got, end, err)
	}
}

func TestAggregateOnly(t *testing.T) {
	h := newHarness(t, conn.Options{BodyLimit: -1, NoHeaders: true}, clientAddr, serverAddr)
	h.dgram(conn.Egress, serverAddr, build(t, 5, false, 0, "x.test.", dnsmessage.TypeA), 0)
	h.dgram(conn.Ingress, serverAddr, build(t, 5, true, 0, "x.test.", dnsmessage.TypeA), 0)
	if len(h.recs) != 1 || h.recs[0].ReqHeader != "" || h.recs[0].QueryName != "x.test" {
		t.Fatalf("records %+v", h.recs)
	}
}

// TestNoneAccess: with none data access a record keeps its summary
// columns (type, name, code) and none of the message JSON.
func TestNoneAccess(t *testing.T) {
	h := newHarness(t, conn.Options{Access: api.DataAccessNone}, clientAddr, serverAddr)
	h.dgram(conn.Egress, serverAddr, build(t, 0xbeef, false, 0, "example.test.", dnsmessage.TypeA), 0)
	h.dgram(conn.Ingress, serverAddr, build(t, 0xbeef, true, 0, "example.test.", dnsmessage.TypeA, [4]byte{10, 1, 2, 3}), 0)
	if len(h.recs) != 1 {
		t.Fatalf("%d records", len(h.recs))
	}
	if r := h.recs[0]; r.QueryType != "A" || r.QueryName != "example.test" || r.RCodeName != "NOERROR" ||
		r.ReqHeader != "" || r.ReqBody != "" || r.RespHeader != "" || r.RespBody != "" {
		t.Fatalf("record %+v", r)
	}
}

// tcpMsg is msg after its 2-byte length (DNS over TCP).
func tcpMsg(msg []byte) []byte { return append([]byte{byte(len(msg) >> 8), byte(len(msg))}, msg...) }

// stream reports one read or write of data on a TCP connection at pos.
func (h *harness) stream(dir conn.Dir, pos uint64, data []byte) {
	h.tr.Handle(&conn.Event{Kind: conn.KindData, ID: conn.ID{TGID: 9, FD: 4, Gen: 1}, PID: 9, Comm: "dig", StartNs: h.now, EndNs: h.now + tCall,
		Transport: conn.TransportTCP, Local: h.local, Remote: h.remote, Dir: dir, Pos: pos, Size: uint32(len(data)), Data: data})
	h.now += tStep
}

// TestTCP: three queries written in one call on a client's connection,
// answered out of order, a length prefix split from its message, one
// answer read in two calls: each answer pairs with its query by ID.
func TestTCP(t *testing.T) {
	h := newHarness(t, conn.Options{}, clientAddr, serverAddr)
	h.tr.Handle(&conn.Event{Kind: conn.KindOpen, ID: conn.ID{TGID: 9, FD: 4, Gen: 1}, Role: conn.RoleClient, Transport: conn.TransportTCP,
		Local: clientAddr, Remote: serverAddr, StartNs: h.now, EndNs: h.now + 1})
	var qs []byte
	for i, n := range []string{"a.test.", "b.test.", "nx.test."} {
		qs = append(qs, tcpMsg(build(t, uint16(10+i), false, 0, n, dnsmessage.TypeA))...)
	}
	h.stream(conn.Egress, 0, qs)
	b := tcpMsg(build(t, 11, true, 0, "b.test.", dnsmessage.TypeA, [4]byte{10, 0, 0, 2}))
	nx := tcpMsg(build(t, 12, true, dnsmessage.RCodeNameError, "nx.test.", dnsmessage.TypeA))
	a := tcpMsg(build(t, 10, true, 0, "a.test.", dnsmessage.TypeA, [4]byte{10, 0, 0, 1}))
	in := append(append(append([]byte{}, b...), nx...), a...)
	h.stream(conn.Ingress, 0, in[:1])
	h.stream(conn.Ingress, 1, in[1:len(b)+5])
	h.stream(conn.Ingress, uint64(len(b)+5), in[len(b)+5:])
	h.tr.Flush()
	var got []string
	for _, e := range h.recs {
		got = append(got, e.QueryName+" "+e.RCodeName)
	}
	if strings.Join(got, ",") != "b.test NOERROR,nx.test NXDOMAIN,a.test NOERROR" {
		t.Errorf("records %v", got)
	}
}

// TestAnswersForNaming: a NOERROR answer's addresses reach the agent even
// without -o json (no bodies kept); an NXDOMAIN's do not.
func TestAnswersForNaming(t *testing.T) {
	h := newHarness(t, conn.Options{BodyLimit: -1, NoHeaders: true}, clientAddr, serverAddr)
	h.dgram(conn.Egress, serverAddr, build(t, 7, false, 0, "shop.test.", dnsmessage.TypeA), 0)
	h.dgram(conn.Ingress, serverAddr, build(t, 7, true, 0, "shop.test.", dnsmessage.TypeA, [4]byte{127, 0, 0, 9}, [4]byte{10, 0, 0, 1}), 0)
	h.dgram(conn.Egress, serverAddr, build(t, 8, false, 0, "nx.test.", dnsmessage.TypeA), 0)
	h.dgram(conn.Ingress, serverAddr, build(t, 8, true, dnsmessage.RCodeNameError, "nx.test.", dnsmessage.TypeA, [4]byte{10, 0, 0, 2}), 0)
	if len(h.recs) != 2 {
		t.Fatalf("%d records, stats %+v", len(h.recs), h.tr.Stats())
	}
	want := []netip.Addr{netip.MustParseAddr("127.0.0.9"), netip.MustParseAddr("10.0.0.1")}
	if got := h.recs[0].Answers; len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("answers %v, want %v", got, want)
	}
	if h.recs[0].RespBody != "" {
		t.Errorf("resp_body kept without bodies: %s", h.recs[0].RespBody)
	}
	if got := h.recs[1].Answers; len(got) != 0 {
		t.Errorf("NXDOMAIN answers %v, want none", got)
	}
}
