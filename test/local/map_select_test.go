//go:build linux

package local

import (
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kubectl-pixie/kubectl-pixie/plugin/mapview"
	"github.com/kubectl-pixie/kubectl-pixie/probes/api"
)

// Two Go clients, each calling its own Go server (all four traced, so a
// request counts once, from the server's side):
//
//	c1 -> a: GET / x3, /sleep/300 x1, /status/503 x2 (6 requests, 2 errors, 1 slow)
//	c2 -> b: GET / x1, /sleep/300 x3, /status/404 x1 (5 requests, no error, 3 slow)
//
// By requests c1 -> a comes first; by p50 (or p99) c2 -> b; by err c1 -> a.
var (
	mapC1Paths = []string{"/", "/", "/sleep/300", "/status/503", "/", "/status/503"}
	mapC2Paths = []string{"/", "/sleep/300", "/sleep/300", "/status/404", "/sleep/300"}
)

// mapPair is that traffic, its processes ready; release makes the
// requests.
type mapPair struct {
	a, b, c1, c2 *proc
}

func startMapPair(t *testing.T) *mapPair {
	t.Helper()
	a, aAddr := startServer(t, "127.0.0.1:0")
	b, bAddr := startServer(t, "127.0.0.1:0")
	p := &mapPair{a: a, b: b}
	p.c1 = startRole(t, "client", planArg(clientPlan{URLs: urls(aAddr, mapC1Paths...), Wait: true}))
	p.c2 = startRole(t, "client", planArg(clientPlan{URLs: urls(bAddr, mapC2Paths...), Wait: true}))
	for _, c := range []*proc{p.c1, p.c2} {
		if c.line(t) != "ready" {
			t.Fatal("client not ready")
		}
	}
	return p
}

// args traces the four processes.
func (p *mapPair) args(extra ...string) []string {
	return append(pidArgs(p.a.pid(), p.b.pid(), p.c1.pid(), p.c2.pid()), extra...)
}

// release makes the requests and returns what each client measured.
func (p *mapPair) release(t *testing.T) (c1, c2 clientResult) {
	t.Helper()
	fmt.Fprintln(p.c1.stdin)
	fmt.Fprintln(p.c2.stdin)
	c1, c2 = parseClient(t, p.c1.line(t)), parseClient(t, p.c2.line(t))
	if len(c1.Statuses) != len(mapC1Paths) || len(c2.Statuses) != len(mapC2Paths) {
		t.Fatalf("clients made %d and %d requests", len(c1.Statuses), len(c2.Statuses))
	}
	return c1, c2
}

// edge names c -> its server as the map does.
func (p *mapPair) edge(c *proc) string {
	srv := p.a
	if c == p.c2 {
		srv = p.b
	}
	return api.ProcessName("local.test", c.pid()) + " -> " + api.ProcessName("local.test", srv.pid())
}

// edgeCounts are service_map records as "requestor -> responder
// requests/errors", in their order.
func (p *mapPair) edgeCounts(recs []mapview.Record) string {
	var out []string
	for _, r := range recs {
		out = append(out, fmt.Sprintf("%s -> %s %s %d/%d", r.RequestorService, r.ResponderService, r.Protocol, r.Requests, r.Errors))
	}
	return strings.Join(out, ", ")
}

func parseMapRecords(t *testing.T, out string) []mapview.Record {
	t.Helper()
	var recs []mapview.Record
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if line == "" {
			continue
		}
		var r mapview.Record
		if err := json.Unmarshal([]byte(line), &r); err != nil || r.Table != mapview.TableServiceMap {
			t.Fatalf("bad map line %q: %v", line, err)
		}
		recs = append(recs, r)
	}
	return recs
}

