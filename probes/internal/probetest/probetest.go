// Package probetest gates tier-2 tests (root, BPF, BTF). A missing need
// skips the test loudly, or fails it when PIXIE_REQUIRE_PRIVILEGED=1 (CI),
// so a machine that should run these tests cannot silently skip them.
// Under -short (the race pass, make test-race) they all skip, loudly: the
// full run (make test) covers them, and under -race they would be slow.
package probetest

import (
	"bufio"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// RequireEnv is the variable that turns skips into failures.
const RequireEnv = "PIXIE_REQUIRE_PRIVILEGED"

func skipOrFail(t testing.TB, format string, args ...any) {
	t.Helper()
	if os.Getenv(RequireEnv) == "1" {
		t.Fatalf("privileged test cannot run ("+RequireEnv+"=1): "+format, args...)
	}
	t.Skipf("SKIP (privileged test): "+format, args...)
}

// skipShort skips a test that needs root or real programs under -short.
func skipShort(t testing.TB) {
	t.Helper()
	if testing.Short() {
		t.Skip("SKIP (-short): needs root or real programs; `make test` runs it")
	}
}

// RequireRoot skips (or fails) unless the test runs as root.
func RequireRoot(t testing.TB) {
	t.Helper()
	skipShort(t)
	if os.Geteuid() != 0 {
		skipOrFail(t, "needs root; run `sudo go test` or `go test -exec sudo`")
	}
}

// RequireBTF skips (or fails) unless the kernel exposes BTF.
func RequireBTF(t testing.TB) {
	t.Helper()
	skipShort(t)
	if _, err := os.Stat("/sys/kernel/btf/vmlinux"); err != nil {
		skipOrFail(t, "needs kernel BTF at /sys/kernel/btf/vmlinux: %v", err)
	}
}

// RequirePrivileged is RequireRoot plus RequireBTF.
func RequirePrivileged(t testing.TB) {
	t.Helper()
	RequireRoot(t)
	RequireBTF(t)
}

// RequireCommand skips (or fails) unless name is on PATH; it returns its path.
// Install what is missing with `make deps`.
func RequireCommand(t testing.TB, name string) string {
	t.Helper()
	skipShort(t)
	p, err := exec.LookPath(name)
	if err != nil {
		skipOrFail(t, "needs %s on PATH (make deps installs it)", name)
	}
	return p
}

// BuildC compiles a C test program with gcc and cflags into the test's
// temporary directory and returns its path (named after the source).
func BuildC(t testing.TB, src string, cflags ...string) string {
	t.Helper()
	cc := RequireCommand(t, "gcc")
	out := filepath.Join(t.TempDir(), strings.TrimSuffix(filepath.Base(src), ".c"))
	args := append(append([]string{}, cflags...), "-o", out, src)
	if b, err := exec.Command(cc, args...).CombinedOutput(); err != nil {
		t.Fatalf("gcc %s: %v\n%s", src, err, b)
	}
	return out
}

// BuildGo builds the Go program in dir (statically, without cgo) into the
// test's temporary directory and returns its path.
func BuildGo(t testing.TB, dir string) string {
	t.Helper()
	gobin := RequireCommand(t, "go")
	out := filepath.Join(t.TempDir(), filepath.Base(dir))
	cmd := exec.Command(gobin, "build", "-o", out, ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", dir, err, b)
	}
	return out
}

// Build builds a test program: a C source (.c) with cflags, or else the
// Go program in that directory.
func Build(t testing.TB, what string, cflags ...string) string {
	t.Helper()
	if strings.HasSuffix(what, ".c") {
		return BuildC(t, what, cflags...)
	}
	return BuildGo(t, what)
}

// Ready is a test program StartReady started.
type Ready struct {
	Pid   int
	Stdin io.WriteCloser
	Lines *bufio.Scanner // its stdout after the first line
}

// StartReady starts bin with args and waits for its first line on stdout
// (it is ready); it is killed when the test ends.
func StartReady(t testing.TB, bin string, args ...string) *Ready {
	t.Helper()
	cmd := exec.Command(bin, args...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	lines := bufio.NewScanner(stdout)
	if !lines.Scan() {
		t.Fatalf("%s did not start", filepath.Base(bin))
	}
	return &Ready{Pid: cmd.Process.Pid, Stdin: stdin, Lines: lines}
}

// ProcessCPU is the CPU time (user + system, all threads, live and exited)
// the kernel accounted to process pid: the truth a profile's sample count
// is checked against. It reads the process's CPU-time clock (the
// scheduler's runtime, in ns) rather than /proc/PID/stat, whose utime and
// stime are each cut to 10 ms ticks: their sum moved by 20 ms in CI while
// the process ran for a few microseconds.
func ProcessCPU(t testing.TB, pid int) time.Duration {
	t.Helper()
	// MAKE_PROCESS_CPUCLOCK(pid, CPUCLOCK_SCHED): the clock id that
	// clock_getcpuclockid(3) gives for another process.
	id := int32(^uint32(pid)<<3 | 2)
	var ts unix.Timespec
	if err := unix.ClockGettime(id, &ts); err != nil {
		t.Fatalf("reading the CPU time of pid %d: %v", pid, err)
	}
	return time.Duration(ts.Nano())
}
