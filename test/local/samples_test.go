//go:build linux

package local

import (
	"bufio"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kubectl-pixie/kubectl-pixie/probes/api"
	"github.com/kubectl-pixie/kubectl-pixie/probes/api/vocab"
)

// TestTraceSlowAndErrors: a Go net/http server sleeps and fails on paths
// the test chooses, a client whose every request the test times, one
// -o json run and one table run with --slow 200ms --errors. The samples
// must be exactly the five slowest requests over 200ms (of seven) and the
// five latest failed ones (of six), each the very request the stream
// carried, with a latency between the server's sleep and the client's
// round trip; the table lists the same requests.
func TestTraceSlowAndErrors(t *testing.T) {
	requirePrivileged(t)
	srv, addr := startServer(t, "127.0.0.1:0")
	paths := []string{"/", "/sleep/5", "/status/500", "/sleep/210", "/status/404", "/sleep/380", "/status/503",
		"/sleep/5", "/sleep/260", "/status/500", "/sleep/350", "/status/503", "/sleep/230", "/status/500",
		"/sleep/320", "/status/503", "/sleep/290", "/sleep/5", "/"}
	wantSlow := []int{5, 10, 14, 16, 8} // indexes into paths, slowest first
	wantErrs := []int{15, 13, 11, 9, 6} // latest first; the 500 at 2 makes room
	cli := startRole(t, "client", planArg(clientPlan{URLs: urls(addr, paths...), Pre: 1}))
	if cli.line(t) != "ready" {
		t.Fatal("client not ready")
	}
	flags := append(pidArgs(srv.pid()), "--duration", "60s", "--slow", "200ms", "--errors")
	tr := startTrace(t, flags...)
	table := startTable(t, append(flags, "-o", "wide")...)
	fmt.Fprintln(cli.stdin)
	res := parseClient(t, cli.line(t))
	rows := table.sampleRows(t)
	tr.stop(t)

	var stream []api.HTTPEvent
	samples := map[string][]api.HTTPEvent{}
	for _, e := range tableLines[api.HTTPEvent](t, tr.out.Bytes(), api.TableHTTPEvents) {
		if e.Sample == "" {
			stream = append(stream, e)
			continue
		}
		samples[e.Sample] = append(samples[e.Sample], e)
	}
	if len(stream) != len(paths) {
		t.Fatalf("streamed %d requests, the client made %d:\n%s", len(stream), len(paths), tr.errOut.String())
	}
	check := func(kind string, want []int) {
		t.Helper()
		var got []int
		for _, s := range samples[kind] {
			i := slices.IndexFunc(stream, func(e api.HTTPEvent) bool {
				return e.Time == s.Time && e.Latency == s.Latency && e.RemotePort == s.RemotePort
			})
			got = append(got, i)
			if i < 0 {
				t.Errorf("%s sample %s %s is no streamed request", kind, s.ReqMethod, s.ReqPath)
				continue
			}
			if s.ReqPath != paths[i] || s.RespStatus != res.Statuses[i] || s.SampleRow == nil || s.SampleRow.LatencyNs != s.Latency ||
				s.SampleRow.Request != "GET "+paths[i] || s.SampleRow.Error != (kind == api.SampleError) {
				t.Errorf("%s sample %d: %s -> %d, row %+v; the client asked %s and got %d", kind, i, s.ReqPath, s.RespStatus, s.SampleRow, paths[i], res.Statuses[i])
			}
			var sleep int64
			if ms, ok := strings.CutPrefix(paths[i], "/sleep/"); ok {
				n, _ := strconv.Atoi(ms)
				sleep = int64(n) * int64(time.Millisecond)
			}
			if s.Latency < sleep || s.Latency > res.Latencies[i] {
				t.Errorf("%s sample %s: latency %v, want between the sleep %v and the client's round trip %v",
					kind, paths[i], time.Duration(s.Latency), time.Duration(sleep), time.Duration(res.Latencies[i]))
			}
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s samples are requests %v, want %v", kind, got, want)
		}
	}
	check(api.SampleSlow, wantSlow)
	check(api.SampleError, wantErrs)

	// The table: slowest first, then the errors in time order.
	var want []string
	for _, i := range wantSlow {
		want = append(want, "GET "+paths[i]+" 200")
	}
	for _, i := range slices.Backward(wantErrs) {
		want = append(want, fmt.Sprintf("GET %s %d", paths[i], res.Statuses[i]))
	}
	if !slices.Equal(rows, want) {
		t.Errorf("table samples %q, want %q\n%s", rows, want, table.out.String())
	}
}

