//go:build linux

package local

import (
	"fmt"
	"os"
	"runtime"
	"sort"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/kubectl-pixie/kubectl-pixie/probes/api"
	"github.com/kubectl-pixie/kubectl-pixie/probes/api/vocab"
)

// The latency rule, checked the same way for every protocol: a client
// times each of its requests on one connection itself; the trace sees the
// same requests from the client's side and, where it is traced, from the
// server's. Records pair with the client's requests by order on that
// connection.
//
//   - per request, traced client-side <= client-measured + the clock's
//     granularity (both read CLOCK_MONOTONIC; the tracer's span starts at
//     the first write's syscall and ends at the last read's, inside the
//     client's);
//   - per request, traced server-side <= traced client-side;
//   - p50 within 5% or 50 µs (the larger) of the client's, both ways;
//   - p99 the same both ways when the client timestamps right around its
//     syscalls and knows when the kernel preempted it (clientTimes's
//     preempted): over the requests during which it was never preempted,
//     since a preemption between a syscall and the client's clock is
//     scheduling no tracer sees, and a loaded 2-core machine has many. A
//     library client's clock also holds its goroutines' scheduling and
//     decoding: there the p99 bound is one-sided.
type latencyCase struct {
	name         string
	client       clientTimes // as the client timed its requests, in order
	tracedClient []int64     // the same requests' client-side records, in order
	tracedServer []int64     // server-side, in order; nil when the server is not traced
}

// clientTimes is what a client measured of its requests, in order: ns
// each, and (when it can tell) whether the kernel preempted its thread
// during each one.
type clientTimes struct {
	Lat       []int64 `json:"lat"`
	Preempted []bool  `json:"preempted,omitempty"`
}

// threadPreemptions counts the involuntary context switches of the
// calling thread.
func threadPreemptions() int64 {
	var ru unix.Rusage
	_ = unix.Getrusage(unix.RUSAGE_THREAD, &ru)
	return ru.Nivcsw
}

// timeRequests runs n requests on this goroutine, locked to its thread;
// each do times itself right around its syscalls, and timeRequests notes
// whether the thread was preempted meanwhile.
func timeRequests(n int, do func(i int) time.Duration) clientTimes {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var ct clientTimes
	for i := range n {
		before := threadPreemptions()
		d := do(i)
		ct.Lat = append(ct.Lat, d.Nanoseconds())
		ct.Preempted = append(ct.Preempted, threadPreemptions() != before)
	}
	return ct
}

// clockGranularity is CLOCK_MONOTONIC's resolution, which both the
// client's time.Since and the tracer's bpf_ktime_get_ns read.
func clockGranularity(t *testing.T) int64 {
	t.Helper()
	var ts unix.Timespec
	if err := unix.ClockGetres(unix.CLOCK_MONOTONIC, &ts); err != nil {
		t.Fatal(err)
	}
	return ts.Nano()
}

// checkLatency applies the latency rule to one protocol's requests.
func checkLatency(t *testing.T, c latencyCase) {
	t.Helper()
	for _, p := range latencyProblems(t, c) {
		t.Error(p)
	}
}

// checkLatencyRerun applies the latency rule to the requests run makes,
// and runs them once more when they break it: for clients probed by
// uprobes, whose two traps a call (20-27 µs each on this Firecracker guest,
// make bench-uprobe) stretch on a loaded machine while the vCPU waits for
// the host, which the guest cannot see. Seen in CI once: a Go TLS p99
// off by 100 µs at 1.2 ms. A real fault breaks it both times.
func checkLatencyRerun(t *testing.T, run func(t *testing.T) latencyCase) {
	t.Helper()
	for attempt := 1; ; attempt++ {
		c := run(t)
		ps := latencyProblems(t, c)
		if len(ps) == 0 {
			return
		}
		if attempt == 2 {
			for _, p := range ps {
				t.Error(p)
			}
			return
		}
		t.Logf("%s: run %d broke the latency rule: %s; once more", c.name, attempt, strings.Join(ps, "; "))
	}
}

