package api

import (
	"testing"

	"github.com/kubectl-pixie/kubectl-pixie/probes/api/stats"
)

// Keep's rules, one request at a time: the same words mean the same in
// every protocol as in the table's STATUS and ERR% columns.
func TestTraceFilterKeep(t *testing.T) {
	httpReq := func(status int) *stats.Observation {
		return &stats.Observation{Method: "GET", Path: "/users/42?x=1", Status: status, LatencyNs: 5e6}
	}
	dns := &stats.Observation{Protocol: "dns", Method: "A", Path: "nope.test", Class: "NXDOMAIN", LatencyNs: 1e6}
	grpc := &stats.Observation{Protocol: "grpc", Method: "POST", Path: "/shop.Cart/Add", Class: "NOT_FOUND", LatencyNs: 2e6}
	redis := &stats.Observation{Protocol: "redis", Method: "GET", Class: "OK", LatencyNs: 1e5}
	for _, c := range []struct {
		name string
		f    TraceFilter
		o    *stats.Observation
		keep bool
	}{
		{"5xx keeps 503", TraceFilter{Status: []string{"5xx"}}, httpReq(503), true},
		{"5xx drops 404", TraceFilter{Status: []string{"5xx"}}, httpReq(404), false},
		{"error keeps no response", TraceFilter{Status: []string{"error"}}, httpReq(0), true},
		{"error drops 404", TraceFilter{Status: []string{"error"}}, httpReq(404), false},
		{"code", TraceFilter{Status: []string{"404"}}, httpReq(404), true},
		{"other code", TraceFilter{Status: []string{"404"}}, httpReq(403), false},
		{"dns class", TraceFilter{Status: []string{"nxdomain"}}, dns, true},
		{"dns error", TraceFilter{Status: []string{"error"}}, dns, true},
		{"grpc error", TraceFilter{Status: []string{"error"}}, grpc, true},
		{"redis ok is no error", TraceFilter{Status: []string{"error"}}, redis, false},
		{"protocol http", TraceFilter{Protocols: []string{"http"}}, httpReq(200), true},
		{"protocol http drops grpc", TraceFilter{Protocols: []string{"http"}}, grpc, false},
		{"protocol dns", TraceFilter{Protocols: []string{"redis", "dns"}}, dns, true},
		{"latency under", TraceFilter{MinLatencyNs: 5e6 + 1}, httpReq(200), false},
		{"latency at", TraceFilter{MinLatencyNs: 5e6}, httpReq(200), true},
		{"endpoint on the template", TraceFilter{Endpoint: `^GET /users/\{id\}$`}, httpReq(200), true},
		{"endpoint not on the raw path", TraceFilter{Endpoint: `/users/42`}, httpReq(200), false},
		{"endpoint of dns", TraceFilter{Endpoint: `^dns A nope\.test$`}, dns, true},
		{"all of them", TraceFilter{Protocols: []string{"http"}, Status: []string{"5xx"}, Endpoint: "users"}, httpReq(500), true},
	} {
		f := c.f
		if err := f.Compile(); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if got := f.Keep(c.o); got != c.keep {
			t.Errorf("%s: Keep %v, want %v", c.name, got, c.keep)
		}
	}
	var none *TraceFilter
	if none.Compile() != nil || !none.Keep(dns) {
		t.Error("a nil filter keeps everything")
	}
}
