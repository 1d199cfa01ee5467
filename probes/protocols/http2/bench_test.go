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

// BenchmarkTrackerCut: one gRPC call of 1 MiB each way in 16 KiB DATA
// frames, each direction in calls of 32 KiB cut by the 4 KiB capture with
// the frame headers of their middles (and the trailers) as pieces, as a
// server sees it; per call, aggregates only.
func BenchmarkTrackerCut(b *testing.B) {
	const n = 64
	msg := string(make([]byte, 1<<20))
	cl, srv := newPeer(), newPeer()
	type cut struct {
		dir    conn.Dir
		b      []byte
		pieces [][2]int
	}
	var calls [][]cut
	g := []string{"content-type", "application/grpc", "te", "trailers"}
	split := func(dir conn.Dir, w []byte) (cs []cut) {
		for at := 0; at < len(w); at += 32 << 10 {
			end := min(len(w), at+32<<10)
			c := cut{dir: dir, b: w[at:end]}
			if end-at > 4096+64 {
				c.pieces = framePiecesAt(w, at, end, 4096, 64)
			}
			cs = append(cs, c)
		}
		return cs
	}
	for i := range n {
		id := uint32(2*i + 1)
		cl.headers(id, false, reqKV("POST", "/pkg.Echo/Say", g...)...)
		srv.headers(id, false, ":status", "200", "content-type", "application/grpc")
		for k := 0; k < len(msg); k += 16384 {
			cl.data(id, k+16384 >= len(msg), msg[k:k+16384])
			srv.data(id, false, msg[k:k+16384])
		}
		srv.headers(id, true, "grpc-status", "0")
		calls = append(calls, append(split(conn.Ingress, cl.take()), split(conn.Egress, srv.take())...))
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i += n {
		b.StopTimer()
		h := newHarness(b, conn.Options{NoHeaders: true, BodyLimit: -1})
		h.Open(conn.RoleServer)
		h.Send(conn.Ingress, []byte(Preface))
		b.StartTimer()
		for k := 0; k < n && i+k < b.N; k++ {
			for _, c := range calls[k] {
				if c.pieces == nil {
					h.Send(c.dir, c.b)
				} else {
					h.CallCut(c.dir, c.b, 4096, 64, c.pieces)
				}
			}
		}
		if st := h.Stats(); len(h.Recs) != min(n, b.N-i) || st.ParseErrors != 0 {
			b.Fatalf("%d records, stats %+v", len(h.Recs), st)
		}
	}
}
