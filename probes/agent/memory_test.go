//go:build linux

package agent

import (
	"bufio"
	"bytes"
	"encoding/json"
	"math"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kubectl-pixie/kubectl-pixie/probes/api"
	"github.com/kubectl-pixie/kubectl-pixie/probes/api/vocab"
	"github.com/kubectl-pixie/kubectl-pixie/probes/internal/probetest"
)

// runMemoryAgent runs the memory runner as the plugin would and decodes
// its NDJSON output by table.
func runMemoryAgent(t *testing.T, cfg api.MemoryConfig) map[string][]json.RawMessage {
	t.Helper()
	cj, _ := json.Marshal(cfg)
	var out, errOut bytes.Buffer
	if code := Main([]string{"memory", "--config", string(cj)}, &out, &errOut); code != 0 {
		t.Fatalf("agent exited %d: %s\n%s", code, errOut.String(), out.String())
	}
	recs := map[string][]json.RawMessage{}
	for _, l := range bytes.Split(bytes.TrimSpace(out.Bytes()), []byte("\n")) {
		var h api.Header
		if err := json.Unmarshal(l, &h); err != nil {
			t.Fatalf("bad record %q: %v", l, err)
		}
		if h.V != api.Version || h.Seq == 0 {
			t.Errorf("record without version/seq: %s", l)
		}
		recs[h.Table] = append(recs[h.Table], append(json.RawMessage(nil), l...))
	}
	return recs
}

func startLeak(t *testing.T, rate string) int {
	t.Helper()
	cc := probetest.RequireCommand(t, "gcc")
	bin := filepath.Join(t.TempDir(), "leak")
	if b, err := exec.Command(cc, "-O2", "-g", "-fno-omit-frame-pointer", "-o", bin, "../memtrend/testdata/leak.c").CombinedOutput(); err != nil {
		t.Fatalf("gcc: %v\n%s", err, b)
	}
	cmd := exec.Command(bin, rate)
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	if !bufio.NewScanner(stdout).Scan() {
		t.Fatal("leak did not start")
	}
	return cmd.Process.Pid
}

// The agent end to end on a real C leak: process_stats each interval, a
// memory_summary with the leak verdict and the right slope, and with
// --alloc the top outstanding stack in the leaking function.
func TestMemoryAgentLeakWithAlloc(t *testing.T) {
	probetest.RequirePrivileged(t)
	const rate = 2 << 20
	pid := startLeak(t, "2097152")
	recs := runMemoryAgent(t, api.MemoryConfig{PIDs: []uint32{uint32(pid)}, DurationNs: int64(10 * time.Second),
		IntervalNs: int64(250 * time.Millisecond), Alloc: true, Syscalls: true})

	if n := len(recs[api.TableProcessStats]); n < 35 || n > 45 {
		t.Errorf("%d process_stats records, want ~41 (10 s / 250 ms + 1)", n)
	}
	var st api.ProcessStats
	_ = json.Unmarshal(recs[api.TableProcessStats][0], &st)
	if st.PID != uint32(pid) || st.Comm != "leak" || st.RSSBytes == 0 || st.VSizeBytes == 0 || st.MinorFaults == 0 {
		t.Errorf("first sample: %+v", st)
	}
	var lastSt api.ProcessStats
	_ = json.Unmarshal(recs[api.TableProcessStats][len(recs[api.TableProcessStats])-1], &lastSt)
	if lastSt.BrkBytes < 10<<20 { // 32 KiB blocks come from the heap: the break moves up
		t.Errorf("brk moved %d bytes in the window, want > 10 MiB (eBPF brk counter)", lastSt.BrkBytes)
	}
	if len(recs[api.TableMemorySummary]) != 1 {
		t.Fatalf("%d memory_summary records", len(recs[api.TableMemorySummary]))
	}
	var s api.MemorySummary
	_ = json.Unmarshal(recs[api.TableMemorySummary][0], &s)
	t.Logf("summary: %s %.0f B/s %s", s.Verdict, s.GrowthBytesPerSec, s.Reason)
	if s.Verdict != vocab.VerdictLeak || math.Abs(s.GrowthBytesPerSec-rate)/rate > 0.10 {
		t.Errorf("verdict %s slope %.0f, want leak at %d B/s ±10%%", s.Verdict, s.GrowthBytesPerSec, rate)
	}
	if s.PeakRSSBytes < s.StartRSSBytes+15<<20 || s.LimitBytes == 0 || s.TimeToOOMNs <= 0 {
		t.Errorf("peak/limit/oom: %+v", s)
	}
	if len(recs[api.TableAllocStacks]) == 0 {
		t.Fatal("no alloc_stacks records")
	}
	var a api.AllocStack
	_ = json.Unmarshal(recs[api.TableAllocStacks][0], &a)
	t.Logf("top stack: %s, %d B outstanding", strings.Join(a.Frames, ";"), a.OutstandingBytes)
	if a.Rank != 1 || a.Source != api.AllocSourceFaults || !slices.Contains(a.Frames, "leak_bytes") {
		t.Errorf("top stack %+v, want page-faults through leak_bytes", a)
	}
	// The page-fault engine holds about what leaked in the window.
	if got := float64(a.OutstandingBytes); got < 0.7*rate*10 || got > 1.2*rate*10 {
		t.Errorf("top stack holds %.0f B, want about %d B", got, rate*10)
	}
	var ps api.ProbeStats
	_ = json.Unmarshal(recs[api.TableProbeStats][0], &ps)
	if !ps.Final || ps.BPFRunCount == 0 || ps.PeakRSSBytes == 0 {
		t.Errorf("probe_stats %+v", ps)
	}
}

