//go:build linux

package local

import (
	"bufio"
	"bytes"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kubectl-pixie/kubectl-pixie/plugin/local"
)

// children lists the PIDs whose parent is ppid.
func children(t *testing.T, ppid int) []int {
	t.Helper()
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	var out []int
	for _, s := range stats {
		b, err := os.ReadFile(s)
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...: comm may hold spaces, so cut after ')'.
		rest := string(b[bytes.LastIndexByte(b, ')')+1:])
		f := strings.Fields(rest)
		if len(f) > 1 && f[1] == strconv.Itoa(ppid) {
			pid, _ := strconv.Atoi(filepath.Base(filepath.Dir(s)))
			out = append(out, pid)
		}
	}
	return out
}

// agentOf is the agent child of a running plugin.
func agentOf(t *testing.T, plugin int) int {
	t.Helper()
	kids := children(t, plugin)
	if len(kids) != 1 {
		t.Fatalf("plugin %d has children %v, want its agent only", plugin, kids)
	}
	return kids[0]
}

// requireGone fails unless pid has exited (and was reaped) within d.
func requireGone(t *testing.T, pid int, d time.Duration, what string) {
	t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if _, err := os.Stat("/proc/" + strconv.Itoa(pid)); os.IsNotExist(err) {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s: agent %d still runs %s later", what, pid, d)
}

// A closed terminal (SIGHUP) and SIGQUIT stop `trace --local` like Ctrl-C:
// the summary is written, the exit status is 0 and the agent is gone (they
// used to kill the plugin and, for SIGQUIT, dump its goroutines).
func TestLocalStopSignals(t *testing.T) {
	requirePrivileged(t)
	srv, _ := startServer(t, "127.0.0.1:0")
	for _, sig := range []syscall.Signal{syscall.SIGHUP, syscall.SIGQUIT, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			tr := startTrace(t, "--pid", strconv.Itoa(int(srv.pid())), "--duration", "1m")
			agent := agentOf(t, tr.cmd.Process.Pid)
			_ = tr.cmd.Process.Signal(sig)
			tr.wait()
			if err := tr.cmd.Wait(); err != nil {
				t.Fatalf("after %v: %v\nstderr:\n%s", sig, err, tr.errOut.String())
			}
			if r := parseRecords(t, tr.out.Bytes()); r.tables["probe_stats"] == 0 {
				t.Errorf("after %v: no final summary:\n%s", sig, tr.out.String())
			}
			if strings.Count(tr.errOut.String(), local.Stopping) != 1 {
				t.Errorf("after %v: %q not said once:\n%s", sig, local.Stopping, tr.errOut.String())
			}
			requireGone(t, agent, 5*time.Second, sig.String())
		})
	}
}

// `kubectl pixie trace --local -o json | head -1`: the reader goes away,
// the plugin stops its agent and exits instead of dying of SIGPIPE with
// the agent left to run its window.
func TestLocalClosedOutput(t *testing.T) {
	requirePrivileged(t)
	srv, addr := startServer(t, "127.0.0.1:0")
	cmd := exec.Command(pluginBin, "trace", "--local", "-o", "json", "--pid", strconv.Itoa(int(srv.pid())), "--duration", "1m")
	var errOut bytes.Buffer
	cmd.Stderr = &errOut
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	first, err := bufio.NewReader(out).ReadString('\n') // head -1
	if err != nil || !strings.Contains(first, "probe_ready") {
		t.Fatalf("first line %q: %v\n%s", first, err, errOut.String())
	}
	agent := agentOf(t, cmd.Process.Pid)
	out.Close()
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	// A request makes a record: writing it fails, and that ends the run.
	for i := 0; i < 20; i++ {
		if resp, err := http.Get("http://" + addr + "/users/1"); err == nil {
			resp.Body.Close()
		}
		select {
		case err := <-exited:
			if err != nil {
				t.Fatalf("plugin exit: %v\nstderr:\n%s", err, errOut.String())
			}
			requireGone(t, agent, 5*time.Second, "closed output")
			return
		case <-time.After(500 * time.Millisecond):
		}
	}
	t.Fatalf("the plugin goes on writing to a closed output\nstderr:\n%s", errOut.String())
}

// A plugin killed outright (SIGKILL) leaves no agent behind: the kernel
// sends the agent SIGTERM when its parent dies.
func TestLocalAgentDiesWithPlugin(t *testing.T) {
	requirePrivileged(t)
	srv, _ := startServer(t, "127.0.0.1:0")
	tr := startTrace(t, "--pid", strconv.Itoa(int(srv.pid())), "--duration", "1m")
	agent := agentOf(t, tr.cmd.Process.Pid)
	_ = tr.cmd.Process.Kill()
	_ = tr.cmd.Wait()
	requireGone(t, agent, 10*time.Second, "SIGKILL")
}
