package cql

import (
	"testing"

	"github.com/kubectl-pixie/kubectl-pixie/probes/conn"
)

// BenchmarkTracker: one EXECUTE of a prepared SELECT and its one-row
// result per iteration, through the Tracker as the agent runs it for
// tables (no bodies).
func BenchmarkTracker(b *testing.B) {
	h := newHarness(b, conn.Options{BodyLimit: -1, NoHeaders: true})
	h.Open(conn.RoleClient)
	h.Send(conn.Egress, req(1, opPrepare, longStr("SELECT name FROM ks.items WHERE id = ?")))
	h.Send(conn.Ingress, resp(1, opResult, cat(i32(4), shortBytes(prepID))))
	q := req(2, opExecute, cat(shortBytes(prepID), u16(1), []byte{1}, u16(1), longStr("\x00\x00\x00\x07")))
	a := resp(2, opResult, rows(1, false, "name"))
	b.ReportAllocs()
	for b.Loop() {
		h.Send(conn.Egress, q)
		h.Send(conn.Ingress, a)
		h.Recs = h.Recs[:0]
	}
}