// sampleRows stops the table run and returns the rows of its final
// frame's sample sections as "METHOD PATH STATUS".
func (tt *tableTrace) sampleRows(t *testing.T) []string {
	t.Helper()
	out := tt.end(t)
	i := strings.LastIndex(out, "SLOWEST (")
	if i < 0 {
		t.Fatalf("no SLOWEST section in:\n%s", out)
	}
	var rows []string
	for _, l := range strings.Split(out[i:], "\n") {
		// TIME SERVICE PID PEER METHOD PATH STATUS LATENCY "REQ / RESP"
		if f := strings.Fields(l); len(f) > 7 && strings.HasPrefix(f[5], "/") {
			rows = append(rows, strings.Join(f[4:7], " "))
		}
	}
	return rows
}

// TestTraceSlowAndErrorsRedis: the same through another protocol's
// records. A real redis-server sleeps on DEBUG SLEEP for times the test
// chooses and refuses commands it chooses; traced in restricted mode, the
// slow samples are exactly the two sleeps over 200ms (the slowest first,
// their arguments redacted) and the error samples exactly the three
// refusals, with the latencies the client measured as upper bounds.
func TestTraceSlowAndErrorsRedis(t *testing.T) {
	requirePrivileged(t)
	server := requireCmd(t, "redis-server")
	port := freePort(t, "tcp")
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	startDaemon(t, server, "--save", "", "--appendonly", "no", "--port", strconv.Itoa(port), "--bind", "127.0.0.1",
		"--dir", t.TempDir(), "--daemonize", "no", "--protected-mode", "no", "--enable-debug-command", "yes")
	waitTCP(t, addr)
	tr := startTrace(t, "--comm", "redis-server", "--duration", "60s", "--data-access", "restricted", "--slow", "200ms", "--errors")

	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r := bufio.NewReader(c)
	var clientLat []time.Duration
	call := func(args ...string) string {
		t.Helper()
		req := fmt.Sprintf("*%d\r\n", len(args))
		for _, a := range args {
			req += fmt.Sprintf("$%d\r\n%s\r\n", len(a), a)
		}
		start := time.Now()
		if _, err := c.Write([]byte(req)); err != nil {
			t.Fatal(err)
		}
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		clientLat = append(clientLat, time.Since(start))
		return strings.TrimSpace(line)
	}
	call("RPUSH", "list", "a")
	call("SET", "word", "abc")
	for _, s := range []string{"0.01", "0.3", "0", "0.25", "0.05"} {
		if got := call("DEBUG", "SLEEP", s); got != "+OK" {
			t.Fatalf("DEBUG SLEEP %s: %q", s, got)
		}
	}
	for _, args := range [][]string{{"GET", "list"}, {"INCR", "word"}, {"GET", "list"}} {
		if got := call(args...); !strings.HasPrefix(got, "-") {
			t.Fatalf("%v: %q, want an error", args, got)
		}
	}
	tr.stop(t)

	var slow, errs []string
	for _, e := range tableLines[api.RedisEvent](t, tr.out.Bytes(), api.TableRedisEvents) {
		switch e.Sample {
		case api.SampleSlow:
			// The slowest first: DEBUG SLEEP 0.3, then 0.25 (calls 3 and 5).
			call := []int{3, 5}[min(len(slow), 1)]
			slow = append(slow, fmt.Sprintf("%s %s", e.ReqCmd, e.ReqArgs))
			if e.SampleRow == nil || e.SampleRow.Protocol != vocab.ProtocolRedis || e.SampleRow.Endpoint != "redis "+e.ReqCmd ||
				e.Latency < int64(200*time.Millisecond) || e.Latency > clientLat[call].Nanoseconds() {
				t.Errorf("slow sample %s: latency %v (over 200ms, within the client's %v?), row %+v", e.ReqArgs, time.Duration(e.Latency), clientLat[call], e.SampleRow)
			}
		case api.SampleError:
			errs = append(errs, e.ReqCmd+" "+e.RespError)
		}
	}
	if want := []string{`DEBUG ["<redacted 5 bytes>","<redacted 3 bytes>"]`, `DEBUG ["<redacted 5 bytes>","<redacted 4 bytes>"]`}; !slices.Equal(slow, want) {
		t.Errorf("slow samples %q, want %q", slow, want)
	}
	// Per endpoint (GET, INCR), the latest first.
	if want := []string{"GET WRONGTYPE", "GET WRONGTYPE", "INCR ERR"}; !slices.Equal(errs, want) {
		t.Errorf("error samples %q, want %q\n%s", errs, want, tr.out.String())
	}
}
