//go:build linux

package local

import (
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kubectl-pixie/kubectl-pixie/plugin/local"
	"github.com/kubectl-pixie/kubectl-pixie/plugin/render/rendertest"
)

// The first Ctrl-C of `trace --local` on a terminal says what it does and
// how long it may take, and the live table's repaint stays whole: the
// screen (replayed from what reached a real pseudo-terminal) shows the
// message once, then the final table once, with no line of an older frame
// left behind.
func TestLocalCtrlCSaysWhatItDoes(t *testing.T) {
	requirePrivileged(t)
	srv, addr := startServer(t, "127.0.0.1:0")
	pts, output := rendertest.OpenPTY(t, 160, 60)
	cmd := exec.Command(pluginBin, "trace", "--local", "--pid", strconv.Itoa(int(srv.pid())), "--duration", "1m", "--data-access", "full")
	cmd.Stdout, cmd.Stderr = pts, pts
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	// Requests until two frames were drawn (the second repaints the first).
	for end := time.Now().Add(30 * time.Second); strings.Count(output(), "\x1b[J") < 2; time.Sleep(200 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatalf("no live frames within 30s:\n%q", output())
		}
		if resp, err := http.Get("http://" + addr + "/users/1"); err == nil {
			resp.Body.Close()
		}
	}
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("trace after Ctrl-C: %v\n%q", err, output())
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("trace still runs 20s after Ctrl-C:\n%q", output())
	}
	time.Sleep(100 * time.Millisecond) // the last bytes cross the pty
	screen := rendertest.Screen(output())
	t.Logf("screen:\n%s", strings.Join(screen, "\n"))
	at := -1
	for i, l := range screen {
		if l == local.Stopping {
			if at >= 0 {
				t.Fatalf("%q said twice", l)
			}
			at = i
		}
	}
	if at < 0 || at+1 >= len(screen) {
		t.Fatalf("no %q above the final table", local.Stopping)
	}
	if !strings.Contains(local.Stopping, "up to 5s") {
		t.Errorf("%q does not say how long it may take", local.Stopping)
	}
	header := screen[at+1]
	n := 0
	for _, l := range screen {
		if l == header {
			n++
		}
	}
	if header == "" || n != 1 {
		t.Errorf("the final table's first line %q is on the screen %d times: a repaint left an old frame behind", header, n)
	}
}
