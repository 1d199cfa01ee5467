//go:build linux

package agent

import (
	"io"
	"net/netip"
	"syscall"
	"testing"

	"github.com/kubectl-pixie/kubectl-pixie/probes/api"
	"github.com/kubectl-pixie/kubectl-pixie/probes/conn"
	"github.com/kubectl-pixie/kubectl-pixie/probes/procs"
	"github.com/kubectl-pixie/kubectl-pixie/probes/protocols"
)

// wrkRequest and nginxResponse are what the trace benchmark's wrk sends
// and its nginx answers: one request per two socket events.
const (
	wrkRequest    = "GET /index.html HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n"
	nginxResponse = "HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Sun, 06 Dec 2026 22:31:11 GMT\r\nContent-Type: text/html\r\nContent-Length: 17\r\nLast-Modified: Sun, 06 Dec 2026 22:31:10 GMT\r\nConnection: keep-alive\r\nETag: \"6934aeee-11\"\r\nAccept-Ranges: bytes\r\n\r\nhello from nginx\n"
)

func cpuNs() int64 {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// benchPipeline feeds the pipeline nginx's side of keep-alive requests on
// 20 connections (as wrk -c20 makes them) and reports CPU ns per request,
// GC included.
func benchPipeline(b *testing.B, cfg api.TraceConfig) {
	traceDefaults(&cfg)
	p := newPipeline(&cfg, api.DataAccessRestricted, NewEmitter(io.Discard), protocols.All())
	const conns = 20
	ids := make([]conn.ID, conns)
	pos := make([][3]uint64, conns)
	local := netip.MustParseAddrPort("127.0.0.1:8080")
	for i := range ids {
		ids[i] = conn.ID{TGID: 100, FD: int32(i + 10)}
		p.handle(&conn.Event{Kind: conn.KindOpen, ID: ids[i], PID: 100, Comm: "nginx", Role: conn.RoleServer, Transport: conn.TransportTCP,
			Local: local, Remote: netip.AddrPortFrom(local.Addr(), uint16(40000+i))})
	}
	evs := [2]conn.Event{
		{Kind: conn.KindData, Dir: conn.Ingress, Data: []byte(wrkRequest), Size: uint32(len(wrkRequest)), PID: 100, Comm: "nginx", Syscall: "recvfrom"},
		{Kind: conn.KindData, Dir: conn.Egress, Data: []byte(nginxResponse), Size: uint32(len(nginxResponse)), PID: 100, Comm: "nginx", Syscall: "writev"},
	}
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := cpuNs()
	now := uint64(1_000_000)
	for i := 0; i < b.N; i++ {
		c := i % conns
		for k := range evs {
			e := &evs[k]
			e.ID = ids[c]
			e.Pos = pos[c][e.Dir]
			e.OtherPos, e.HasOtherPos = pos[c][e.Dir.Other()], true
			pos[c][e.Dir] += uint64(e.Size)
			e.StartNs, e.EndNs = now, now+2000
			now += 10_000
			p.handle(e)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(cpuNs()-cpu0)/float64(b.N), "cpu-ns/req")
	if b.N > conns && p.records < uint64(b.N-conns) {
		b.Fatalf("%d records from %d requests; tracker %+v", p.records, b.N, p.tracker.Stats())
	}
}

// BenchmarkPipelineAggregated is the agent's user-space work per request
// in the default mode (after the ring buffer): tracker, HTTP/1 parser,
// labels, aggregation.
func BenchmarkPipelineAggregated(b *testing.B) {
	benchPipeline(b, api.TraceConfig{PIDs: []uint32{100}})
}

// BenchmarkPipelineJSON adds -o json: header maps and a record per request.
func BenchmarkPipelineJSON(b *testing.B) {
	benchPipeline(b, api.TraceConfig{PIDs: []uint32{100}, EmitEvents: true})
}

// TestForkedChildNamedByPod: a process forked by a target (a PostgreSQL
// backend) is named by its parent's pod from the fork event on, before
// any scan could find it; one forked by an unknown process keeps its
// command name.
func TestForkedChildNamedByPod(t *testing.T) {
	cfg := api.TraceConfig{PodUIDs: []string{"uid-1"}, Services: map[string]string{"uid-1": "shop/web"}}
	traceDefaults(&cfg)
	p := newPipeline(&cfg, api.DataAccessRestricted, NewEmitter(io.Discard), protocols.All())
	p.learn([]procs.Proc{{PID: 100, Comm: "nginx", PodUID: "uid-1", ContainerID: "c1"}})
	p.handle(&conn.Event{Kind: conn.KindFork, ID: conn.ID{TGID: 200, FD: 100}})
	p.handle(&conn.Event{Kind: conn.KindFork, ID: conn.ID{TGID: 300, FD: 999}}) // parent not a target
	local := netip.MustParseAddrPort("10.244.0.5:8080")
	for i, pid := range []uint32{200, 300} {
		id := conn.ID{TGID: pid, FD: 7}
		remote := netip.AddrPortFrom(netip.MustParseAddr("10.244.1.9"), uint16(40000+i))
		p.handle(&conn.Event{Kind: conn.KindOpen, ID: id, PID: pid, Comm: "nginx", Role: conn.RoleServer, Transport: conn.TransportTCP, Local: local, Remote: remote})
		p.handle(&conn.Event{Kind: conn.KindData, ID: id, PID: pid, Comm: "nginx", Dir: conn.Ingress, Data: []byte(wrkRequest),
			Size: uint32(len(wrkRequest)), HasOtherPos: true, StartNs: 1000, EndNs: 2000})
		p.handle(&conn.Event{Kind: conn.KindData, ID: id, PID: pid, Comm: "nginx", Dir: conn.Egress, Data: []byte(nginxResponse),
			Size: uint32(len(nginxResponse)), OtherPos: uint64(len(wrkRequest)), HasOtherPos: true, StartNs: 3000, EndNs: 4000})
	}
	got := map[string]uint64{}
	for _, r := range p.agg.Rows() {
		got[r.Service] += r.Count
	}
	if got["shop/web"] != 1 || got["nginx"] != 1 || len(got) != 2 {
		t.Errorf("rows by service %v, want the forked child's as shop/web, the other's as nginx", got)
	}
	if pr := p.procs[200]; pr.PID != 200 || pr.PodUID != "uid-1" || pr.ContainerID != "c1" {
		t.Errorf("the child's identity %+v", pr)
	}
}
