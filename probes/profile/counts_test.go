//go:build linux

package profile

import (
	"bufio"
	"context"
	"io"
	"math"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kubectl-pixie/kubectl-pixie/probes/api"
	"github.com/kubectl-pixie/kubectl-pixie/probes/internal/probetest"
)

// heldBurner is a test program in held mode (goburn, cnofp): each release
// burns a set amount of its own CPU time, then it idles, so all the CPU it
// used in a run falls inside the profiler's window.
//
// It runs pinned to one CPU at nice -20. A burner that shares its CPU gets
// the clock's ticks by the scheduler's coin flips, a noise of about the
// square root of the count (6% of 300 samples on this loaded 2-CPU host,
// seen up to 8%) that says nothing about the profiler; pinned and first in
// line it holds its CPU but for short preemptions, for the few seconds of
// its burn.
type heldBurner struct {
	name string
	cmd  *exec.Cmd
	in   io.WriteCloser
	out  *bufio.Scanner
}

func startHeld(t *testing.T, name string, cpu int, args ...string) *heldBurner {
	t.Helper()
	nice := probetest.RequireCommand(t, "nice")
	taskset := probetest.RequireCommand(t, "taskset")
	args = append([]string{"-n", "-20", taskset, "-c", strconv.Itoa(cpu % runtime.NumCPU())}, args...)
	h := &heldBurner{name: name, cmd: exec.Command(nice, args...)} // each execs the next: one PID
	h.cmd.Stderr = os.Stderr
	var err error
	if h.in, err = h.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	out, err := h.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	h.out = bufio.NewScanner(out)
	if err := h.cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", name, err)
	}
	t.Cleanup(func() { _ = h.in.Close(); _ = h.cmd.Process.Kill(); _ = h.cmd.Wait() })
	return h
}

func (h *heldBurner) pid() uint32 { return uint32(h.cmd.Process.Pid) }

func (h *heldBurner) cpu(t *testing.T) time.Duration {
	return probetest.ProcessCPU(t, h.cmd.Process.Pid)
}

// burn is one run of held burners inside a profiler's window.
type burn struct {
	t      *testing.T
	hs     []*heldBurner
	ctx    context.Context // ends once all have burnt: stop the probe with it
	cancel context.CancelFunc
	before map[uint32]time.Duration
	steal  time.Duration
	burnt  chan bool
}

func newBurn(t *testing.T, hs ...*heldBurner) *burn {
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	t.Cleanup(cancel)
	return &burn{t: t, hs: hs, ctx: ctx, cancel: cancel, before: map[uint32]time.Duration{}, burnt: make(chan bool, 1)}
}

// release starts the burns; call it once the probe samples.
func (b *burn) release() {
	b.steal = hostSteal(b.t)
	for _, h := range b.hs {
		b.before[h.pid()] = h.cpu(b.t)
		if _, err := io.WriteString(h.in, "go\n"); err != nil {
			b.t.Fatalf("releasing %s: %v", h.name, err)
		}
	}
	go func() {
		ok := true
		for _, h := range b.hs {
			ok = h.out.Scan() && h.out.Text() == "burnt" && ok
		}
		b.burnt <- ok
		b.cancel()
	}()
}

// used is the CPU time each burner used since release, by its CPU-time
// clock; call it once the probe stopped.
func (b *burn) used() map[uint32]time.Duration {
	t := b.t
	t.Helper()
	if ok := <-b.burnt; !ok {
		t.Fatal("a burner did not report its burn in time (or died)")
	}
	used := map[uint32]time.Duration{}
	for _, h := range b.hs {
		used[h.pid()] = h.cpu(t) - b.before[h.pid()]
	}
	// The clock samples wall time, /proc counts CPU time without what the
	// hypervisor stole: steal can put a few samples over (logged to tell).
	t.Logf("the hypervisor stole %v of the host's CPUs during the burn", hostSteal(t)-b.steal)
	// Idle now: a later reading must agree, or the window missed CPU. An
	// idle Go runtime still wakes (sysmon, its threads' exits): a few
	// microseconds, far below half a sample period (5 ms at 99 Hz), the
	// most that cannot move a count.
	time.Sleep(200 * time.Millisecond)
	for _, h := range b.hs {
		if d := h.cpu(t) - b.before[h.pid()]; d-used[h.pid()] > 5*time.Millisecond {
			t.Fatalf("%s used %v in the window and %v by 200 ms later: it is not idle after its burn", h.name, used[h.pid()], d)
		}
	}
	return used
}

