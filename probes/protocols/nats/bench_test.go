package nats

import (
	"testing"

	"github.com/kubectl-pixie/kubectl-pixie/probes/conn"
)

// BenchmarkTracker: one request with its reply per iteration, through
// the Tracker as the agent runs it for tables (no bodies).
func BenchmarkTracker(b *testing.B) {
	h := newHarness(b, conn.Options{BodyLimit: -1, NoHeaders: true})
	h.Open(conn.RoleClient)
	h.In(info)
	req, resp := "PUB svc.users.get _INBOX.abcdefghijklmnopqrstuv.1 16\r\n{\"id\":1000,\"x\":1}\r\n", "MSG _INBOX.abcdefghijklmnopqrstuv.1 1 20\r\n{\"name\":\"some user\"}\r\n"
	b.ReportAllocs()
	for b.Loop() {
		h.Out(req)
		h.In(resp)
		h.Recs = h.Recs[:0]
	}
}