// TestMapRecordRefilter: a real map of known slow and failing requests,
// recorded; its replay with --min-latency, --status, --endpoint and
// --protocol counts the edges again from the recorded requests, exactly,
// as a live map with the same filter does; --sort-by and --top order and
// cut the live map and the replay alike.
func TestMapRecordRefilter(t *testing.T) {
	requirePrivileged(t)
	p := startMapPair(t)
	file := filepath.Join(t.TempDir(), "map.pixie.gz")
	rec := startMap(t, p.args("--duration", "60s", "-o", "json", "--record", file)...)
	sorted := startMap(t, p.args("--duration", "60s", "-o", "json", "--sort-by", "p50", "--top", "1")...)
	slow := startMap(t, p.args("--duration", "60s", "-o", "json", "--min-latency", "200ms")...)
	c1, c2 := p.release(t)
	e1, e2 := p.edge(p.c1)+" http", p.edge(p.c2)+" http"

	if got, want := p.edgeCounts(rec.stop(t)), e1+" 6/2, "+e2+" 5/0"; got != want {
		t.Errorf("recorded map: edges %q, want %q", got, want)
	}
	if got, want := p.edgeCounts(sorted.stop(t)), e2+" 5/0"; got != want {
		t.Errorf("map --sort-by p50 --top 1: edges %q, want %q", got, want)
	}
	liveSlow := slow.stop(t)
	if got, want := p.edgeCounts(liveSlow), e2+" 3/0, "+e1+" 1/0"; got != want {
		t.Errorf("map --min-latency 200ms: edges %q, want %q", got, want)
	}

	replayMap := func(args ...string) []mapview.Record {
		t.Helper()
		out, stderr := replay(t, file, args...)
		if strings.Contains(stderr, "without its observation") {
			t.Errorf("replay %q: a recorded request has no observation:\n%s", args, stderr)
		}
		return parseMapRecords(t, out)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{nil, e1 + " 6/2, " + e2 + " 5/0"},
		{[]string{"--min-latency", "200ms"}, e2 + " 3/0, " + e1 + " 1/0"},
		{[]string{"--status", "5xx"}, e1 + " 2/2"},
		{[]string{"--status", "404"}, e2 + " 1/0"},
		{[]string{"--endpoint", "^GET /sleep/"}, e2 + " 3/0, " + e1 + " 1/0"},
		{[]string{"--status", "error", "--min-latency", "200ms"}, ""},
		{[]string{"--protocol", "redis"}, ""},
		{[]string{"--protocol", "http", "--sort-by", "err", "--top", "1"}, e1 + " 6/2"},
		{[]string{"--sort-by", "p50", "--top", "1"}, e2 + " 5/0"},
		{[]string{"--min-latency", "200ms", "--sort-by", "req", "--top", "1"}, e2 + " 3/0"},
	} {
		if got := p.edgeCounts(replayMap(c.args...)); got != c.want {
			t.Errorf("replay %q: edges %q, want %q", c.args, got, c.want)
		}
	}

	// The refiltered latencies are the slow requests' own (server side,
	// within 5% or 50µs of what the clients measured), as live.
	re := replayMap("--min-latency", "200ms")
	if len(re) == 2 && len(liveSlow) == 2 {
		slow2 := sortedInt64([]int64{c2.Latencies[1], c2.Latencies[2], c2.Latencies[4]})
		for _, c := range []struct {
			what      string
			got, want int64
		}{
			{"c2 p50", re[0].LatencyP50, quantile(slow2, 0.5)},
			{"c1 p50", re[1].LatencyP50, c1.Latencies[2]},
			{"c1 p99", re[1].LatencyP99, c1.Latencies[2]},
			{"c2 p50 live", liveSlow[0].LatencyP50, quantile(slow2, 0.5)},
		} {
			if !within(c.got, c.want) {
				t.Errorf("replay --min-latency 200ms %s: %v, the clients measured %v", c.what, time.Duration(c.got), time.Duration(c.want))
			}
		}
	}

	// The table: --top keeps one edge, and the tree is drawn from it.
	tbl, _ := replay(t, file, "-o", "table", "--sort-by", "p50", "--top", "1")
	name1 := api.ProcessName("local.test", p.c1.pid())
	if !strings.Contains(tbl, api.ProcessName("local.test", p.c2.pid())) || strings.Contains(tbl, name1) {
		t.Errorf("replay -o table --sort-by p50 --top 1: want only c2's edge and tree:\n%s", tbl)
	}
}

