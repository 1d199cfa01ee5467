//go:build linux

package local

import (
	"bufio"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// burnLoop spins: the profile's hot function.
//
//go:noinline
func burnLoop(n int) uint64 {
	x := uint64(1)
	for i := 0; i < n; i++ {
		x = x*6364136223846793005 + 1442695040888963407
	}
	return x
}

// burnMain is the burn role: one goroutine spinning in burnLoop, its
// memory flat, until killed.
func burnMain() {
	fmt.Println("burning")
	var sink uint64
	for {
		sink += burnLoop(1 << 20)
	}
}

const burnFunc = "github.com/kubectl-pixie/kubectl-pixie/test/local.burnLoop"

// TestProfileAndMemoryGates: --fail-if on real profile and memory runs
// of a CPU burner (flat memory) and a C program leaking 2 MiB/s: the
// built binary exits 3 exactly for the rules that hold (the burner's
// share, the leak's verdict and rate, totals), else 0.
func TestProfileAndMemoryGates(t *testing.T) {
	requirePrivileged(t)
	burn := startRole(t, "burn")
	if burn.line(t) != "burning" {
		t.Fatal("burner did not start")
	}
	leak := startLeak(t)
	pids := fmt.Sprintf("--pid=%d", burn.pid())
	both := []string{pids, fmt.Sprintf("--pid=%d", leak)}
	runs := []struct {
		args []string
		code int
		says string
	}{
		{[]string{"profile", pids, "-o", "folded", "--fail-if", fmt.Sprintf("self(%q) > 50%%", burnFunc)}, 3, fmt.Sprintf("self(%q) ", burnFunc)},
		{[]string{"profile", pids, "-o", "folded", "--fail-if", fmt.Sprintf("self(%q) < 5%%", burnFunc), "--fail-if", "samples < 10"}, 0, ""},
		{[]string{"profile", pids, "-o", "folded", "--fail-if", `total(self) > 50% && function =~ "burnLoop$"`}, 3, "1 rows merged: total(self) "},
		{append([]string{"memory", "--fail-if", "verdict == leak"}, both...), 3, fmt.Sprintf("leak %d", leak)},
		{append([]string{"memory", "--fail-if", "growth > 5% && comm !~ leak", "--fail-if", "verdict == leak && pid == " + strings.TrimPrefix(pids, "--pid=")}, both...), 0, ""},
		{append([]string{"memory", "--fail-if", "rate_per_min > 60MiB && comm == leak", "--fail-if", "total(rss) < 1MiB"}, both...), 3, "rate_per_min "},
	}
	var wg sync.WaitGroup
	for _, r := range runs {
		wg.Go(func() {
			args := append([]string{r.args[0], "--local", "--duration", "8s"}, r.args[1:]...)
			if r.args[0] == "memory" {
				args = append(args, "--interval", "250ms")
			}
			cmd := exec.Command(pluginBin, args...)
			var stderr strings.Builder
			cmd.Stderr = &stderr
			err := cmd.Run()
			code := 0
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				code = ee.ExitCode()
			} else if err != nil {
				t.Errorf("%q: %v", r.args, err)
			}
			if code != r.code || r.code == 3 && !strings.Contains(stderr.String(), r.says) || r.code == 0 && strings.Contains(stderr.String(), "fired") {
				t.Errorf("%q: exit status %d, want %d saying %q; stderr:\n%s", r.args, code, r.code, r.says, stderr.String())
			}
		})
	}
	wg.Wait()
}

// startLeak builds and starts probes/memtrend's C leak at 2 MiB/s.
func startLeak(t *testing.T) uint32 {
	t.Helper()
	return startC(t, "../../probes/memtrend/testdata/leak.c", "2097152")
}

// startC compiles the C program src, starts it with args and waits for
// its first line (it prints one when ready); killed at the end of t.
func startC(t *testing.T, src string, args ...string) uint32 {
	t.Helper()
	return startReady(t, buildC(t, src), args...)
}

// buildC compiles the C program src into t's temporary directory.
func buildC(t *testing.T, src string) string {
	t.Helper()
	cc := requireCmd(t, "gcc")
	bin := filepath.Join(t.TempDir(), strings.TrimSuffix(filepath.Base(src), ".c"))
	if b, err := exec.Command(cc, "-O2", "-g", "-o", bin, src).CombinedOutput(); err != nil {
		t.Fatalf("gcc: %v\n%s", err, b)
	}
	return bin
}

// startReady starts bin with args and waits for its first line (it
// prints one when ready); killed at the end of t.
func startReady(t *testing.T, bin string, args ...string) uint32 {
	t.Helper()
	cmd := exec.Command(bin, args...)
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	if !bufio.NewScanner(stdout).Scan() {
		t.Fatalf("%s did not start", bin)
	}
	return uint32(cmd.Process.Pid)
}
