//go:build linux

package local

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/kubectl-pixie/kubectl-pixie/probes/api"
	"github.com/kubectl-pixie/kubectl-pixie/probes/api/vocab"
)

// TestMemoryChurnVerdicts is item 7 of issue 15 on real processes: a C
// program that maps, touches and unmaps 64 MiB every 150 ms, and beside it
// the same keeping 2 MiB/s, watched by the built plugin every 500 ms for
// 5 s. Each run watches two pairs at once (about 0.7 CPU of page
// touching), eight runs: 16 plain and 16 leaking processes in about 70 s.
// The plain sawtooth is never called leak or growing. The leak is called
// leak at its rate from the floor the eBPF counters read at each munmap's
// return, which scheduling cannot hide; it can only stretch the cycle, and
// when load leaves fewer than 6 intervals with a release in 5 s the
// verdict is undecided with a sample count, and a run of that count must
// call it leak. At a load of 16 on 2 CPUs all 16 were found in 5 s (16 of
// 16 bounds a round's miss rate below 17%, 95%); the statistics over 50
// seeds (and 3000 tried once) are probes/api/trend TestChurnLowsDecide.
func TestMemoryChurnVerdicts(t *testing.T) {
	requirePrivileged(t)
	const (
		leak  = 2 << 20
		runs  = 8
		pairs = 2
	)
	bin := buildC(t, "testdata/churn/churn.c")
	found, later := 0, 0
	for run := range runs {
		var plain, leaky []uint32
		for range pairs {
			plain = append(plain, startChurn(t, bin, 0))
			leaky = append(leaky, startChurn(t, bin, leak))
		}
		sums := memoryRun(t, 11, append(plain, leaky...)...)
		for _, pid := range plain {
			checkChurnPlain(t, run, sums[pid])
		}
		var again []uint32
		decide := 0
		for _, pid := range leaky {
			switch s := sums[pid]; {
			case churnLeakFound(s, leak):
				found++
			case churnUndecided(s):
				again, decide = append(again, pid), max(decide, s.DecideSamples)
			default:
				t.Errorf("run %d: %s", run, churnLeakMiss(s, leak))
			}
		}
		if len(again) > 0 { // a loaded machine stretched the cycle: a run as long as the verdict named
			for _, s := range memoryRun(t, min(decide, 41), again...) {
				if !churnLeakFound(s, leak) {
					t.Errorf("run %d, %d samples named: %s", run, decide, churnLeakMiss(s, leak))
				}
				later++
			}
		}
		for _, pid := range append(plain, leaky...) {
			_ = unix.Kill(int(pid), unix.SIGKILL)
		}
	}
	t.Logf("the leak was found in %d of %d rounds in 5 s, %d more at the sample count the verdict named", found, runs*pairs, later)
}

// checkChurnPlain fails when the plain sawtooth s is called leak or
// growing, or is not seen as cycling: faster than the sampling (the
// munmap counters and page faults show the churn) or, when load stretches
// its cycle past the interval, as a cycle its lows trace or a sawtooth
// the samples see. A process the machine did not give the CPU for 5
// cycles in 5 s is only held to never being a leak.
func checkChurnPlain(t *testing.T, run int, s api.MemorySummary) {
	t.Helper()
	if s.Verdict == vocab.VerdictLeak || s.Verdict == vocab.VerdictGrowing {
		t.Errorf("run %d, sawtooth %d: verdict %s (%s)", run, s.PID, s.Verdict, s.Reason)
	}
	if s.ReleasedBytes < 5*64<<20 {
		t.Logf("run %d, sawtooth %d: released %d MiB in 5 s, fewer than 5 cycles of 64 MiB: starved by the machine's load", run, s.PID, s.ReleasedBytes>>20)
		return
	}
	if !s.Undersampled && !strings.Contains(s.Reason, "sawtooth") && !strings.Contains(s.Reason, "memory cycle") {
		t.Errorf("run %d, sawtooth %d: not seen as cycling: verdict %s (%s)", run, s.PID, s.Verdict, s.Reason)
	}
}

// churnLeakFound reports whether s calls the leak a leak at its rate.
func churnLeakFound(s api.MemorySummary, leak float64) bool {
	return s.Verdict == vocab.VerdictLeak && math.Abs(s.GrowthBytesPerSec-leak) <= 0.25*leak && s.GrowthLowBytesPerSec > 0
}

// churnUndecided reports whether s says it cannot decide yet and names
// more samples.
func churnUndecided(s api.MemorySummary) bool {
	return s.Verdict == vocab.VerdictNoisy && strings.Contains(s.Reason, "undecided") && s.DecideSamples > s.Samples
}

func churnLeakMiss(s api.MemorySummary, leak float64) string {
	return fmt.Sprintf("leak %d over %d samples: verdict %s at %.0f B/s [%.0f, %.0f], want leak at %.0f B/s ±25%% (%s)",
		s.PID, s.Samples, s.Verdict, s.GrowthBytesPerSec, s.GrowthLowBytesPerSec, s.GrowthHighBytesPerSec, leak, s.Reason)
}

// startChurn starts the churn program bin with a 64 MiB cycle every
// 150 ms keeping leak bytes/s (about a sixth of a CPU). It runs at nice
// -20, as a service owning its CPU would: on a loaded test machine its
// cycle would otherwise stretch to many times the 150 ms the workload is
// (the lows would still trace its floor, but a cycle of a second or more
// leaves too few intervals with a release in 5 s).
func startChurn(t *testing.T, bin string, leak int) uint32 {
	t.Helper()
	pid := startReady(t, bin, "64", "150", strconv.Itoa(leak))
	if err := unix.Setpriority(unix.PRIO_PROCESS, int(pid), -10); err != nil {
		t.Fatalf("renicing the churn process: %v", err)
	}
	return pid
}

// memoryRun runs the plugin's memory command on pids for samples samples
// 500 ms apart and returns the summaries by PID.
func memoryRun(t *testing.T, samples int, pids ...uint32) map[uint32]api.MemorySummary {
	t.Helper()
	window := time.Duration(samples-1) * 500 * time.Millisecond
	args := append([]string{"memory", "--local", "--interval", "500ms", "--duration", window.String(), "-o", "json"}, pidArgs(pids...)...)
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(pluginBin, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%v: %v\n%s", args, err, stderr.String())
	}
	sums := map[uint32]api.MemorySummary{}
	sc := bufio.NewScanner(&stdout)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var s api.MemorySummary
		if json.Unmarshal(sc.Bytes(), &s) == nil && s.Table == api.TableMemorySummary {
			sums[s.PID] = s
			t.Logf("%d: %s over %d samples, %s", s.PID, s.Verdict, s.Samples, s.Reason)
		}
	}
	for _, pid := range pids {
		if _, ok := sums[pid]; !ok {
			t.Fatalf("no memory_summary for pid %d in %s", pid, fmt.Sprint(args))
		}
	}
	return sums
}