// TestMapGates: live maps of the same traffic, one per set of --fail-if
// rules, on the real final edges: exit status 3 naming the edge that
// broke a rule (the server sleeps on a path), 0 when none does; the rules
// see the edges --top keeps and the requests the filters keep; --webhook
// posts the edges to a real local HTTP server, retrying after a 500.
func TestMapGates(t *testing.T) {
	requirePrivileged(t)
	p := startMapPair(t)
	e1, e2 := p.edge(p.c1)+" http", p.edge(p.c2)+" http"
	hook := &hookServer{statuses: []int{500, 200}}
	hookURL := hook.start(t) + "/services/SECRET"
	runs := []struct {
		args []string
		code int
		says string
	}{
		{[]string{"--fail-if", "p99 > 250ms"}, 3, e2 + ": p99 "},
		{[]string{"--fail-if", fmt.Sprintf(`p99 > 250ms && requestor == %q`, api.ProcessName("local.test", p.c1.pid()))}, 0, ""},
		{[]string{"--fail-if", "error_rate > 30%"}, 3, e1 + ": error_rate 33.33% (> 30.00%)"},
		{[]string{"--fail-if", "error_rate > 40%", "--fail-if", "req > 6", "--fail-if", `p50 > 250ms && protocol != http`}, 0, ""},
		{[]string{"--fail-if", "total(req) == 11 && total(errors) == 2"}, 3, "2 rows merged: total(req) 11 (== 11)"},
		{[]string{"--sort-by", "err", "--top", "1", "--fail-if", "p99 > 250ms"}, 0, ""},
		{[]string{"--min-latency", "200ms", "--fail-if", "req >= 3"}, 3, e2 + ": req 3 (>= 3)"},
		{[]string{"--fail-if", "p99 > 250ms", "--webhook", hookURL}, 3, e2 + ": p99 "},
	}
	maps := make([]*mapRun, len(runs))
	for i, r := range runs {
		maps[i] = startMap(t, p.args(append([]string{"--duration", "60s", "--no-stream"}, r.args...)...)...)
	}
	p.release(t)
	for i, r := range runs {
		code := maps[i].exitCode(t)
		stderr := maps[i].errOut.String()
		if code != r.code || r.code == 3 && (!strings.Contains(stderr, r.says) || !strings.Contains(stderr, "fired")) ||
			r.code == 0 && strings.Contains(stderr, "fired") {
			t.Errorf("map %q: exit status %d, want %d (saying %q); stderr:\n%s", r.args, code, r.code, r.says, stderr)
		}
		if strings.Contains(stderr, "SECRET") {
			t.Errorf("map %q: stderr shows the webhook's path:\n%s", r.args, stderr)
		}
	}

	var payload struct {
		Command string `json:"command"`
		Fired   []struct {
			Rule string   `json:"rule"`
			Why  []string `json:"why"`
		} `json:"fired"`
		Rows []map[string]any `json:"rows"`
	}
	bodies := hook.received()
	if len(bodies) != 2 || bodies[0] != bodies[1] || json.Unmarshal([]byte(bodies[1]), &payload) != nil {
		t.Fatalf("webhook got %d posts, want the same 2 (a 500, then a 200): %q", len(bodies), bodies)
	}
	if payload.Command != "map" || len(payload.Fired) != 1 || payload.Fired[0].Rule != "p99 > 250ms" ||
		len(payload.Fired[0].Why) != 1 || !strings.Contains(payload.Fired[0].Why[0], e2+": p99 ") || len(payload.Rows) != 2 {
		t.Errorf("webhook payload %s", bodies[1])
	}
	reqs := map[string]any{}
	for _, row := range payload.Rows {
		reqs[fmt.Sprint(row["requestor"])] = row["req"]
	}
	if reqs[api.ProcessName("local.test", p.c1.pid())] != 6.0 || reqs[api.ProcessName("local.test", p.c2.pid())] != 5.0 {
		t.Errorf("webhook rows' requests by requestor %v, want c1 6 and c2 5", reqs)
	}
}

// exitCode ends the map like Ctrl-C and returns its exit status.
func (m *mapRun) exitCode(t *testing.T) int {
	t.Helper()
	time.Sleep(300 * time.Millisecond) // let the last events cross the ring buffer
	_ = m.cmd.Process.Signal(syscall.SIGINT)
	err := m.cmd.Wait()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatal(err)
	}
	return m.cmd.ProcessState.ExitCode()
}
