package mapview

import (
	"testing"

	"github.com/kubectl-pixie/kubectl-pixie/probes/api"
	"github.com/kubectl-pixie/kubectl-pixie/probes/api/stats"
)

func row(service, role, peer, protocol string, count, errs uint64, latencies ...float64) stats.Endpoint {
	s := stats.NewSketch()
	for _, l := range latencies {
		s.Add(l)
	}
	return stats.Endpoint{
		Key:   stats.Key{Service: service, Role: role, Peer: peer, Protocol: protocol, Method: "GET", StatusClass: "2xx"},
		Count: count, Errors: errs, ReqBytes: 10 * count, RespBytes: 100 * count, Latency: s,
	}
}

// A request traced at both ends counts once, from the server's row; a
// client row to an untraced server names it from its listening port.
func TestEdges(t *testing.T) {
	ls := []api.ListeningPort{
		{Addr: "0.0.0.0", Port: 80, PID: 10, Comm: "nginx", Traced: true}, // master
		{Addr: "0.0.0.0", Port: 80, PID: 11, Comm: "nginx", Traced: true}, // worker: it serves
		{Addr: "127.0.0.1", Port: 6379, PID: 20, Comm: "redis-server"},
	}
	rows := []stats.Endpoint{
		row("nginx (pid 11)", "server", "curl (pid 5)", "", 7, 1, 1e6),
		row("nginx (pid 11)", "server", "curl (pid 5)", "", 3, 0, 2e6), // another endpoint, same edge
		row("curl (pid 5)", "client", "127.0.0.1:80", "", 10, 1, 3e6),  // the same requests, client side
		row("nginx (pid 11)", "client", "127.0.0.1:6379", "redis", 4, 0, 1e5),
		row("nginx (pid 11)", "server", "10.1.2.3", "", 2, 2, 5e6), // an untraced caller
	}
	edges := Edges(rows, ls)
	want := []struct {
		from, to, proto, fromIP, toIP string
		req, errs                     uint64
	}{
		{"curl (pid 5)", "nginx (pid 11)", "http", "", "", 10, 1},
		{"nginx (pid 11)", "redis-server (pid 20)", "redis", "", "127.0.0.1", 4, 0},
		{"10.1.2.3", "nginx (pid 11)", "http", "10.1.2.3", "", 2, 2},
	}
	if len(edges) != len(want) {
		t.Fatalf("edges %+v, want %d", edges, len(want))
	}
	for i, w := range want {
		e := edges[i]
		if e.Requestor != w.from || e.Responder != w.to || e.Protocol != w.proto || e.Requests != w.req || e.Errors != w.errs ||
			e.RequestorIP != w.fromIP || e.ResponderIP != w.toIP {
			t.Errorf("edge %d: %+v, want %+v", i, e, w)
		}
	}
	if e := edges[0]; e.BytesSent != 100 || e.BytesRecv != 1000 || e.Latency.Count() != 2 {
		t.Errorf("merged edge: bytes %d/%d, %d latencies; want 100/1000, 2", e.BytesSent, e.BytesRecv, e.Latency.Count())
	}
}