// burnInWindow profiles the burners, releases them once the probe samples
// and stops it when all have burnt. It returns the records and the CPU time
// each burner used meanwhile.
func burnInWindow(t *testing.T, cfg api.ProfileConfig, hs ...*heldBurner) ([]*api.StackTrace, *api.ProbeStats, map[uint32]time.Duration) {
	t.Helper()
	for _, h := range hs {
		cfg.PIDs = append(cfg.PIDs, h.pid())
	}
	b := newBurn(t, hs...)
	recs, stats := runProbeWith(t, b.ctx, cfg, b.release)
	return recs, stats, b.used()
}

// hostSteal is the steal time of all CPUs so far, from /proc/stat.
func hostSteal(t *testing.T) time.Duration {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(strings.SplitN(string(b), "\n", 2)[0]) // cpu user nice system idle iowait irq softirq steal
	if len(f) < 9 {
		t.Fatalf("/proc/stat: %q", f)
	}
	n, err := strconv.ParseInt(f[8], 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return time.Duration(n) * 10 * time.Millisecond // USER_HZ ticks
}

// samplesOf sums the samples of process pid.
func samplesOf(recs []*api.StackTrace, pid uint32) uint64 {
	var n uint64
	for _, r := range recs {
		if r.PID == pid {
			n += r.Count
		}
	}
	return n
}

// checkCount holds a process's samples to hz per second of the CPU time
// it used, within 10%: the probe samples a per-CPU cpu-clock event, whose
// period is 1/hz of CPU time (a fixed period: the kernel converts a
// software clock's frequency to one), so the count is that ratio.
func checkCount(t *testing.T, name string, got uint64, hz int, cpu time.Duration) {
	t.Helper()
	if !countWithin(t, name, got, hz, cpu) {
		t.Errorf("%s: %d samples for %v of CPU time, want %.0f (%d Hz) within 10%%", name, got, cpu, float64(hz)*cpu.Seconds(), hz)
	}
}

// countWithin logs a process's count against hz x its CPU time and
// reports whether it is within 10%.
func countWithin(t *testing.T, name string, got uint64, hz int, cpu time.Duration) bool {
	t.Helper()
	want := float64(hz) * cpu.Seconds()
	t.Logf("%s: %d samples for %v of CPU, %.0f expected at %d Hz (%+.1f%%)", name, got, cpu, want, hz, 100*(float64(got)-want)/want)
	return math.Abs(float64(got)-want) <= 0.1*want
}

// TestProfileSampleCounts holds sample counts to the CPU time the kernel
// accounted to each process over the same window: a Go program (two
// threads), a C program without frame pointers (CFI unwinding), and both at
// once, each checked on its own. The burners burn CPU time, not wall time,
// so a loaded machine slows the test but does not thin the samples.
func TestProfileSampleCounts(t *testing.T) {
	probetest.RequirePrivileged(t)
	goBin := probetest.BuildGo(t, "testdata/goburn")
	cBin := probetest.BuildC(t, "testdata/cnofp.c", "-O2", "-fomit-frame-pointer")
	const budget = "3" // CPU seconds per release
	g := startHeld(t, "go", 0, goBin, "held", budget)
	c := startHeld(t, "c-nofp", 1, cBin, "held", budget)
	hz := api.ProfileDefaultHz
	for _, run := range [][]*heldBurner{{g}, {c}, {g, c}} {
		// One retry of a run whose count misses: the CPU time is the
		// guest's, and a vCPU the host preempts keeps accruing it while
		// the sampling timer waits (this VM reports no steal time); seen
		// once in CI at -10.4% (266 of 297) with the next run at -0.7%.
		// A real fault misses both times.
		for attempt := 1; ; attempt++ {
			recs, stats, used := burnInWindow(t, api.ProfileConfig{Hz: hz}, run...)
			if stats.EventsLost > 0 {
				t.Errorf("%d samples lost (%v): the counts below miss them", stats.EventsLost, stats.LostBy)
			}
			ok := true
			for _, h := range run {
				if used[h.pid()] < 2900*time.Millisecond {
					t.Errorf("%s used only %v of CPU; it burns %s s per release", h.name, used[h.pid()], budget)
				}
				ok = countWithin(t, h.name, samplesOf(recs, h.pid()), hz, used[h.pid()]) && ok
			}
			if ok {
				break
			}
			if attempt == 2 {
				t.Errorf("samples of %s off by more than 10%% of %d Hz x CPU time in two runs", runNames(run), hz)
				break
			}
			t.Logf("a count is off by more than 10%%: running %s again", runNames(run))
		}
	}
}

func runNames(run []*heldBurner) string {
	var names []string
	for _, h := range run {
		names = append(names, h.name)
	}
	return strings.Join(names, " and ")
}
