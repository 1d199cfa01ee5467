package redis

import (
	"strings"
	"testing"

	"github.com/kubectl-pixie/kubectl-pixie/probes/conn"
)

// The reply's read may be reported before the command's write on a fresh
// connection (events arrive in the order calls end): no protocol takes a
// bare reply, so the Tracker holds it until the command starts the parser,
// and the first exchange pairs.
func TestReplyReportedBeforeCommand(t *testing.T) {
	h := newHarness(t, conn.Options{})
	h.Open(conn.RoleClient)
	q, a := cmd("PING"), "+PONG\r\n"
	h.Tr.Handle(&conn.Event{Kind: conn.KindData, ID: h.ID, PID: 43, Comm: "test", StartNs: h.Now + 5, EndNs: h.Now + 20,
		Dir: conn.Ingress, Pos: 0, Size: uint32(len(a)), Data: []byte(a), OtherPos: uint64(len(q)), HasOtherPos: true})
	h.Tr.Handle(&conn.Event{Kind: conn.KindData, ID: h.ID, PID: 43, Comm: "test", StartNs: h.Now, EndNs: h.Now + 30,
		Dir: conn.Egress, Pos: 0, Size: uint32(len(q)), Data: []byte(q), OtherPos: uint64(len(a)), HasOtherPos: true})
	h.Pos[conn.Egress], h.Pos[conn.Ingress] = uint64(len(q)), uint64(len(a))
	h.Now += 100
	h.Out(cmd("GET", "k"))
	h.In("$1\r\nv\r\n")
	h.Close()
	st := h.Stats()
	if len(h.Recs) != 2 || h.Recs[0].ReqCmd != "PING" || h.Recs[0].Latency <= 0 || st.Gaps != 0 || st.UnmatchedResponses != 0 {
		t.Fatalf("records %+v, stats %+v", h.Recs, st)
	}
}

// A reply held on a fresh connection that ended before the command began
// cannot answer it: the parser gets it as lost bytes, and nothing pairs
// with it.
func TestHeldReplyTooEarlyIsNotPaired(t *testing.T) {
	h := newHarness(t, conn.Options{})
	h.Open(conn.RoleClient)
	h.In("+PONG\r\n") // ends long before the command below starts
	h.Now += 1000
	h.Out(cmd("GET", "k"))
	h.In("$1\r\nv\r\n")
	h.Close()
	if len(h.Recs) != 1 || h.Recs[0].ReqCmd != "GET" {
		t.Fatalf("records %+v", h.Recs)
	}
}

// The same on a connection already parsed: the reply waits for the
// command its offsets say was sent first, and pairs with it.
func TestReplyReportedBeforeCommandMidConnection(t *testing.T) {
	h := newHarness(t, conn.Options{})
	h.Open(conn.RoleClient)
	h.Out(cmd("GET", "a"))
	h.In("$1\r\n1\r\n")
	q, a := cmd("GET", "b"), "$1\r\n2\r\n"
	qPos, aPos := h.Pos[conn.Egress], h.Pos[conn.Ingress]
	h.Tr.Handle(&conn.Event{Kind: conn.KindData, ID: h.ID, PID: 43, Comm: "test", StartNs: h.Now + 5, EndNs: h.Now + 20,
		Dir: conn.Ingress, Pos: aPos, Size: uint32(len(a)), Data: []byte(a), OtherPos: qPos + uint64(len(q)), HasOtherPos: true})
	h.Tr.Handle(&conn.Event{Kind: conn.KindData, ID: h.ID, PID: 43, Comm: "test", StartNs: h.Now, EndNs: h.Now + 30,
		Dir: conn.Egress, Pos: qPos, Size: uint32(len(q)), Data: []byte(q), OtherPos: aPos + uint64(len(a)), HasOtherPos: true})
	h.Pos[conn.Egress], h.Pos[conn.Ingress] = qPos+uint64(len(q)), aPos+uint64(len(a))
	h.Now += 100
	h.Close()
	st := h.Stats()
	if len(h.Recs) != 2 || h.Recs[1].ReqArgs == "" && h.Recs[1].ReqCmd != "GET" || st.Gaps != 0 || st.UnmatchedRequests != 0 || st.UnmatchedResponses != 0 {
		t.Fatalf("records %+v, stats %+v", h.Recs, st)
	}
}

// A command really lost (its bytes only known from the reply's offset):
// the reply waits, and when the next command shows the bytes are gone,
// the reply goes first as the answer to a lost command, never paired
// with the next one.
func TestLostCommandReplyNotPairedWithNext(t *testing.T) {
	h := newHarness(t, conn.Options{FullData: true})
	h.Open(conn.RoleClient)
	h.Out(cmd("GET", "a"))
	h.In("$1\r\n1\r\n")
	lost := cmd("GET", "lost")
	h.Pos[conn.Egress] += uint64(len(lost)) // its event never comes
	h.In("$4\r\nlost\r\n")                  // carries the egress offset past it
	h.Out(cmd("GET", "c"))
	h.In("$1\r\n3\r\n")
	h.Close()
	for _, r := range h.Recs {
		t.Logf("%s %s -> %s", r.ReqCmd, r.ReqArgs, r.Resp)
		if strings.Contains(r.Resp, "lost") {
			t.Errorf("the lost command's reply paired with another command: %+v", r)
		}
	}
	if st := h.Stats(); st.Gaps == 0 {
		t.Fatalf("no gap declared for the lost command: %+v", st)
	}
	if len(h.Recs) == 0 || !strings.Contains(h.Recs[0].ReqArgs, "a") || !strings.Contains(h.Recs[0].Resp, "1") {
		t.Fatalf("records %+v", h.Recs)
	}
}
