package mysql

import (
	"testing"

	"github.com/kubectl-pixie/kubectl-pixie/probes/conn"
)

// BenchmarkTracker: one COM_QUERY and its one-row result per iteration,
// through the Tracker as the agent runs it for tables.
func BenchmarkTracker(b *testing.B) {
	h := newHarness(b, conn.Options{BodyLimit: -1, NoHeaders: true})
	h.Open(conn.RoleServer)
	play(h, conn.RoleServer, session(true)[:2], whole)
	req := pkt(0, "\x03", "SELECT name FROM items WHERE id = 42")
	resp := pkt(1, "\x01") + colDef(2, "name") + pkt(3, lstr("alice")) + eofOrOK(true, 4, 2)
	b.ReportAllocs()
	for b.Loop() {
		h.In(req)
		h.Out(resp)
		h.Recs = h.Recs[:0]
	}
}
