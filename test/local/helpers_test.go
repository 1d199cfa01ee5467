//go:build linux

package local

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kubectl-pixie/kubectl-pixie/probes/api"
)

// The test binary plays several roles: re-executed with PIXIE_TEST_ROLE it
// becomes a server or a client process, so every peer is a real, separate
// process the tracer can target by PID.
const roleEnv = "PIXIE_TEST_ROLE"

var pluginBin string

func TestMain(m *testing.M) {
	switch os.Getenv(roleEnv) {
	case "server":
		serverMain()
		return
	case "client":
		clientMain()
		return
	case "h2client":
		h2ClientMain()
		return
	case "burn":
		burnMain()
		return
	case "diffserver":
		diffServerMain()
		return
	}
	dir, err := os.MkdirTemp("", "pixie-local-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	pluginBin = filepath.Join(dir, "kubectl-pixie")
	build := exec.Command("go", "build", "-o", pluginBin, "../../cmd/kubectl-pixie")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building kubectl-pixie:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// proc is a child process started by a test.
type proc struct {
	cmd    *exec.Cmd
	stdout *bufio.Reader
	stdin  io.WriteCloser
}

func (p *proc) pid() uint32 { return uint32(p.cmd.Process.Pid) }

func startRole(t *testing.T, role string, args ...string) *proc {
	t.Helper()
	self, _ := os.Executable()
	cmd := exec.Command(self, args...)
	cmd.Env = append(os.Environ(), roleEnv+"="+role)
	return startProc(t, cmd)
}

// startProc starts cmd with pipes to its stdin and stdout; it is killed
// when the test ends.
func startProc(t *testing.T, cmd *exec.Cmd) *proc {
	t.Helper()
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	return &proc{cmd: cmd, stdout: bufio.NewReader(out), stdin: in}
}

// line reads one line of the child's stdout, with a deadline.
func (p *proc) line(t *testing.T) string {
	t.Helper()
	ch := make(chan string, 1)
	go func() {
		s, _ := p.stdout.ReadString('\n')
		ch <- strings.TrimSpace(s)
	}()
	select {
	case s := <-ch:
		return s
	case <-time.After(20 * time.Second):
		t.Fatal("timed out reading from child")
		return ""
	}
}

// stopGently stops a server with SIGTERM, so that it stops its own
// children too (SIGKILL would leave nginx's workers running), and kills it
// if it is still there after 5 s.
func stopGently(cmd *exec.Cmd) {
	_ = cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		_ = cmd.Process.Kill()
		<-done
	}
}

// startPeer starts cmd, a peer that prints its address (or port) as its
// first line, and returns the process and that line.
func startPeer(t *testing.T, cmd *exec.Cmd, what string) (*proc, string) {
	t.Helper()
	p := startProc(t, cmd)
	first := p.line(t)
	if first == "" {
		t.Fatalf("%s printed no address", what)
	}
	return p, first
}

// closeAndDecode closes the peer's stdin, which ends its work, and decodes
// the JSON line it then prints (what it handled) into v.
func (p *proc) closeAndDecode(t *testing.T, what string, v any) {
	t.Helper()
	p.stdin.Close()
	s := p.line(t)
	if err := json.Unmarshal([]byte(s), v); err != nil {
		t.Fatalf("%s output %q: %v", what, s, err)
	}
}

// startServer starts the Go net/http test server on addr; it returns the
// process and its address.
func startServer(t *testing.T, listen string) (*proc, string) {
	p := startRole(t, "server", listen)
	return p, p.line(t)
}

// trace is a running `kubectl pixie trace --local`.
type trace struct {
	cmd    *exec.Cmd
	out    bytes.Buffer
	errOut syncBuffer // read while the trace runs (waitStderr)
	ready  chan struct{}
	wait   func()
}

// waitStderr waits until the running trace has said s on stderr.
func (tr *trace) waitStderr(t *testing.T, s string, limit time.Duration) {
	t.Helper()
	for end := time.Now().Add(limit); !strings.Contains(tr.errOut.String(), s); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatalf("the trace did not say %q within %v; stderr:\n%s", s, limit, tr.errOut.String())
		}
	}
}

// startTrace runs the plugin with args and waits until probes are attached.
// traceClientRun starts the client role with plan, which waits for a line
// on stdin (Wait or Pre), traces it and srv from there, lets it make its
// requests and stops the trace: the client, the trace, what the client
// measured and the records.
func traceClientRun(t *testing.T, srv *proc, plan clientPlan) (*proc, *trace, clientResult, records) {
	t.Helper()
	cli := startRole(t, "client", planArg(plan))
	if cli.line(t) != "ready" {
		t.Fatal("client not ready")
	}
	tr := startTrace(t, append(pidArgs(srv.pid(), cli.pid()), "--duration", "60s")...)
	fmt.Fprintln(cli.stdin)
	res := parseClient(t, cli.line(t))
	return cli, tr, res, tr.stop(t)
}

func startTrace(t *testing.T, args ...string) *trace {
	t.Helper()
	return startTraceCmd(t, exec.Command(pluginBin, append([]string{"trace", "--local", "-o", "json"}, withDataAccess(args)...)...))
}

