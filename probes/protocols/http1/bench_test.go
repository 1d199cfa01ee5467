package http1

import (
	"strings"
	"syscall"
	"testing"

	"github.com/kubectl-pixie/kubectl-pixie/probes/api"
	"github.com/kubectl-pixie/kubectl-pixie/probes/conn"
)

// benchEvents replays calls on many connections; b.N counts events.
func benchEvents(b *testing.B, conns int, calls []callSpec) {
	b.Helper()
	benchEventsOpts(b, conn.Options{}, conns, calls)
}

// aggregated are the agent's options without -o json: no header maps, no
// bodies (probes/agent newPipeline).
var aggregated = conn.Options{NoHeaders: true, BodyLimit: -1}

func benchEventsOpts(b *testing.B, opts conn.Options, conns int, calls []callSpec) {
	b.Helper()
	opts.Protocols = []conn.Protocol{Protocol{}}
	tr := conn.NewTracker(opts, func(conn.Protocol, api.Record) {})
	evs := make([]conn.Event, 0, len(calls))
	bytes := 0
	for _, c := range calls {
		size := max(c.size, len(c.data)+len(c.tail))
		evs = append(evs, conn.Event{Kind: conn.KindData, Dir: c.dir, Data: []byte(c.data), Size: uint32(size), Comm: "bench"})
		if c.tail != "" {
			evs[len(evs)-1].Tail = []byte(c.tail)
		}
		bytes += len(c.data)
	}
	pos := make([][3]uint64, conns)
	ids := make([]conn.ID, conns)
	for i := range ids {
		ids[i] = conn.ID{TGID: 1, FD: int32(i + 3)}
		tr.Handle(&conn.Event{Kind: conn.KindOpen, ID: ids[i], Role: conn.RoleClient, Transport: conn.TransportTCP,
			Local: clientAddr, Remote: serverAddr})
	}
	b.SetBytes(int64(bytes / len(calls)))
	b.ReportAllocs()
	b.ResetTimer()
	// CPU time (this process, GC included) per event: wall time per op
	// means little on a loaded shared machine.
	cpu0 := cpuNs()
	now := uint64(1000)
	for i := 0; i < b.N; i++ {
		k := i % len(evs)
		ci := (i / len(evs)) % conns
		e := &evs[k]
		e.ID = ids[ci]
		e.Pos = pos[ci][e.Dir]
		pos[ci][e.Dir] += uint64(e.Size)
		e.StartNs, e.EndNs = now, now+10
		now += 100
		tr.Handle(e)
	}
	b.StopTimer()
	b.ReportMetric(float64(cpuNs()-cpu0)/float64(b.N), "cpu-ns/op")
	if st := tr.Stats(); st.ParseErrors != 0 || (st.Records == 0 && b.N > 2*len(evs) && strings.HasPrefix(calls[0].data, "GET")) {
		b.Fatalf("stats %+v", st)
	}
}

// A small GET and a small response per connection, two events per request.
func BenchmarkTrackerSmallGET(b *testing.B) {
	benchEvents(b, 1, []callSpec{E(get1), I(ok5)})
}

// The same over 1000 interleaved connections (map lookups, cache misses).
func BenchmarkTrackerSmallGET1000Conns(b *testing.B) {
	calls := []callSpec{E(get1), I(ok5)}
	benchEvents(b, 1000, calls)
}

const (
	realisticReq  = "GET /api/v1/items?page=2 HTTP/1.1\r\nHost: shop.example\r\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64)\r\nAccept: application/json\r\nAccept-Encoding: gzip, deflate\r\nAccept-Language: en-US\r\nAuthorization: Bearer abc.def.ghi\r\nCookie: sid=123; theme=dark\r\nConnection: keep-alive\r\n\r\n"
	realisticResp = "HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Wed, 25 Nov 2026 17:00:00 GMT\r\nContent-Type: application/json\r\nContent-Length: 27\r\nConnection: keep-alive\r\nCache-Control: no-store\r\n\r\n{\"items\":[1,2,3],\"next\":3}\n"
)

