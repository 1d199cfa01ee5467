package dns

import (
	"testing"

	"golang.org/x/net/dns/dnsmessage"

	"github.com/kubectl-pixie/kubectl-pixie/probes/conn"
)

// BenchmarkTracker: one A query and its answer per iteration on a DNS over
// TCP connection, through the Tracker as the agent runs it for tables.
func BenchmarkTracker(b *testing.B) {
	h := newHarness(b, conn.Options{BodyLimit: -1, NoHeaders: true}, clientAddr, serverAddr)
	h.tr.Handle(&conn.Event{Kind: conn.KindOpen, ID: conn.ID{TGID: 9, FD: 4, Gen: 1}, Role: conn.RoleClient, Transport: conn.TransportTCP,
		Local: clientAddr, Remote: serverAddr, StartNs: h.now, EndNs: h.now + 1})
	q := tcpMsg(build(b, 7, false, 0, "example.test.", dnsmessage.TypeA))
	r := tcpMsg(build(b, 7, true, 0, "example.test.", dnsmessage.TypeA, [4]byte{10, 1, 2, 3}))
	var out, in uint64
	b.ReportAllocs()
	for b.Loop() {
		h.stream(conn.Egress, out, q)
		h.stream(conn.Ingress, in, r)
		out, in = out+uint64(len(q)), in+uint64(len(r))
		h.recs = h.recs[:0]
	}
}
