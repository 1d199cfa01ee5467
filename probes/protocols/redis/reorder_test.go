package redis

import (
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