// A realistic browser-like request and nginx response.
func BenchmarkTrackerRealisticHeaders(b *testing.B) {
	benchEvents(b, 1, []callSpec{E(realisticReq), I(realisticResp)})
}

// The same in the agent's aggregated mode (no -o json), the default.
func BenchmarkTrackerRealisticAggregated(b *testing.B) {
	benchEventsOpts(b, aggregated, 1, []callSpec{E(realisticReq), I(realisticResp)})
}

// Small GETs over 1000 connections in the aggregated mode.
func BenchmarkTrackerSmallGETAggregated(b *testing.B) {
	benchEventsOpts(b, aggregated, 1000, []callSpec{E(get1), I(ok5)})
}

// Body-only events: a 1 MiB chunked download read 4 KiB at a time.
func BenchmarkTrackerBodyEvents(b *testing.B) {
	calls := []callSpec{E(get1), I("HTTP/1.1 200 OK\r\nContent-Length: 1048576\r\n\r\n")}
	part := strings.Repeat("x", 4096)
	for range 256 {
		calls = append(calls, I(part))
	}
	benchEvents(b, 1, calls)
}

// A chunked response of 5000-byte chunks read 64 KiB at a time, each read
// cut by the capture (16 KiB and the 64-byte tail): the chunk-size lines in
// the middles are not seen and the parser looks for the last chunk.
func BenchmarkTrackerChunkedCut(b *testing.B) {
	var body strings.Builder
	for range 40 {
		body.WriteString("1388\r\n" + strings.Repeat("x", 5000) + "\r\n")
	}
	body.WriteString("0\r\n\r\n")
	calls := []callSpec{E(get1)}
	rest := chunkedHdr + body.String()
	for len(rest) > 0 {
		n := min(len(rest), 64<<10)
		c := I(rest[:min(n, 16<<10)])
		if n > 16<<10 {
			c = cutCall(c, c.data, rest[n-64:n], n)
		}
		calls = append(calls, c)
		rest = rest[n:]
	}
	benchEventsOpts(b, aggregated, 1, calls)
}

// Events of a connection that is not HTTP (inference runs on each call).
func BenchmarkTrackerUnknownProtocol(b *testing.B) {
	benchEvents(b, 1, []callSpec{E("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n"), I("+OK\r\n")})
}

func cpuNs() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// TestAllocs keeps the hot paths allocation-free: body calls and calls of
// connections that are not HTTP.
func TestAllocs(t *testing.T) {
	h := newHarness(t, conn.Options{})
	h.Open(conn.RoleClient)
	h.Out(get1)
	h.In("HTTP/1.1 200 OK\r\nContent-Length: 100000000\r\n\r\n")
	e := h.Last
	e.Data = []byte(strings.Repeat("x", 4096))
	e.Size = 4096
	call := func() {
		e.Pos += uint64(e.Size)
		e.OtherPos = h.Pos[conn.Egress]
		h.Tr.Handle(&e)
	}
	e.Pos -= 4096 - uint64(len("HTTP/1.1 200 OK\r\nContent-Length: 100000000\r\n\r\n"))
	if n := testing.AllocsPerRun(1000, call); n > 0.01 {
		t.Errorf("body call: %v allocations", n)
	}
	if st := h.Stats(); st.Gaps != 0 || h.Tr.Conns() != 1 {
		t.Fatalf("the body calls were not contiguous: %+v", st)
	}
	e = conn.Event{Kind: conn.KindData, ID: conn.ID{TGID: 9, FD: 9}, Dir: conn.Egress, Data: []byte("\x00\x01binary"), Size: 8}
	h.Tr.Handle(&e)
	if n := testing.AllocsPerRun(1000, call); n > 0.01 {
		t.Errorf("unknown protocol call: %v allocations", n)
	}
}

