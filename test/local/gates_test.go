//go:build linux

package local

import (
	"errors"
	"fmt"
	"os/exec"
	"strings"
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
	runs := []struct {
		rules []string
		code  int
		says  string // on stderr when it fires
	}{
		{[]string{"p99 > 250ms"}, 3, "GET /sleep/{id}: p99 "},
		{[]string{`p99 > 250ms && endpoint =~ "^GET /status/"`}, 0, ""},
		{[]string{`p99 >= 290ms && endpoint == "GET /sleep/{id}" && role == server`}, 3, "GET /sleep/{id}: p99 "},
		{[]string{"error_rate > 50%"}, 3, "GET /status/{id}: error_rate 66.67% (> 50.00%)"},
		{[]string{"error_rate > 70%", "req < 2", `max > 1s && service != "x"`}, 0, ""},
		{[]string{"req > 100", "req <= 2 && path !~ status"}, 3, "GET /sleep/{id}: req 2 (<= 2)"},
		{[]string{"total(p99) > 250ms"}, 3, "3 rows merged: total(p99) "},
		{[]string{`total(p99) > 250ms && endpoint !~ "sleep"`}, 0, ""},
		{[]string{"total(req) == 14 && protocol == http", "total(errors) != 2"}, 3, "total(req) 14 (== 14)"},
	}
	traces := make([]*trace, len(runs))
	for i, r := range runs {
		args := append(pidArgs(srv.pid()), "--duration", "60s")
		for _, rule := range r.rules {
			args = append(args, "--fail-if", rule)
		}
		traces[i] = startTrace(t, args...)
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
	}
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
