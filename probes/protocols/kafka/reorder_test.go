package kafka

import (
	"testing"

	"github.com/kubectl-pixie/kubectl-pixie/probes/conn"
)

// A client's reader thread may return from read() with the answer before
// its writer returns from write() with the question, and events arrive in
// the order calls end: on a fresh connection the first exchange must still
// pair (it used to be lost: the answer's offset for the other direction
// looked like lost bytes, and the question was then dropped as seen).
func TestAnswerReportedBeforeQuestion(t *testing.T) {
	h := newHarness(t, conn.Options{})
	h.Open(conn.RoleClient)
	q, a := apiVersionsReq(1), apiVersionsResp(1, 0)
	// The answer's read ends first; it carries the question's bytes as the
	// other direction's offset.
	h.Tr.Handle(&conn.Event{Kind: conn.KindData, ID: h.ID, PID: 43, Comm: "test", StartNs: h.Now + 5, EndNs: h.Now + 20,
		Dir: conn.Ingress, Pos: 0, Size: uint32(len(a)), Data: []byte(a), OtherPos: uint64(len(q)), HasOtherPos: true})
	h.Tr.Handle(&conn.Event{Kind: conn.KindData, ID: h.ID, PID: 43, Comm: "test", StartNs: h.Now, EndNs: h.Now + 30,
		Dir: conn.Egress, Pos: 0, Size: uint32(len(q)), Data: []byte(q), OtherPos: uint64(len(a)), HasOtherPos: true})
	h.Pos[conn.Egress], h.Pos[conn.Ingress] = uint64(len(q)), uint64(len(a))
	h.Now += 100
	h.Out(apiVersionsReq(2))
	h.In(apiVersionsResp(2, 0))
	h.Close()
	st := h.Stats()
	if len(h.Recs) != 2 || st.Gaps != 0 || st.DroppedBytes != 0 {
		t.Fatalf("%d records (want 2), stats %+v", len(h.Recs), st)
	}
	if h.Recs[0].Latency <= 0 {
		t.Errorf("first exchange latency %d", h.Recs[0].Latency)
	}
}
