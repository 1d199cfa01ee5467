//go:build linux

package local

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/kubectl-pixie/kubectl-pixie/probes/api"
)

// TestRecordReplayTrace: a real trace of the Go server with --record; its
// replay prints the live run's final output byte for byte, shows the
// recorded requests with -o json, other views and filters, and a cut
// recording replays what it holds and says so.
func TestRecordReplayTrace(t *testing.T) {
	requirePrivileged(t)
	srv, addr := startServer(t, "127.0.0.1:0")
	paths := []string{"/", "/sleep/100", "/", "/status/503", "/", "/status/404", "/", "/sleep/100", "/"}
	cli := startRole(t, "client", planArg(clientPlan{URLs: urls(addr, paths...), Pre: 1}))
	if cli.line(t) != "ready" {
		t.Fatal("client not ready")
	}
	file := filepath.Join(t.TempDir(), "run.pixie.gz")
	tt := startTable(t, append(pidArgs(srv.pid()), "--duration", "60s", "--no-stream", "--record", file)...)
	// Live runs with filters the recording did not have, for its replays.
	filters := [][]string{{"--min-latency", "50ms"}, {"--status", "503,404"}, {"--status", "200", "--min-latency", "50ms"}}
	filtered := make([]*trace, len(filters))
	for i, f := range filters {
		filtered[i] = startTrace(t, append(pidArgs(srv.pid()), append([]string{"--duration", "60s"}, f...)...)...)
	}
	fmt.Fprintln(cli.stdin)
	if res := parseClient(t, cli.line(t)); len(res.Statuses) != len(paths) {
		t.Fatalf("client made %d requests", len(res.Statuses))
	}
	live := tt.end(t)
	checkReplayGates(t, file, []replayGate{
		{[]string{"--fail-if", `p99 > 50ms && endpoint =~ "^GET /sleep/"`}, 3, "GET /sleep/{id}: p99 "},
		{[]string{"--fail-if", "p99 > 1h"}, 0, ""},
		// on the requests a filter keeps: the two slow ones
		{[]string{"--min-latency", "50ms", "--fail-if", "total(req) > 1"}, 3, "total(req) "},
		{[]string{"--min-latency", "50ms", "--fail-if", "total(req) > 2"}, 0, ""},
	})
	checkReplayFilters(t, file, filters, filtered, []string{
		"event server /sleep/100 200 x2; row server /sleep/{id} 2xx 2",
		"event server /status/404 404 x1; event server /status/503 503 x1; row server /status/{id} 4xx 1; row server /status/{id} 5xx 1",
		"event server /sleep/100 200 x2; row server /sleep/{id} 2xx 2",
	})
	if !strings.Contains(live, "GET /sleep/{id}") {
		t.Fatalf("live table without the traced requests:\n%s", live)
	}
	if got, _ := replay(t, file); got != live {
		t.Errorf("replay differs from the live run.\nlive:\n%s\nreplay:\n%s", live, got)
	}
	events := 0
	js, _ := replay(t, file, "-o", "json")
	for _, l := range strings.Split(js, "\n") {
		if strings.Contains(l, `"table":"http_events"`) && strings.Contains(l, `"trace_role":"server"`) {
			events++
		}
	}
	if events != len(paths) {
		t.Errorf("replay -o json: %d server http_events, want %d:\n%s", events, len(paths), js)
	}
	wide, _ := replay(t, file, "-o", "wide", "--endpoint", "^GET /status/")
	if !strings.Contains(wide, "GET /status/{id}") || strings.Contains(wide, "/sleep/") {
		t.Errorf("replay -o wide --endpoint: want only /status/ rows:\n%s", wide)
	}
	// --status and --protocol narrow the recorded rows, which hold one
	// protocol and status class each.
	if got, _ := replay(t, file, "-o", "wide", "--status", "5xx,4xx", "--protocol", "http"); !strings.Contains(got, "GET /status/{id}") || !strings.Contains(got, "5xx:1") ||
		!strings.Contains(got, "4xx:1") || strings.Contains(got, "/sleep/") || strings.Contains(got, "2xx") {
		t.Errorf("replay --status 5xx,4xx: want only the /status/ rows of 5xx and 4xx:\n%s", got)
	}
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	cut := filepath.Join(t.TempDir(), "cut.pixie.gz")
	if err := os.WriteFile(cut, b[:len(b)*2/3], 0o600); err != nil {
		t.Fatal(err)
	}
	if _, stderr := replay(t, cut); !strings.Contains(stderr, "the recording ends early") {
		t.Errorf("a cut recording replayed without saying so:\n%s", stderr)
	}
}

