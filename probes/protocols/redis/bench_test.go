package redis

import (
	"testing"

	"github.com/kubectl-pixie/kubectl-pixie/probes/conn"
)

// BenchmarkTracker: one GET and its reply per iteration, through the
// Tracker as the agent runs it for tables (no args or reply text).
func BenchmarkTracker(b *testing.B) {
	h := newHarness(b, conn.Options{BodyLimit: -1, NoHeaders: true})
	h.Open(conn.RoleServer)
	req, resp := cmd("GET", "user:1000"), bulk("some value of a user")
	b.ReportAllocs()
	for b.Loop() {
		h.In(req)
		h.Out(resp)
		h.Recs = h.Recs[:0]
	}
}