// A --comm target that starts after the window does is probed from its
// first sample: its leak is attributed like the others'.
func TestMemoryAgentAllocLateStarter(t *testing.T) {
	probetest.RequirePrivileged(t)
	cc := probetest.RequireCommand(t, "gcc")
	bin := filepath.Join(t.TempDir(), "lateleak")
	if b, err := exec.Command(cc, "-O2", "-o", bin, "../memtrend/testdata/leak.c").CombinedOutput(); err != nil {
		t.Fatalf("gcc: %v\n%s", err, b)
	}
	go func() {
		time.Sleep(time.Second)
		cmd := exec.Command(bin, "2097152")
		if err := cmd.Start(); err != nil {
			t.Error(err)
			return
		}
		t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	}()
	recs := runMemoryAgent(t, api.MemoryConfig{Comms: []string{"lateleak"}, DurationNs: int64(5 * time.Second),
		IntervalNs: int64(250 * time.Millisecond), Alloc: true})
	if len(recs[api.TableAllocStacks]) == 0 {
		t.Fatal("no alloc_stacks records for a target that started in the window")
	}
	var a api.AllocStack
	_ = json.Unmarshal(recs[api.TableAllocStacks][0], &a)
	t.Logf("top stack: %s, %d B", strings.Join(a.Frames, ";"), a.OutstandingBytes)
	if a.Comm != "lateleak" || !slices.Contains(a.Frames, "leak_bytes") || a.OutstandingBytes < 4<<20 {
		t.Errorf("top stack %+v, want lateleak's leak_bytes holding several MiB", a)
	}
}

// --alloc-mode uprobes: the exact allocator probes, opt-in.
func TestMemoryAgentAllocUprobes(t *testing.T) {
	probetest.RequirePrivileged(t)
	pid := startLeak(t, "2097152")
	recs := runMemoryAgent(t, api.MemoryConfig{PIDs: []uint32{uint32(pid)}, DurationNs: int64(2 * time.Second),
		Alloc: true, AllocMode: api.AllocModeUprobes})
	if len(recs[api.TableAllocStacks]) == 0 {
		t.Fatal("no alloc_stacks records")
	}
	var a api.AllocStack
	_ = json.Unmarshal(recs[api.TableAllocStacks][0], &a)
	if a.Source != api.AllocSourceLibc || len(a.Frames) == 0 || a.Frames[0] != "leak_bytes" {
		t.Errorf("top stack %+v, want libc with leak_bytes first", a)
	}
}

// An unprivileged-friendly check of the runner: no targets is a user
// error with a remedy, a vanished PID too.
func TestMemoryAgentErrors(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := Main([]string{"memory", "--config", `{"duration_ns":1000000000}`}, &out, &errOut); code != 1 || !strings.Contains(out.String(), "--pid") {
		t.Errorf("no targets: code %d, out %s", code, out.String())
	}
	out.Reset()
	if code := Main([]string{"memory", "--config", `{"pids":[4000000],"duration_ns":1000000000}`}, &out, &errOut); code != 1 || !strings.Contains(out.String(), "no process with PID") {
		t.Errorf("missing pid: code %d, out %s", code, out.String())
	}
	if code := Main([]string{"memory", "--config", `{`}, &out, &errOut); code != 2 {
		t.Errorf("bad config: code %d", code)
	}
}
