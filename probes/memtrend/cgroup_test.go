//go:build linux

package memtrend

import (
	"bufio"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kubectl-pixie/kubectl-pixie/probes/api"
	"github.com/kubectl-pixie/kubectl-pixie/probes/api/vocab"
	"github.com/kubectl-pixie/kubectl-pixie/probes/internal/probetest"
)

// memCgroupDir makes a memory cgroup with a limit, on the v1 memory
// controller when mounted (hybrid nodes), else on cgroup v2.
func memCgroupDir(t *testing.T, limit uint64) (dir, usageFile string) {
	t.Helper()
	name := fmt.Sprintf("pixie-memtest-%d", os.Getpid())
	if _, err := os.Stat("/sys/fs/cgroup/memory/memory.limit_in_bytes"); err == nil {
		dir = filepath.Join("/sys/fs/cgroup/memory", name)
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatalf("creating a v1 memory cgroup: %v", err)
		}
		t.Cleanup(func() { _ = os.Remove(dir) })
		if err := os.WriteFile(filepath.Join(dir, "memory.limit_in_bytes"), []byte(strconv.FormatUint(limit, 10)), 0o644); err != nil {
			t.Fatal(err)
		}
		return dir, "memory.usage_in_bytes"
	}
	const rootCtl = "/sys/fs/cgroup/cgroup.subtree_control"
	if ctl, _ := os.ReadFile(rootCtl); !strings.Contains(string(ctl), "memory") {
		// Delegate it, as systemd does on most cgroup v2 hosts.
		if err := os.WriteFile(rootCtl, []byte("+memory"), 0o644); err != nil {
			why := fmt.Sprintf("no v1 memory controller, and cgroup v2's root does not delegate memory (+memory into %s: %v)", rootCtl, err)
			if os.Getenv(probetest.RequireEnv) == "1" {
				t.Fatalf("privileged test cannot run (%s=1): %s", probetest.RequireEnv, why)
			}
			t.Skip("SKIP: " + why)
		}
	}
	dir = filepath.Join("/sys/fs/cgroup", name)
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatalf("creating a v2 cgroup: %v", err)
	}
	t.Cleanup(func() { _ = os.Remove(dir) })
	if err := os.WriteFile(filepath.Join(dir, "memory.max"), []byte(strconv.FormatUint(limit, 10)), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir, "memory.current"
}

// A leak in a memory cgroup with a limit: % of limit and the OOM
// projection must agree with the cgroup's own files.
func TestCgroupLimitAndOOMProjection(t *testing.T) {
	probetest.RequireRoot(t)
	const limit = 256 << 20
	const rate = 4 << 20
	dir, usageFile := memCgroupDir(t, limit)
	bin := buildC(t, "testdata/leak.c")
	// Join the cgroup before exec, so every page the leak touches is charged there.
	cmd := exec.Command("/bin/sh", "-c", `echo $$ > "$1/cgroup.procs" && exec "$2" "$3"`, "sh", dir, bin, strconv.Itoa(rate))
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	if !bufio.NewScanner(stdout).Scan() {
		t.Fatal("leak did not start")
	}
	pid := uint32(cmd.Process.Pid)
	var s Sampler
	var tr Tracker
	var last api.ProcessStats
	for end := time.Now().Add(8 * time.Second); time.Now().Before(end); time.Sleep(200 * time.Millisecond) {
		st, err := s.Sample(pid, time.Now(), false)
		if err != nil {
			t.Fatal(err)
		}
		tr.Add(st)
		last = st
	}
	fileUsage, ok := readUint(filepath.Join(dir, usageFile))
	if !ok {
		t.Fatal("reading the cgroup's usage")
	}
	sum := tr.Summaries(time.Now().UnixNano(), Host{})[0]
	t.Logf("cgroup %s usage %d (file now %d) limit %d; summary %.2f%% of limit, OOM in %s, %s",
		last.Cgroup, last.CgroupUsageBytes, fileUsage, last.CgroupLimitBytes, sum.PercentOfLimit, time.Duration(sum.TimeToOOMNs), sum.Reason)
	if !strings.HasSuffix(last.Cgroup, filepath.Base(dir)) || sum.LimitSource != "cgroup" || sum.LimitBytes != limit {
		t.Fatalf("cgroup %q source %q limit %d", last.Cgroup, sum.LimitSource, sum.LimitBytes)
	}
	// The last sample was read just before the file: within one interval of growth.
	if d := math.Abs(float64(fileUsage) - float64(last.CgroupUsageBytes)); d > 2*rate {
		t.Errorf("sampled usage %d vs the cgroup's %d", last.CgroupUsageBytes, fileUsage)
	}
	wantPct := 100 * float64(last.CgroupUsageBytes) / limit
	if math.Abs(sum.PercentOfLimit-wantPct) > 0.01 {
		t.Errorf("percent of limit %.3f, want %.3f", sum.PercentOfLimit, wantPct)
	}
	wantOOM := (limit - float64(last.CgroupUsageBytes)) / rate // seconds, at the true rate
	if got := float64(sum.TimeToOOMNs) / 1e9; math.Abs(got-wantOOM)/wantOOM > 0.10 {
		t.Errorf("time to OOM %.1fs, want %.1fs ±10%%", got, wantOOM)
	}
	if sum.Verdict != vocab.VerdictLeak {
		t.Errorf("verdict %s (%s)", sum.Verdict, sum.Reason)
	}
}
