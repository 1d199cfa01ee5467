//go:build e2e

package e2e

import (
	"encoding/json"
	"math"
	"slices"
	"sort"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/kubectl-pixie/kubectl-pixie/probes/api"
)

// TestClusterLatency is the latency rule (#15 item 1) across two nodes: a
// Go client pod on node 1 times each of its requests to a server pod on
// node 2 (2 ms a request) itself; both are traced. Paired by order on the
// one keep-alive connection, per request the client-side traced latency is
// never above the client's own by more than the clock's granularity, the
// server-side never above the client-side, and the traced p50 is within
// 5% or 50 µs of the client's.
func TestClusterLatency(t *testing.T) {
	const n = 50
	e := setup(t)
	n1, n2, _ := e.threeNodes(t)
	ns := e.namespace(t, nil)
	both := func(app string) map[string]string { return map[string]string{"app": app, "latency": "e2e"} }
	server := e.runPodOn(t, ns, "lat-server", n2, both("lat-server"), "serve", ":8080", "2ms")
	client := e.runPodOn(t, ns, "lat-client", n1, both("lat-client"), "caller", ":"+callerPort)

	s := e.start(t, append([]string{"trace", "-l", "latency=e2e", "-n", ns, "--duration", "12s", "-o", "json"}, e.probeFlags(ns)...)...)
	s.waitReady(t, []string{n1, n2}, 90*time.Second)
	own := call(t, client, "http://"+server.Status.PodIP+":8080/lat", n, "20ms")
	if err := s.wait(t, 60*time.Second); err != nil {
		t.Fatalf("trace: %v\n%s", err, s.stderr.String())
	}
	var cli, srv []api.ConnColumns
	for _, l := range lines(s.stdout.String()) {
		var ev struct {
			api.Header
			api.ConnColumns
			ReqPath string `json:"req_path"`
		}
		if err := json.Unmarshal([]byte(l), &ev); err != nil {
			t.Fatalf("not JSON: %q", l)
		}
		switch {
		case ev.Table != api.TableHTTPEvents:
		case ev.TraceRole == "client" && ev.PodUID == string(client.UID):
			cli = append(cli, ev.ConnColumns)
		case ev.TraceRole == "server" && ev.PodUID == string(server.UID):
			srv = append(srv, ev.ConnColumns)
		}
	}
	if len(own.lat) != n || len(cli) != n || len(srv) != n {
		t.Fatalf("the client timed %d requests, the trace has %d client-side and %d server-side records (want %d each)", len(own.lat), len(cli), len(srv), n)
	}
	byTime := func(r []api.ConnColumns) { sort.Slice(r, func(i, j int) bool { return r[i].Time < r[j].Time }) }
	byTime(cli)
	byTime(srv)
	var res unix.Timespec
	if err := unix.ClockGetres(unix.CLOCK_MONOTONIC, &res); err != nil {
		t.Fatal(err)
	}
	gran := res.Nano()
	traced := make([]int64, n)
	for i := range n {
		traced[i] = cli[i].Latency
		if cli[i].Latency > own.lat[i]+gran {
			t.Errorf("request %d: traced client-side %s, the client measured %s", i, time.Duration(cli[i].Latency), time.Duration(own.lat[i]))
		}
		if srv[i].Latency > cli[i].Latency {
			t.Errorf("request %d: traced server-side %s above client-side %s", i, time.Duration(srv[i].Latency), time.Duration(cli[i].Latency))
		}
	}
	p50, want := median(traced), median(own.lat)
	t.Logf("p50: traced client-side %s, the client's own %s (clock granularity %dns)", time.Duration(p50), time.Duration(want), gran)
	if d := math.Abs(float64(p50 - want)); d > max(0.05*float64(want), 50e3) {
		t.Errorf("traced p50 %s, the client's %s: off by more than 5%% or 50µs", time.Duration(p50), time.Duration(want))
	}
}

func median(v []int64) int64 {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}
