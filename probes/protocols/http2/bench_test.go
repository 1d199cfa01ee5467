package http2

import (
	"testing"

	"github.com/kubectl-pixie/kubectl-pixie/probes/conn"
	"github.com/kubectl-pixie/kubectl-pixie/probes/protocols/http1"
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

// BenchmarkUpgrade: one connection upgraded from HTTP/1.1 to h2c (the
// request, the 101 with stream 1's answer, the preface and a second
// stream, its answer), as a server sees it; per connection (two records),
// aggregates only.
func BenchmarkUpgrade(b *testing.B) {
	ex := upgradeExchange(upgradeReq)
	opts := conn.Options{NoHeaders: true, BodyLimit: -1, Protocols: []conn.Protocol{http1.Protocol{H2C: Protocol{}}}}
	h := newHarness(b, opts)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		h.ID.Gen = uint32(i + 1)
		h.Open(conn.RoleServer)
		for k, w := range ex {
			dir := conn.Ingress
			if k%2 == 1 {
				dir = conn.Egress
			}
			h.Send(dir, w)
		}
		h.Close()
	}
	if len(h.Recs) != 2*b.N {
		b.Fatalf("%d records from %d connections", len(h.Recs), b.N)
	}
}