// startTraceCmd starts cmd, a trace writing NDJSON records, and waits
// until its probes are attached.
func startTraceCmd(t *testing.T, cmd *exec.Cmd) *trace {
	t.Helper()
	tr := &trace{ready: make(chan struct{}), cmd: cmd}
	tr.cmd.Stderr = &tr.errOut
	out, err := tr.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := tr.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 1<<20), 16<<20)
		once := false
		for sc.Scan() {
			tr.out.Write(sc.Bytes())
			tr.out.WriteByte('\n')
			if !once && bytes.Contains(sc.Bytes(), []byte(`"table":"probe_ready"`)) {
				once = true
				close(tr.ready)
			}
		}
	}()
	t.Cleanup(func() { _ = tr.cmd.Process.Kill() })
	select {
	case <-tr.ready:
	case <-done:
		_ = tr.cmd.Wait()
		t.Fatalf("trace exited before probes were attached:\n%s\n%s", tr.out.String(), tr.errOut.String())
	case <-time.After(30 * time.Second):
		t.Fatalf("probes not attached after 30s:\n%s", tr.errOut.String())
	}
	tr.wait = func() { <-done }
	return tr
}

// withDataAccess asks for full data access unless args name a mode:
// these tests check what the parsers capture (paths, bodies, values);
// redact_test.go checks the modes, the default one included.
func withDataAccess(args []string) []string {
	for _, a := range args {
		if strings.HasPrefix(a, "--data-access") || a == "--full-data" {
			return args
		}
	}
	return append(args[:len(args):len(args)], "--data-access", "full")
}

// stop ends the trace like Ctrl-C and returns its records.
func (tr *trace) stop(t *testing.T) records {
	t.Helper()
	time.Sleep(300 * time.Millisecond) // let the last events cross the ring buffer
	_ = tr.cmd.Process.Signal(syscall.SIGINT)
	tr.wait()
	err := tr.cmd.Wait()
	if err != nil {
		t.Fatalf("trace failed: %v\nstderr:\n%s", err, tr.errOut.String())
	}
	recs := parseRecords(t, tr.out.Bytes())
	if n := len(recs.stats); n > 0 && recs.stats[n-1].KernelHTTP1 != nil {
		t.Logf("kernel_http1 %+v", *recs.stats[n-1].KernelHTTP1)
	}
	return recs
}

type records struct {
	events []api.HTTPEvent
	stats  []api.ProbeStats
	tables map[string]int
}

func parseRecords(t *testing.T, b []byte) records {
	t.Helper()
	r := records{tables: map[string]int{}}
	for _, line := range bytes.Split(b, []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		var h api.Header
		if err := json.Unmarshal(line, &h); err != nil || h.Table == "" {
			t.Fatalf("bad NDJSON line %q: %v", line, err)
		}
		r.tables[h.Table]++
		switch h.Table {
		case api.TableHTTPEvents:
			var e api.HTTPEvent
			if err := json.Unmarshal(line, &e); err != nil {
				t.Fatal(err)
			}
			r.events = append(r.events, e)
		case api.TableProbeStats:
			var s api.ProbeStats
			if err := json.Unmarshal(line, &s); err != nil {
				t.Fatal(err)
			}
			r.stats = append(r.stats, s)
		}
	}
	return r
}

func (r records) byRole(role string, pid uint32) []api.HTTPEvent {
	var out []api.HTTPEvent
	for _, e := range r.events {
		if e.TraceRole == role && (pid == 0 || e.PID == pid) {
			out = append(out, e)
		}
	}
	return out
}

func (r records) byPID(pid uint32) []api.HTTPEvent {
	var out []api.HTTPEvent
	for _, e := range r.events {
		if e.PID == pid {
			out = append(out, e)
		}
	}
	return out
}

// requirePrivileged gates these end-to-end tests like probes/internal/probetest
// gates the probe tests (that package is internal to probes/): skip loudly,
// or fail under PIXIE_REQUIRE_PRIVILEGED=1.
func requirePrivileged(t *testing.T) {
	t.Helper()
	why := ""
	if os.Geteuid() != 0 {
		why = "needs root; run `sudo go test ./test/local/`"
	} else if _, err := os.Stat("/sys/kernel/btf/vmlinux"); err != nil {
		why = "needs kernel BTF at /sys/kernel/btf/vmlinux"
	}
	if why == "" {
		return
	}
	if os.Getenv("PIXIE_REQUIRE_PRIVILEGED") == "1" {
		t.Fatalf("privileged test cannot run (PIXIE_REQUIRE_PRIVILEGED=1): %s", why)
	}
	t.Skipf("SKIP (privileged test): %s", why)
}

func pidArgs(pids ...uint32) []string {
	var a []string
	for _, p := range pids {
		a = append(a, "--pid", strconv.FormatUint(uint64(p), 10))
	}
	return a
}

// quantile of sorted ns values (nearest rank).
func quantile(sorted []int64, q float64) int64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(q*float64(len(sorted))+0.5) - 1
	if i < 0 {
		i = 0
	}
	if i >= len(sorted) {
		i = len(sorted) - 1
	}
	return sorted[i]
}

func sortedInt64(v []int64) []int64 {
	s := append([]int64(nil), v...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s
}

// within reports whether got is within 5% or 50µs (the larger) of want.
func within(got, want int64) bool {
	tol := want / 20
	if tol < 50_000 {
		tol = 50_000
	}
	d := got - want
	if d < 0 {
		d = -d
	}
	return d <= tol
}

func waitTCP(t *testing.T, addr string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("nothing listens on %s", addr)
}

// firstChild waits for pid's first child (nginx's worker): the master
// listens before it forks, so a port that answers does not mean a worker
// exists yet, least of all on a loaded machine.
func firstChild(t *testing.T, pid uint32) uint32 {
	t.Helper()
	path := fmt.Sprintf("/proc/%d/task/%d/children", pid, pid)
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, err := os.ReadFile(path)
		if f := strings.Fields(string(b)); err == nil && len(f) > 0 {
			w, _ := strconv.ParseUint(f[0], 10, 32)
			return uint32(w)
		}
		if time.Now().After(deadline) {
			t.Fatalf("no child of pid %d after 10 s: %v", pid, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
