package http2

import (
	"testing"

	"github.com/kubectl-pixie/kubectl-pixie/probes/conn"
)

// BenchmarkTracker: one gRPC call (request HEADERS+DATA in one read,
// response HEADERS+DATA+trailers in one write) on a long connection with
// the dynamic table in use, as a server sees it; per call, aggregates only.
func BenchmarkTracker(b *testing.B) {
	const n = 1024
	cl, srv := newPeer(), newPeer()
	reqs, resps := make([][]byte, n), make([][]byte, n)
	g := []string{"content-type", "application/grpc", "te", "trailers"}
	for i := range n {
		id := uint32(2*i + 1)
		reqs[i] = cl.headers(id, false, reqKV("POST", "/pkg.Echo/Say", g...)...).data(id, true, "\x00\x00\x00\x00\x05hello").take()
		srv.headers(id, false, ":status", "200", "content-type", "application/grpc").data(id, false, "\x00\x00\x00\x00\x05hello")
		resps[i] = srv.headers(id, true, "grpc-status", "0").take()
	}
	preface := []byte(Preface)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i += n {
		b.StopTimer()
		h := newHarness(b, conn.Options{NoHeaders: true, BodyLimit: -1})
		h.Open(conn.RoleServer)
		h.Send(conn.Ingress, preface)
		b.StartTimer()
		for k := 0; k < n && i+k < b.N; k++ {
			h.Send(conn.Ingress, reqs[k])
			h.Send(conn.Egress, resps[k])
		}
		if len(h.Recs) != min(n, b.N-i) {
			b.Fatalf("%d records", len(h.Recs))
		}
	}
}