// checkReplayFilters: the replay of file with each filter shows exactly
// the requests (events) and rows (summaries, with their counts) that the
// live run with that filter showed, and those are want (by construction).
func checkReplayFilters(t *testing.T, file string, filters [][]string, live []*trace, want []string) {
	t.Helper()
	for i, f := range filters {
		live[i].stop(t)
		got := requestsAndRows(t, live[i].out.Bytes())
		js, _ := replay(t, file, append([]string{"-o", "json"}, f...)...)
		if rep := requestsAndRows(t, []byte(js)); rep != got || got != want[i] {
			t.Errorf("filter %q:\n  live %s\nreplay %s\n  want %s", f, got, rep, want[i])
		}
	}
}

// requestsAndRows sums up NDJSON output: its http_events as "event ROLE
// PATH STATUS xN" and its summaries as "row ROLE PATH CLASS COUNT",
// sorted.
func requestsAndRows(t *testing.T, b []byte) string {
	t.Helper()
	events := map[string]int{}
	var rows []string
	for _, line := range bytes.Split(bytes.TrimSpace(b), []byte("\n")) {
		var r struct {
			Table       string `json:"table"`
			Role        string `json:"trace_role"`
			ReqPath     string `json:"req_path"`
			RespStatus  int    `json:"resp_status"`
			StatusClass string `json:"status_class"`
			Count       uint64 `json:"count"`
		}
		if err := json.Unmarshal(line, &r); err != nil {
			t.Fatalf("bad NDJSON line %q: %v", line, err)
		}
		switch r.Table {
		case api.TableHTTPEvents:
			events[fmt.Sprintf("event %s %s %d", r.Role, r.ReqPath, r.RespStatus)]++
		case api.TableHTTPSummary:
			rows = append(rows, fmt.Sprintf("row %s %s %s %d", r.Role, r.ReqPath, r.StatusClass, r.Count))
		}
	}
	var out []string
	for e, n := range events {
		out = append(out, fmt.Sprintf("%s x%d", e, n))
	}
	slices.Sort(out)
	slices.Sort(rows)
	return strings.Join(append(out, rows...), "; ")
}

// TestRecordReplayProfileMemory: a real profile (folded) and memory
// (table) run with --record; each replay prints the live final output
// byte for byte, and the profile replays as an SVG flame graph.
func TestRecordReplayProfileMemory(t *testing.T) {
	requirePrivileged(t)
	burn := startRole(t, "burn")
	if burn.line(t) != "burning" {
		t.Fatal("burner did not start")
	}
	leak := startLeak(t)
	dir := t.TempDir()
	runs := [][]string{
		{"profile", fmt.Sprintf("--pid=%d", burn.pid()), "-o", "folded"},
		{"memory", fmt.Sprintf("--pid=%d", leak), "--interval", "250ms"},
	}
	outs := make([]string, len(runs))
	var wg sync.WaitGroup
	for i, r := range runs {
		wg.Go(func() {
			args := append([]string{r[0], "--local", "--duration", "5s", "--no-stream", "--record", filepath.Join(dir, r[0])}, r[1:]...)
			cmd := exec.Command(pluginBin, args...)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			out, err := cmd.Output()
			if err != nil {
				t.Errorf("%q: %v\n%s", args, err, stderr.String())
			}
			outs[i] = string(out)
		})
	}
	wg.Wait()
	for i, r := range runs {
		if !strings.Contains(outs[i], map[string]string{"profile": burnFunc, "memory": "leak"}[r[0]]) {
			t.Errorf("%s: live output without its target:\n%s", r[0], outs[i])
		}
		if got, _ := replay(t, filepath.Join(dir, r[0])); got != outs[i] {
			t.Errorf("%s: replay differs from the live run.\nlive:\n%s\nreplay:\n%s", r[0], outs[i], got)
		}
	}
	svg, _ := replay(t, filepath.Join(dir, "profile"), "-o", "svg")
	if !strings.Contains(svg, "<svg") || !strings.Contains(svg, burnFunc) {
		t.Errorf("replay -o svg is not a flame graph of the burner:\n%.400s", svg)
	}
}

