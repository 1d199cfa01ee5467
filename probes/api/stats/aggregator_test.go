package stats

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"

	"github.com/kubectl-pixie/kubectl-pixie/probes/api/vocab"
)

func obs(service, method, path string, status int, latency int64) Observation {
	return Observation{Service: service, Role: vocab.RoleServer, Method: method, Path: path, Status: status,
		LatencyNs: latency, ReqBytes: 100, RespBytes: 1000, TimeNs: 1_700_000_000_000_000_000 + latency}
}

func TestStatusClass(t *testing.T) {
	for status, want := range map[int]string{0: "err", 99: "err", 100: "1xx", 200: "2xx", 204: "2xx",
		301: "3xx", 404: "4xx", 500: "5xx", 599: "5xx", 600: "err", -1: "err"} {
		if got := StatusClass(status); got != want {
			t.Errorf("StatusClass(%d) = %q, want %q", status, got, want)
		}
	}
}

func TestAggregatorAddAndRows(t *testing.T) {
	a := NewAggregator(Config{})
	for i := range 100 {
		a.Add(obs("shop/checkout", "GET", fmt.Sprintf("/api/cart/%d?x=1", i), 200, int64(1e6+i*1e4)))
	}
	for i := range 10 {
		a.Add(obs("shop/checkout", "POST", fmt.Sprintf("/api/cart/%d/items", i), 500, 5e6))
	}
	a.Add(obs("shop/checkout", "POST", "/api/cart/1/items", 0, 30e9)) // no response
	a.Add(obs("shop/checkout", "get", "/x", 200, 1))                  // bad method

	rows := a.Rows()
	if len(rows) != 4 {
		t.Fatalf("%d rows, want 4: %+v", len(rows), rows)
	}
	r := rows[0]
	if r.Method != "GET" || r.Path != "/api/cart/{id}" || r.StatusClass != "2xx" || r.Count != 100 || r.Errors != 0 {
		t.Fatalf("row 0: %+v", r.Key)
	}
	if r.ReqBytes != 100*100 || r.RespBytes != 100*1000 || r.Latency.Count() != 100 {
		t.Fatalf("row 0 bytes/latency: %+v", r)
	}
	if r.FirstNs != 1_700_000_000_000_000_000+1e6 || r.LastNs != 1_700_000_000_000_000_000+1e6+99*1e4 {
		t.Fatalf("row 0 first/last: %d %d", r.FirstNs, r.LastNs)
	}
	if rows[1].StatusClass != "5xx" || rows[1].Errors != 10 || rows[1].ErrorRate() != 1 {
		t.Fatalf("row 1: %+v", rows[1])
	}
	byClass := map[string]Endpoint{}
	for _, r := range rows {
		byClass[r.Method+" "+r.StatusClass] = r
	}
	if e := byClass["POST err"]; e.Count != 1 || e.Errors != 1 {
		t.Fatalf("no-response row: %+v", e)
	}
	if e := byClass["OTHER 2xx"]; e.Count != 1 {
		t.Fatalf("bad method row: %+v", e)
	}
	// Rows copies: mutating them leaves the aggregator intact
	rows[0].Latency.Add(1)
	if a.Rows()[0].Latency.Count() != 100 {
		t.Fatal("Rows shares sketches with the aggregator")
	}
}

func TestAggregatorDrainIsDelta(t *testing.T) {
	a := NewAggregator(Config{})
	a.Add(obs("s", "GET", "/a", 200, 10))
	a.Add(obs("s", "GET", "/a", 200, 20))
	d1 := a.Drain()
	if len(d1) != 1 || d1[0].Count != 2 {
		t.Fatalf("first drain: %+v", d1)
	}
	if a.Len() != 0 || len(a.Drain()) != 0 {
		t.Fatal("drain did not reset")
	}
	a.Add(obs("s", "GET", "/a", 200, 30))
	d2 := a.Drain()
	if len(d2) != 1 || d2[0].Count != 1 || d2[0].Latency.Max() != 30 {
		t.Fatalf("second drain: %+v", d2)
	}
	if d1[0].Count != 2 || d1[0].Latency.Count() != 2 {
		t.Fatal("a drained delta changed after the next interval")
	}
}

