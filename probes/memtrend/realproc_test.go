//go:build linux

package memtrend

import (
	"bufio"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/kubectl-pixie/kubectl-pixie/probes/api"
	"github.com/kubectl-pixie/kubectl-pixie/probes/api/vocab"
	"github.com/kubectl-pixie/kubectl-pixie/probes/internal/probetest"
)

// Tier 2 without root: real processes started by the test, sampled from
// /proc the way the agent does, judged by the trend maths. A process's
// own /proc files are readable by its parent's user, so no privilege is
// needed; these run everywhere Linux with gcc and go are.

const (
	sampleEvery = 200 * time.Millisecond
	window      = 12 * time.Second
)

func buildC(t *testing.T, src string) string {
	t.Helper()
	cc := probetest.RequireCommand(t, "gcc")
	out := filepath.Join(t.TempDir(), filepath.Base(src[:len(src)-2]))
	cmd := exec.Command(cc, "-O2", "-g", "-fno-omit-frame-pointer", "-o", out, src)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("compiling %s: %v\n%s", src, err, b)
	}
	return out
}

func buildGo(t *testing.T, dir string) string {
	t.Helper()
	goBin := filepath.Join(runtimeGOROOT(), "bin", "go")
	out := filepath.Join(t.TempDir(), filepath.Base(dir))
	cmd := exec.Command(goBin, "build", "-o", out, ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building %s: %v\n%s", dir, err, b)
	}
	return out
}

func runtimeGOROOT() string {
	if r := os.Getenv("GOROOT"); r != "" {
		return r
	}
	b, err := exec.Command("go", "env", "GOROOT").Output()
	if err != nil {
		return "/usr/local/go"
	}
	return string(b[:len(b)-1])
}

// start runs bin and waits for its "ready" line.
func start(t *testing.T, bin string, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(bin, args...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	if bin != "/bin/sleep" {
		if !bufio.NewScanner(stdout).Scan() {
			t.Fatalf("%s did not start", bin)
		}
	}
	return cmd
}

// watch samples pid like the agent and returns its summary.
func watch(t *testing.T, pid int) api.MemorySummary {
	t.Helper()
	var s Sampler
	var tr Tracker
	deadline := time.Now().Add(window)
	for now := time.Now(); now.Before(deadline); now = time.Now() {
		st, err := s.Sample(uint32(pid), now, false)
		if err != nil {
			t.Fatalf("sampling pid %d: %v", pid, err)
		}
		tr.Add(st)
		time.Sleep(sampleEvery)
	}
	total, avail := s.HostMemory()
	sums := tr.Summaries(time.Now().UnixNano(), Host{TotalBytes: total, AvailableBytes: avail})
	if len(sums) != 1 {
		t.Fatalf("%d summaries", len(sums))
	}
	t.Logf("%s: verdict %s, %.0f B/s [%.0f, %.0f], R²=%.3f, peak %d: %s", sums[0].Comm, sums[0].Verdict,
		sums[0].GrowthBytesPerSec, sums[0].GrowthLowBytesPerSec, sums[0].GrowthHighBytesPerSec, sums[0].RSquared, sums[0].PeakRSSBytes, sums[0].Reason)
	return sums[0]
}

func requireLeak(t *testing.T, s api.MemorySummary, rate float64) {
	t.Helper()
	if s.Verdict != vocab.VerdictLeak {
		t.Errorf("verdict %s (%s), want leak", s.Verdict, s.Reason)
	}
	if e := math.Abs(s.GrowthBytesPerSec-rate) / rate; e > 0.10 {
		t.Errorf("slope %.0f B/s is %.1f%% off the true %.0f B/s (limit 10%%)", s.GrowthBytesPerSec, 100*e, rate)
	}
}

func TestRealProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: real processes take 12 s")
	}
	const rate = 3 << 20 // bytes/s
	t.Run("CLeak", func(t *testing.T) {
		t.Parallel()
		cmd := start(t, buildC(t, "testdata/leak.c"), strconv.Itoa(rate))
		requireLeak(t, watch(t, cmd.Process.Pid), rate)
	})
	t.Run("GoLeak", func(t *testing.T) {
		t.Parallel()
		cmd := start(t, buildGo(t, "testdata/goleak"), strconv.Itoa(rate))
		requireLeak(t, watch(t, cmd.Process.Pid), rate)
	})
	t.Run("Sawtooth", func(t *testing.T) {
		t.Parallel()
		cmd := start(t, buildC(t, "testdata/sawtooth.c"), "32", "2")
		s := watch(t, cmd.Process.Pid)
		if s.Verdict == vocab.VerdictLeak || s.Verdict == vocab.VerdictGrowing || !s.Sawtooth {
			t.Errorf("verdict %s sawtooth=%v (%s), want a sawtooth that is not a leak", s.Verdict, s.Sawtooth, s.Reason)
		}
		if s.PeakRSSBytes < 24<<20 {
			t.Errorf("peak %d: the program did not run as expected", s.PeakRSSBytes)
		}
	})
	t.Run("GoGarbage", func(t *testing.T) {
		t.Parallel()
		cmd := start(t, buildGo(t, "testdata/gogc"), "40")
		s := watch(t, cmd.Process.Pid)
		// gogc says ready once its RSS has settled (Go's RSS creeps for
		// ~10 s after start-up); from then on the GC cycle must read as
		// stable or noisy.
		if s.Verdict != vocab.VerdictStable && s.Verdict != vocab.VerdictNoisy {
			t.Errorf("verdict %s (%s): a collected Go heap is not a leak", s.Verdict, s.Reason)
		}
	})
	t.Run("Idle", func(t *testing.T) {
		t.Parallel()
		cmd := start(t, "/bin/sleep", "60")
		s := watch(t, cmd.Process.Pid)
		if s.Verdict != vocab.VerdictStable {
			t.Errorf("verdict %s (%s), want stable", s.Verdict, s.Reason)
		}
	})
}