// replay runs `kubectl pixie replay FILE args...` and returns its stdout
// and stderr; it must succeed.
func replay(t *testing.T, file string, args ...string) (string, string) {
	t.Helper()
	cmd := exec.Command(pluginBin, append([]string{"replay", file}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) || err != nil {
		t.Errorf("replay %s %q: %v\n%s", file, args, err, stderr.String())
	}
	return string(out), stderr.String()
}

// TestRecordReplayMap: a real map of the Go client and server with
// --record; its replay prints the live table byte for byte and the same
// edge as -o json.
func TestRecordReplayMap(t *testing.T) {
	requirePrivileged(t)
	srv, addr := startServer(t, "127.0.0.1:0")
	cli := startRole(t, "client", planArg(clientPlan{URLs: urls(addr, "/", "/status/503", "/"), Wait: true}))
	if cli.line(t) != "ready" {
		t.Fatal("client not ready")
	}
	file := filepath.Join(t.TempDir(), "map.pixie.gz")
	m := startMap(t, append(pidArgs(srv.pid(), cli.pid()), "--duration", "60s", "--no-stream", "--record", file)...)
	// The same traffic mapped live with a filter the agent applies.
	errs := startMap(t, append(pidArgs(srv.pid(), cli.pid()), "--duration", "60s", "-o", "json", "--status", "5xx", "--protocol", "http")...)
	fmt.Fprintln(cli.stdin)
	parseClient(t, cli.line(t))
	if recs := errs.stop(t); len(recs) != 1 || recs[0].Requests != 1 || recs[0].Errors != 1 {
		t.Errorf("map --status 5xx: want one edge of the one failed request: %+v", recs)
	}
	_ = m.cmd.Process.Signal(syscall.SIGINT)
	if err := m.cmd.Wait(); err != nil {
		t.Fatalf("map failed: %v\n%s", err, m.errOut.String())
	}
	live := m.out.String()
	if !strings.Contains(live, "local.test") {
		t.Fatalf("live map without the traced processes:\n%s", live)
	}
	if got, _ := replay(t, file); got != live {
		t.Errorf("replay differs from the live map.\nlive:\n%s\nreplay:\n%s", live, got)
	}
	if js, _ := replay(t, file, "-o", "json"); !strings.Contains(js, `"table":"service_map"`) {
		t.Errorf("replay -o json without service_map records:\n%s", js)
	}
	// One edge, 3 requests, 1 error.
	checkReplayGates(t, file, []replayGate{
		{[]string{"--fail-if", "error_rate > 30%"}, 3, "-> local.test (pid "},
		{[]string{"--fail-if", `req == 3 && protocol == "http"`}, 3, "req 3"},
		{[]string{"--fail-if", "error_rate > 40%", "--fail-if", "req > 3"}, 0, ""},
	})
}

// replayGate is a replay with --fail-if rules, its exit status and what
// its stderr names when a rule fires.
type replayGate struct {
	args  []string
	code  int
	names string
}

// checkReplayGates: each replay of file exits with its status, naming
// what fired (3), saying nothing fired otherwise (0).
func checkReplayGates(t *testing.T, file string, gates []replayGate) {
	t.Helper()
	for _, g := range gates {
		cmd := exec.Command(pluginBin, append([]string{"replay", file}, g.args...)...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		err := cmd.Run()
		var ee *exec.ExitError
		if err != nil && !errors.As(err, &ee) {
			t.Fatal(err)
		}
		code := cmd.ProcessState.ExitCode()
		if code != g.code || g.code == 3 && !strings.Contains(stderr.String(), g.names) || g.code == 0 && strings.Contains(stderr.String(), "fired") {
			t.Errorf("replay %q: exit status %d, want %d naming %q; stderr:\n%s", g.args, code, g.code, g.names, stderr.String())
		}
	}
}