// latencyProblems checks the rule and returns how c breaks it.
func latencyProblems(t *testing.T, c latencyCase) []string {
	t.Helper()
	n := len(c.client.Lat)
	if n < 50 {
		t.Fatalf("%s: %d requests timed by the client: too few for a p99", c.name, n)
	}
	if len(c.tracedClient) != n || c.tracedServer != nil && len(c.tracedServer) != n {
		t.Fatalf("%s: the client timed %d requests; traced %d client-side and %d server-side", c.name, n, len(c.tracedClient), len(c.tracedServer))
	}
	var ps []string
	problem := func(format string, args ...any) { ps = append(ps, fmt.Sprintf(format, args...)) }
	gran := clockGranularity(t)
	var libMax int64
	for i, lat := range c.client.Lat {
		traced := c.tracedClient[i]
		if traced <= 0 || traced > lat+gran {
			problem("%s request %d: traced client-side %v, the client measured %v (granularity %v)", c.name, i, time.Duration(traced), time.Duration(lat), time.Duration(gran))
		}
		if c.tracedServer != nil && (c.tracedServer[i] <= 0 || c.tracedServer[i] > traced) {
			problem("%s request %d: traced server-side %v above its client-side %v", c.name, i, time.Duration(c.tracedServer[i]), time.Duration(traced))
		}
		libMax = max(libMax, lat-traced)
	}
	diffs := make([]int64, n)
	for i := range diffs {
		diffs[i] = c.client.Lat[i] - c.tracedClient[i]
	}
	ds := sortedInt64(diffs)
	// What the client adds outside the traced syscalls: the library's (or
	// the raw client's) own share of its clock.
	t.Logf("%s: %d requests; the client's clock exceeds the traced span by p50 %v, p99 %v, max %v", c.name, n,
		time.Duration(quantile(ds, 0.5)), time.Duration(quantile(ds, 0.99)), time.Duration(libMax))
	ts, cs := sortedInt64(c.tracedClient), sortedInt64(c.client.Lat)
	got, want := quantile(ts, 0.5), quantile(cs, 0.5)
	t.Logf("%s: p50 traced %v, client measured %v", c.name, time.Duration(got), time.Duration(want))
	if !within(got, want) {
		problem("%s: p50 traced %v, client measured %v: off by more than 5%% or 50µs", c.name, time.Duration(got), time.Duration(want))
	}
	if p := p99Problem(t, c); p != "" {
		ps = append(ps, p)
	}
	return ps
}

// p99Problem holds p99 both ways over the requests during which the
// client was never preempted, when it can tell and at least 100 were; else
// one-sided.
func p99Problem(t *testing.T, c latencyCase) string {
	t.Helper()
	var traced, client []int64
	for i, p := range c.client.Preempted {
		if !p {
			traced, client = append(traced, c.tracedClient[i]), append(client, c.client.Lat[i])
		}
	}
	twoSided := len(client) >= 100
	if c.client.Preempted != nil && !twoSided {
		t.Logf("%s: only %d of %d requests ran unpreempted: p99 checked one-sided", c.name, len(client), len(c.client.Lat))
	}
	if !twoSided {
		traced, client = c.tracedClient, c.client.Lat
	}
	got, want := quantile(sortedInt64(traced), 0.99), quantile(sortedInt64(client), 0.99)
	t.Logf("%s: p99 traced %v, client measured %v (%d requests)", c.name, time.Duration(got), time.Duration(want), len(client))
	if twoSided && !within(got, want) {
		return fmt.Sprintf("%s: p99 traced %v, client measured %v: off by more than 5%% or 50µs", c.name, time.Duration(got), time.Duration(want))
	} else if got > want && !within(got, want) {
		return fmt.Sprintf("%s: p99 traced %v above the client's %v by more than 5%% or 50µs", c.name, time.Duration(got), time.Duration(want))
	}
	return ""
}

// connLatencies decodes table's records from a trace's output and returns
// the latencies of those keep accepts on the connection whose client end
// is clientPort, client side and server side, each in request order.
func connLatencies[T any, P interface {
	*T
	api.Record
}](t *testing.T, out []byte, table string, clientPort uint16, keep func(P) bool) (client, server []int64) {
	t.Helper()
	recs := tableLines[T](t, out, table)
	var cli, srv []*api.ConnColumns
	for i := range recs {
		r := P(&recs[i])
		c := r.Conn()
		switch {
		case !keep(r):
		case c.TraceRole == vocab.RoleClient && c.LocalPort == clientPort:
			cli = append(cli, c)
		case c.TraceRole == vocab.RoleServer && c.RemotePort == clientPort:
			srv = append(srv, c)
		}
	}
	return inOrder(cli), inOrder(srv)
}

func inOrder(cs []*api.ConnColumns) []int64 {
	sort.SliceStable(cs, func(i, j int) bool { return cs[i].Time < cs[j].Time })
	out := []int64{}
	for _, c := range cs {
		out = append(out, c.Latency)
	}
	return out
}

// selfTrace traces this test process (a client the test runs itself) and
// the servers named by args while do runs; it returns the trace's output.
func selfTrace(t *testing.T, do func(), args ...string) []byte {
	t.Helper()
	tr := startTrace(t, append(append(pidArgs(uint32(os.Getpid())), args...), "--duration", "60s")...)
	do()
	tr.stop(t)
	return tr.out.Bytes()
}