// Deltas from several nodes, through JSON, merge to the same endpoints as
// one aggregator that saw everything.
func TestAggregatorMergeEqualsSingle(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	single := NewAggregator(Config{})
	nodes := []*Aggregator{NewAggregator(Config{}), NewAggregator(Config{}), NewAggregator(Config{})}
	plugin := NewAggregator(Config{})
	paths := []string{"/a/%d", "/b/%d/c", "/healthz"}
	for tick := range 10 {
		for range 500 {
			p := paths[r.IntN(len(paths))]
			if p != "/healthz" {
				p = fmt.Sprintf(p, r.IntN(1000))
			}
			statuses := []int{200, 200, 200, 404, 503, 0}
			o := obs(fmt.Sprintf("svc-%d", r.IntN(3)), []string{"GET", "POST"}[r.IntN(2)], p,
				statuses[r.IntN(len(statuses))], int64(1e5+r.ExpFloat64()*1e7))
			single.Add(o)
			nodes[r.IntN(len(nodes))].Add(o)
		}
		for _, n := range nodes {
			b, err := json.Marshal(n.Drain())
			if err != nil {
				t.Fatal(err)
			}
			var delta []Endpoint
			if err := json.Unmarshal(b, &delta); err != nil {
				t.Fatal(err)
			}
			plugin.Merge(delta)
		}
		_ = tick
	}
	want, got := single.Rows(), plugin.Rows()
	if len(want) != len(got) {
		t.Fatalf("%d merged rows, want %d", len(got), len(want))
	}
	for i := range want {
		w, g := want[i], got[i]
		if w.Key != g.Key || w.Count != g.Count || w.Errors != g.Errors || w.ReqBytes != g.ReqBytes ||
			w.RespBytes != g.RespBytes || w.FirstNs != g.FirstNs || w.LastNs != g.LastNs {
			t.Fatalf("row %d: merged %+v, single %+v", i, g, w)
		}
		for _, q := range []float64{0.5, 0.9, 0.99, 1} {
			if w.Latency.Quantile(q) != g.Latency.Quantile(q) {
				t.Fatalf("row %d q%v: merged %v single %v", i, q, g.Latency.Quantile(q), w.Latency.Quantile(q))
			}
		}
	}
}

func TestAggregatorBoundedKeys(t *testing.T) {
	a := NewAggregator(Config{MaxKeys: 220, TemplatesPerService: 5, MaxServices: 1000})
	for i := range 20_000 {
		a.Add(obs(fmt.Sprintf("svc-%d", i%40), "GET", fmt.Sprintf("/route%c/x", 'a'+i%26), 200+100*(i%4), 1000))
	}
	// 220 keys plus (40 services x 6 keys would be 240) at most one overflow key per status class
	if a.Len() > 220+6 {
		t.Fatalf("%d keys, bound 226", a.Len())
	}
	var total uint64
	var sawFolded, sawOverflow bool
	for _, r := range a.Rows() {
		total += r.Count
		sawFolded = sawFolded || (r.Folded && r.Path == CatchAllPath)
		sawOverflow = sawOverflow || (r.Folded && r.Service == Overflow)
	}
	if total != 20_000 {
		t.Fatalf("counted %d of 20000 observations", total)
	}
	if !sawFolded || !sawOverflow {
		t.Fatalf("folded=%v overflow=%v, want both", sawFolded, sawOverflow)
	}
}

