package mapview

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

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

func withDNS(r stats.Endpoint, name string) stats.Endpoint {
	r.PeerDNS = name
	return r
}

// TestEdgesDNSNames: a client row's server address that a traced DNS
// answer named is a node of that name (responder_dns), its addresses
// merged; a traced listener there still counts the requests on its side;
// a name given by the cluster comes first; an untraced listener comes
// after the DNS name.
func TestEdgesDNSNames(t *testing.T) {
	ls := []api.ListeningPort{
		{Addr: "127.0.0.1", Port: 80, PID: 11, Comm: "nginx", Traced: true},
		{Addr: "127.0.0.1", Port: 6379, PID: 20, Comm: "redis-server"},
	}
	rows := []stats.Endpoint{
		withDNS(row("app (pid 5)", "client", "198.51.100.7:443", "", 3, 1, 1e6), "pay.example.com"),
		withDNS(row("app (pid 5)", "client", "198.51.100.8:443", "", 2, 0, 2e6), "pay.example.com"), // round robin
		withDNS(row("app (pid 5)", "client", "198.51.100.9:443", "", 4, 0, 1e6), "geo.example.com"),
		withDNS(row("app (pid 5)", "client", "127.0.0.1:6379", "redis", 6, 0, 1e5), "cache.test"),      // untraced listener
		withDNS(row("app (pid 5)", "client", "127.0.0.1:80", "", 7, 0, 1e6), "web.test"),               // nginx is traced:
		row("nginx (pid 11)", "server", "app (pid 5)", "", 7, 0, 1e6),                                  // its rows count
		withDNS(row("app (pid 5)", "client", "shop/api", "", 8, 0, 1e6), "api.shop.svc.cluster.local"), // named by the cluster
	}
	type edge struct {
		to, proto, ip, dns string
		req, errs          uint64
	}
	var got []edge
	for _, e := range Edges(rows, ls) {
		if e.Requestor != "app (pid 5)" {
			t.Errorf("edge from %q", e.Requestor)
		}
		got = append(got, edge{e.Responder, e.Protocol, e.ResponderIP, e.ResponderDNS, e.Requests, e.Errors})
	}
	want := []edge{
		{"shop/api", "http", "", "", 8, 0},
		{"nginx (pid 11)", "http", "", "", 7, 0},
		{"cache.test", "redis", "127.0.0.1", "cache.test", 6, 0},
		{"pay.example.com", "http", "", "pay.example.com", 5, 1},
		{"geo.example.com", "http", "198.51.100.9", "geo.example.com", 4, 0},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("edges\n%v\nwant\n%v", got, want)
	}
	r := NewRecord(Edges(rows, ls)[3], time.Second)
	if r.ResponderService != "pay.example.com" || r.ResponderDNS != "pay.example.com" || r.ResponderIP != "" || r.Requests != 5 {
		t.Errorf("record %+v", r)
	}
	b, _ := json.Marshal(NewRecord(Edges(rows, ls)[1], time.Second))
	if strings.Contains(string(b), "responder_dns") {
		t.Errorf("responder_dns on an edge DNS did not name: %s", b)
	}
}
