//go:build linux

package local

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestTraceGates: a Go server with known fast, slow and failing paths,
// traced by one run per set of --fail-if rules, each checking one
// operator or scope on the real final table. The built binary exits 3
// exactly when a rule fires (and says which, with the numbers), 0 when
// none does, 1 when the tool fails, and refuses a bad rule before
// anything runs, pointing at the column of the mistake.
func TestTraceGates(t *testing.T) {
	requirePrivileged(t)
	srv, addr := startServer(t, "127.0.0.1:0")
	// GET / x9 (fast), GET /sleep/{id} x2 (300ms), GET /status/{id} x3
	// (two 503, one 404: 67% errors).
	paths := []string{"/", "/sleep/300", "/", "/status/503", "/", "/", "/status/404", "/", "/sleep/300", "/", "/", "/status/503", "/", "/"}
	cli := startRole(t, "client", planArg(clientPlan{URLs: urls(addr, paths...), Pre: 1}))
	if cli.line(t) != "ready" {
		t.Fatal("client not ready")
	}
	// A real local HTTP server for --webhook: 500 first, then 200.
	hook := &hookServer{statuses: []int{500, 200}}
	hookURL := hook.start(t) + "/services/SECRET"
	slack := &hookServer{statuses: []int{200}}
	slackURL := slack.start(t)
	runs := []struct {
		rules []string
		code  int
		says  string   // on stderr when it fires
		extra []string // other flags
	}{
		{[]string{"p99 > 250ms"}, 3, "GET /sleep/{id}: p99 ", nil},
		{[]string{`p99 > 250ms && endpoint =~ "^GET /status/"`}, 0, "", nil},
		{[]string{`p99 >= 290ms && endpoint == "GET /sleep/{id}" && role == server`}, 3, "GET /sleep/{id}: p99 ", nil},
		{[]string{"error_rate > 50%"}, 3, "GET /status/{id}: error_rate 66.67% (> 50.00%)", nil},
		{[]string{"error_rate > 70%", "req < 2", `max > 1s && service != "x"`}, 0, "", nil},
		{[]string{"req > 100", "req <= 2 && path !~ status"}, 3, "GET /sleep/{id}: req 2 (<= 2)", nil},
		{[]string{"total(p99) > 250ms"}, 3, "3 rows merged: total(p99) ", nil},
		{[]string{`total(p99) > 250ms && endpoint !~ "sleep"`}, 0, "", nil},
		{[]string{"total(req) == 14 && protocol == http", "total(errors) != 2"}, 3, "total(req) 14 (== 14)", nil},
		{[]string{"p99 > 250ms", "rps < 0"}, 3, "GET /sleep/{id}: p99 ", []string{"--webhook", hookURL}},
		{nil, 0, "", []string{"--webhook", slackURL, "--webhook-format", "slack"}},
	}
	traces := make([]*trace, len(runs))
	for i, r := range runs {
		args := append(pidArgs(srv.pid()), "--duration", "60s")
		for _, rule := range r.rules {
			args = append(args, "--fail-if", rule)
		}
		traces[i] = startTrace(t, append(args, r.extra...)...)
	}
	fmt.Fprintln(cli.stdin)
	res := parseClient(t, cli.line(t))
	if len(res.Statuses) != len(paths) {
		t.Fatalf("client made %d requests", len(res.Statuses))
	}
	for i, r := range runs {
		tr := traces[i]
		code := tr.exitCode(t)
		stderr := tr.errOut.String()
		if code != r.code || r.code == 3 && (!strings.Contains(stderr, r.says) || !strings.Contains(stderr, "fired")) {
			t.Errorf("%q: exit status %d, want %d (saying %q); stderr:\n%s", r.rules, code, r.code, r.says, stderr)
		}
		if r.code == 0 && strings.Contains(stderr, "fired") {
			t.Errorf("%q: no rule should fire:\n%s", r.rules, stderr)
		}
		if strings.Contains(stderr, "SECRET") {
			t.Errorf("%q: stderr shows the webhook's path:\n%s", r.rules, stderr)
		}
	}

	// The webhook: retried after the 500; the summary rows and the rule
	// that fired, with its numbers.
	var p struct {
		Command string `json:"command"`
		Fired   []struct {
			Rule string   `json:"rule"`
			Why  []string `json:"why"`
		} `json:"fired"`
		Rows []map[string]any `json:"rows"`
	}
	bodies := hook.received()
	if len(bodies) != 2 || json.Unmarshal([]byte(bodies[1]), &p) != nil {
		t.Fatalf("webhook got %d posts, want 2 (a 500, then a 200): %q", len(bodies), bodies)
	}
	if bodies[0] != bodies[1] || p.Command != "trace" || len(p.Fired) != 1 || p.Fired[0].Rule != "p99 > 250ms" ||
		len(p.Fired[0].Why) != 1 || !strings.Contains(p.Fired[0].Why[0], "GET /sleep/{id}: p99 ") || len(p.Rows) != 3 {
		t.Errorf("webhook payload %s", bodies[1])
	}
	for _, row := range p.Rows {
		if row["endpoint"] == "GET /sleep/{id}" && (row["req"] != 2.0 || row["p99"].(float64) < 300e6) {
			t.Errorf("webhook row %v: want 2 requests, p99 >= 300ms", row)
		}
	}
	var msg map[string]string
	if b := slack.received(); len(b) != 1 || json.Unmarshal([]byte(b[0]), &msg) != nil || msg["text"] != "kubectl pixie trace: no --fail-if rule fired (3 rows)" {
		t.Errorf("slack webhook got %q", b)
	}
}

// hookServer is a real local HTTP server answering with statuses in turn
// (the last one from then on), keeping what was posted.
type hookServer struct {
	mu       sync.Mutex
	statuses []int
	bodies   []string
}

func (h *hookServer) start(t *testing.T) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		h.mu.Lock()
		h.bodies = append(h.bodies, string(b))
		st := h.statuses[min(len(h.bodies), len(h.statuses))-1]
		h.mu.Unlock()
		w.WriteHeader(st)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func (h *hookServer) received() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.bodies...)
}

// exitCode ends the trace like Ctrl-C and returns its exit status.
func (tr *trace) exitCode(t *testing.T) int {
	t.Helper()
	time.Sleep(300 * time.Millisecond) // let the last events cross the ring buffer
	_ = tr.cmd.Process.Signal(syscall.SIGINT)
	tr.wait()
	err := tr.cmd.Wait()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatal(err)
	}
	return tr.cmd.ProcessState.ExitCode()
}

// A bad rule is refused with status 1 before anything runs, the caret
// under its mistake; a run that fails (its target does not exist) exits 1
// whatever its rules say.
func TestTraceGateErrors(t *testing.T) {
	requirePrivileged(t)
	for _, c := range []struct {
		args []string
		says string
	}{
		{[]string{"--pid", "1", "--fail-if", "p99 > 250"}, "--fail-if \"p99 > 250\": p99: \"250\" is not a duration: use a duration such as 250ms at column 7:\n  p99 > 250\n        ^"},
		{[]string{"--pid", "1", "--fail-if", "p98 > 1ms"}, `unknown column "p98"`},
		{[]string{"--pid", "4194304", "--fail-if", "req >= 0"}, "4194304"},
	} {
		cmd := exec.Command(pluginBin, append([]string{"trace", "--local", "--duration", "2s"}, c.args...)...)
		out, err := cmd.CombinedOutput()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 1 || !strings.Contains(string(out), c.says) {
			t.Errorf("%q: %v, want exit status 1 saying %q:\n%s", c.args, err, c.says, out)
		}
	}
}