// Memory depends on the bounds, not on how many requests were seen.
func TestAggregatorMemoryIndependentOfWindow(t *testing.T) {
	if testing.Short() {
		t.Skip("allocates")
	}
	heap := func(n int) uint64 {
		a := NewAggregator(Config{MaxKeys: 200})
		r := rand.New(rand.NewPCG(1, 1))
		for i := range n {
			a.Add(Observation{Service: fmt.Sprintf("svc-%d", r.IntN(500)), Role: vocab.RoleServer, Method: "GET",
				Path: fmt.Sprintf("/r%d/%x", r.IntN(1000), r.Uint64()), Peer: fmt.Sprintf("10.0.0.%d:80", r.IntN(250)),
				Status: 200 + 100*r.IntN(4), LatencyNs: int64(r.ExpFloat64() * 1e8), TimeNs: int64(i)})
		}
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		runtime.KeepAlive(a)
		if a.Len() > 206 {
			t.Fatalf("%d keys after %d observations", a.Len(), n)
		}
		return m.HeapAlloc
	}
	small, large := heap(20_000), heap(400_000)
	// 20x the observations; allow noise but not growth with n
	if large > small*2+4<<20 {
		t.Fatalf("heap %d B after 400k observations vs %d B after 20k", large, small)
	}
}

func BenchmarkAggregatorAdd(b *testing.B) {
	a := NewAggregator(Config{})
	o := obs("shop/checkout", "GET", "/api/cart/12345/items?x=1", 200, 4e6)
	for i := 0; i < b.N; i++ {
		a.Add(o)
	}
}

// TestOtherProtocols: Redis and DNS rows sit beside HTTP rows with their
// own classes and errors; their names are neither normalised nor templated.
func TestOtherProtocols(t *testing.T) {
	a := NewAggregator(Config{})
	a.Add(Observation{Service: "s", Role: vocab.RoleServer, Method: "GET", Path: "/x/1", Status: 200, LatencyNs: 10})
	a.Add(Observation{Protocol: vocab.ProtocolRedis, Service: "s", Role: vocab.RoleServer, Method: "GET", Class: "OK", LatencyNs: 5})
	a.Add(Observation{Protocol: vocab.ProtocolRedis, Service: "s", Role: vocab.RoleServer, Method: "GET", Class: "ERR", LatencyNs: 5})
	a.Add(Observation{Protocol: vocab.ProtocolRedis, Service: "s", Role: vocab.RoleServer, Method: "CONFIG GET", Class: "OK"})
	a.Add(Observation{Protocol: vocab.ProtocolDNS, Service: "s", Role: vocab.RoleClient, Method: "A", Path: "x.test/1", Class: "NXDOMAIN"})
	a.Add(Observation{Protocol: vocab.ProtocolDNS, Service: "s", Role: vocab.RoleClient, Method: "A", Path: "x.test/1", Class: ""})
	rows := a.Rows()
	if len(rows) != 6 {
		t.Fatalf("%d rows: %+v", len(rows), rows)
	}
	var errs, redis uint64
	for _, r := range rows {
		errs += r.Errors
		if r.Protocol == vocab.ProtocolRedis {
			redis += r.Count
		}
		if r.Protocol == vocab.ProtocolDNS && r.Path != "x.test/1" {
			t.Errorf("dns path templated: %q", r.Path)
		}
		if r.Protocol == vocab.ProtocolRedis && r.Method == "CONFIG GET" && r.Errors != 0 {
			t.Errorf("CONFIG GET counted as error")
		}
	}
	if errs != 3 || redis != 3 {
		t.Errorf("errors %d (want 3: ERR, NXDOMAIN, no response), redis rows %d", errs, redis)
	}
	if !ClassIsError("", "5xx") || ClassIsError(vocab.ProtocolRedis, "OK") || !ClassIsError(vocab.ProtocolDNS, "SERVFAIL") ||
		ClassIsError(vocab.ProtocolPgSQL, "OK") || !ClassIsError(vocab.ProtocolPgSQL, "42P01") || !ClassIsError(vocab.ProtocolMySQL, "1146") {
		t.Error("ClassIsError")
	}
}
