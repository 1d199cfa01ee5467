package render

import (
	"strings"
	"testing"
	"time"

	"github.com/kubectl-pixie/kubectl-pixie/probes/api/stats"
	"github.com/kubectl-pixie/kubectl-pixie/probes/api/vocab"
)

// protocolRows: HTTP, Redis and DNS rows of one trace, side by side.
func protocolRows() []stats.Endpoint {
	a := stats.NewAggregator(stats.Config{})
	for i := range 500 {
		a.Add(stats.Observation{Service: "web", Role: vocab.RoleServer, Method: "GET", Path: "/api/items", Status: 200, LatencyNs: int64(1e6 + i*1000)})
	}
	for i := range 800 {
		a.Add(stats.Observation{Protocol: vocab.ProtocolRedis, Service: "web", Role: vocab.RoleClient, Peer: "127.0.0.1:6379",
			Method: "GET", Class: "OK", LatencyNs: int64(50e3 + i*10)})
	}
	for i := range 200 {
		a.Add(stats.Observation{Protocol: vocab.ProtocolRedis, Service: "redis-server", Role: vocab.RoleServer,
			Method: "SET", Class: "OK", LatencyNs: int64(20e3 + i*10)})
	}
	for range 3 {
		a.Add(stats.Observation{Protocol: vocab.ProtocolRedis, Service: "redis-server", Role: vocab.RoleServer,
			Method: "SET", Class: "WRONGTYPE", LatencyNs: 30e3})
	}
	for i := range 40 {
		a.Add(stats.Observation{Protocol: vocab.ProtocolDNS, Service: "web", Role: vocab.RoleClient, Peer: "127.0.0.53:53",
			Method: "A", Path: "db.example.test", Class: "NOERROR", LatencyNs: int64(300e3 + i*1000)})
	}
	for range 4 {
		a.Add(stats.Observation{Protocol: vocab.ProtocolDNS, Service: "web", Role: vocab.RoleClient, Peer: "127.0.0.53:53",
			Method: "AAAA", Path: "nope.test", Class: "NXDOMAIN", LatencyNs: 200e3})
	}
	return a.Rows()
}

func TestTraceProtocols(t *testing.T) {
	v := TraceView{Protocol: "HTTP", Elapsed: 10 * time.Second, Window: 30 * time.Second, Targets: 2, TargetUnit: "processes",
		Rows: protocolRows()}
	plain, _ := renderBoth(t, "trace_protocols", v, TraceOptions{})
	for _, want := range []string{"HTTP, Redis, DNS", "-> 127.0.0.1:6379 redis GET", "redis SET", "OK,WRONGTYPE",
		"dns AAAA nope.test", "NXDOMAIN", "GET /api/items"} {
		if !strings.Contains(string(plain), want) {
			t.Errorf("table lacks %q:\n%s", want, plain)
		}
	}
	renderBoth(t, "trace_protocols_wide", v, TraceOptions{Wide: true})
}