// TestAllocsAggregated: in the agent's default mode a keep-alive request
// costs one allocation, the record handed to the sink (which may keep it:
// --slow samples); parsing, strings and redaction allocate nothing.
func TestAllocsAggregated(t *testing.T) {
	opts := aggregated
	opts.Protocols = []conn.Protocol{Protocol{}}
	var last *api.HTTPEvent
	records := 0
	tr := conn.NewTracker(opts, func(_ conn.Protocol, r api.Record) { last, records = r.(*api.HTTPEvent), records+1 })
	id := conn.ID{TGID: 1, FD: 3}
	tr.Handle(&conn.Event{Kind: conn.KindOpen, ID: id, Role: conn.RoleClient, Transport: conn.TransportTCP, Local: clientAddr, Remote: serverAddr})
	req := []byte("GET /api/v1/items/42?page=2&q=secret HTTP/1.1\r\nHost: x\r\n\r\n")
	resp := []byte("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello")
	var pos [3]uint64
	now := uint64(1000)
	send := func(dir conn.Dir, b []byte) {
		e := conn.Event{Kind: conn.KindData, ID: id, Dir: dir, Data: b, Size: uint32(len(b)), Pos: pos[dir], StartNs: now, EndNs: now + 10}
		pos[dir] += uint64(len(b))
		now += 100
		tr.Handle(&e)
	}
	exchange := func() {
		send(conn.Egress, req)
		send(conn.Ingress, resp)
	}
	exchange()
	if n := testing.AllocsPerRun(1000, exchange); n > 1 {
		t.Errorf("%v allocations per request, want at most 1 (the record)", n)
	}
	if st := tr.Stats(); st.ParseErrors != 0 || records != 1002 {
		t.Fatalf("%d records, stats %+v", records, st)
	}
	// The reused strings are the record's own: the buffers they were
	// parsed from change under them.
	copy(req, "PUT /zzz")
	copy(resp[9:], "500 XX")
	if last.ReqMethod != "GET" || last.ReqPath != "/api/v1/items/{id}?page=<redacted 1 bytes>&q=<redacted 6 bytes>" ||
		last.RespStatus != 200 || last.RespMessage != "OK" || last.RespBodySize != 5 || last.RespBody != "<redacted 5 bytes>" {
		t.Fatalf("record %+v", last)
	}
}

// Summaries from the kernel instead of the two payload events of a
// request, over 1000 connections in the aggregated mode: compare with
// BenchmarkTrackerSmallGETAggregated per request (that one counts two
// events per request, this one one).
func BenchmarkTrackerSummaryAggregated(b *testing.B) {
	opts := aggregated
	opts.Protocols = []conn.Protocol{Protocol{}}
	opts.Summaries = Protocol{}
	records := 0
	tr := conn.NewTracker(opts, func(conn.Protocol, api.Record) { records++ })
	const conns = 1000
	ids := make([]conn.ID, conns)
	pos := make([][2]uint64, conns)
	for i := range ids {
		ids[i] = conn.ID{TGID: 1, FD: int32(i + 3)}
		tr.Handle(&conn.Event{Kind: conn.KindOpen, ID: ids[i], Role: conn.RoleClient, Transport: conn.TransportTCP,
			Local: clientAddr, Remote: serverAddr})
	}
	s := conn.HTTP1Summary{Method: "GET", Target: []byte("/a"), Minor: 1, Status: 200, RespBody: 5}
	ev := conn.Event{Kind: conn.KindHTTP1, Role: conn.RoleClient, Transport: conn.TransportTCP, HTTP1: &s}
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := cpuNs()
	now := uint64(1000)
	for i := 0; i < b.N; i++ {
		ci := i % conns
		pos[ci][0] += uint64(len(get1))
		pos[ci][1] += uint64(len(ok5))
		ev.ID, s.Pos = ids[ci], pos[ci]
		s.StartNs, s.EndNs = now, now+50
		ev.StartNs, ev.EndNs = now, now+50
		now += 100
		tr.Handle(&ev)
	}
	b.StopTimer()
	b.ReportMetric(float64(cpuNs()-cpu0)/float64(b.N), "cpu-ns/op")
	if records != b.N {
		b.Fatalf("%d records of %d summaries", records, b.N)
	}
}
