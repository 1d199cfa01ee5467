//go:build linux

package local

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/btf"

	"github.com/kubectl-pixie/kubectl-pixie/plugin/recording"
	"github.com/kubectl-pixie/kubectl-pixie/plugin/render"
	"github.com/kubectl-pixie/kubectl-pixie/probes/api"
)

// agentProc is the agent as /proc shows it at one moment.
type agentProc struct {
	cpuNs          uint64 // utime+stime
	hwm            uint64 // VmHWM, bytes
	bpfNs, bpfRuns uint64 // run_time_ns and run_cnt summed over its BPF programs' fdinfo
}

// readAgentProc reads pid's CPU, peak RSS and the kernel's bpf_stats of
// every BPF program it holds, independently of what the agent reports.
func readAgentProc(t *testing.T, pid int) agentProc {
	t.Helper()
	var a agentProc
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+2:]))
	ut, _ := strconv.ParseUint(f[11], 10, 64) // fields 14 and 15 of stat
	st, _ := strconv.ParseUint(f[12], 10, 64)
	a.cpuNs = (ut + st) * 1e7 // USER_HZ 100
	status, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	for _, l := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			kb, _ := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			a.hwm = kb << 10
		}
	}
	fds, _ := filepath.Glob(fmt.Sprintf("/proc/%d/fd/*", pid))
	for _, fd := range fds {
		if l, _ := os.Readlink(fd); l != "anon_inode:bpf-prog" {
			continue
		}
		info, _ := os.ReadFile(strings.Replace(fd, "/fd/", "/fdinfo/", 1))
		for _, l := range strings.Split(string(info), "\n") {
			k, v, _ := strings.Cut(l, ":")
			n, _ := strconv.ParseUint(strings.TrimSpace(v), 10, 64)
			switch k {
			case "run_time_ns":
				a.bpfNs += n
			case "run_cnt":
				a.bpfRuns += n
			}
		}
	}
	return a
}

// TestTraceFooterAgainstProc: the footer's probe CPU, peak RSS and BPF
// time per event agree with /proc of the agent and the kernel's bpf_stats
// read from its programs' fdinfo: read during the run, each is a floor of
// the final figure, and the final one exceeds it by no more than the
// shutdown could add; no request is lost and none is missing.
func TestTraceFooterAgainstProc(t *testing.T) {
	requirePrivileged(t)
	srv, addr := startServer(t, "127.0.0.1:0")
	tr := startTrace(t, append(pidArgs(srv.pid()), "--duration", "60s")...)
	agent := agentOf(t, tr.cmd.Process.Pid)
	const n = 300
	cli := startRole(t, "client", planArg(clientPlan{URLs: urls(addr, nPaths("/footer/%d", n)...)}))
	parseClient(t, cli.line(t))
	time.Sleep(500 * time.Millisecond) // the agent has read the ring
	p := readAgentProc(t, agent)
	read := time.Now()
	recs := tr.stop(t)
	shutdown := time.Since(read)
	final := recs.stats[len(recs.stats)-1]
	t.Logf("/proc: cpu %v, VmHWM %d KiB, bpf %d ns over %d runs; footer: cpu %v, peak RSS %d KiB, bpf %d ns over %d runs; shutdown %v",
		time.Duration(p.cpuNs), p.hwm>>10, p.bpfNs, p.bpfRuns, time.Duration(final.UserCPUNs), final.PeakRSSBytes>>10, final.BPFRunNs, final.BPFRunCount, shutdown)
	if !final.Final || len(recs.byRole("server", srv.pid())) != n || final.EventsLost != 0 {
		t.Fatalf("final %v: traced %d of %d requests, %d events lost", final.Final, len(recs.byRole("server", srv.pid())), n, final.EventsLost)
	}
	checkFooter(t, final, p, shutdown)
}

// checkFooter holds the final footer to what /proc and the kernel said
// of the agent during the run, shutdown before the end: each is a floor of
// the final figure, the CPU exceeds it by no more than the shutdown could
// add on 2 CPUs, and the ns per BPF run stays within 25%.
func checkFooter(t *testing.T, final api.ProbeStats, p agentProc, shutdown time.Duration) {
	t.Helper()
	const tick = uint64(10 * time.Millisecond) // /proc/PID/stat counts in USER_HZ ticks
	if final.UserCPUNs+tick < p.cpuNs || final.UserCPUNs > p.cpuNs+2*uint64(shutdown)+tick {
		t.Errorf("footer CPU %v, /proc read %v before a %v shutdown (2 CPUs)", time.Duration(final.UserCPUNs), time.Duration(p.cpuNs), shutdown)
	}
	if final.PeakRSSBytes < p.hwm {
		t.Errorf("footer peak RSS %d KiB below the VmHWM %d KiB read during the run", final.PeakRSSBytes>>10, p.hwm>>10)
	}
	if p.bpfRuns == 0 || final.BPFRunNs < p.bpfNs || final.BPFRunCount < p.bpfRuns {
		t.Fatalf("footer bpf %d ns / %d runs below the fdinfo's %d ns / %d runs", final.BPFRunNs, final.BPFRunCount, p.bpfNs, p.bpfRuns)
	}
	// After the read the programs keep running: the final ns per run
	// stays near the one the kernel showed.
	got, want := float64(final.BPFRunNs)/float64(final.BPFRunCount), float64(p.bpfNs)/float64(p.bpfRuns)
	if got > want*1.25 || got < want/1.25 {
		t.Errorf("footer %.0f ns per BPF run, fdinfo %.0f", got, want)
	}
}

// TestMemoryFooterAgainstProc: the same for memory --alloc (page-fault
// stacks and the mmap/munmap/brk counters) on a C program leaking 2 MiB/s.
func TestMemoryFooterAgainstProc(t *testing.T) {
	requirePrivileged(t)
	leak := startLeak(t)
	tr := startTraceCmd(t, exec.Command(pluginBin, "memory", "--local", "--alloc", "--interval", "250ms", "--duration", "60s", "-o", "json", "--pid", strconv.Itoa(int(leak))))
	agent := agentOf(t, tr.cmd.Process.Pid)
	time.Sleep(4 * time.Second)
	p := readAgentProc(t, agent)
	read := time.Now()
	recs := tr.stop(t)
	shutdown := time.Since(read)
	if len(recs.stats) == 0 || !recs.stats[len(recs.stats)-1].Final {
		t.Fatalf("no final probe_stats: %v", recs.tables)
	}
	final := recs.stats[len(recs.stats)-1]
	t.Logf("/proc: cpu %v, VmHWM %d KiB, bpf %d ns over %d runs; footer: cpu %v, peak RSS %d KiB, bpf %d ns over %d runs, lost %d; shutdown %v",
		time.Duration(p.cpuNs), p.hwm>>10, p.bpfNs, p.bpfRuns, time.Duration(final.UserCPUNs), final.PeakRSSBytes>>10, final.BPFRunNs, final.BPFRunCount, final.EventsLost, shutdown)
	if final.EventsLost != 0 || final.Records == 0 {
		t.Errorf("footer: %d samples, %d events lost %v", final.Records, final.EventsLost, final.LostBy)
	}
	checkFooter(t, final, p, shutdown)
}

// TestProfileFooterAgainstProc: the same for profile on a CPU burner.
func TestProfileFooterAgainstProc(t *testing.T) {
	requirePrivileged(t)
	burn := startRole(t, "burn")
	if burn.line(t) != "burning" {
		t.Fatal("burner did not start")
	}
	tr := startTraceCmd(t, exec.Command(pluginBin, "profile", "--local", "--duration", "60s", "-o", "json", "--pid", strconv.Itoa(int(burn.pid()))))
	agent := agentOf(t, tr.cmd.Process.Pid)
	time.Sleep(4 * time.Second)
	p := readAgentProc(t, agent)
	read := time.Now()
	recs := tr.stop(t)
	shutdown := time.Since(read)
	if len(recs.stats) == 0 || !recs.stats[len(recs.stats)-1].Final {
		t.Fatalf("no final probe_stats: %v", recs.tables)
	}
	final := recs.stats[len(recs.stats)-1]
	t.Logf("/proc: cpu %v, VmHWM %d KiB, bpf %d ns over %d runs; footer: cpu %v, peak RSS %d KiB, bpf %d ns over %d runs, lost %d; shutdown %v",
		time.Duration(p.cpuNs), p.hwm>>10, p.bpfNs, p.bpfRuns, time.Duration(final.UserCPUNs), final.PeakRSSBytes>>10, final.BPFRunNs, final.BPFRunCount, final.EventsLost, shutdown)
	if final.EventsLost != 0 || final.Records == 0 {
		t.Errorf("footer: %d records, %d events lost %v", final.Records, final.EventsLost, final.LostBy)
	}
	checkFooter(t, final, p, shutdown)
}

// TestTraceForcedLoss: a ring of one page (the agent's ring_bytes, the
// knob the plugin leaves at 8 MiB) cannot hold a response event with a
// full 4 KiB capture, so every /big response is lost, and small ones
// may be too when the reader lags. The footer's ring_full equals the
// loss counter read by map ID from the agent's BPF map (the kernel's
// count, not the agent's report), and every request missing from the
// records is covered by it.
func TestTraceForcedLoss(t *testing.T) {
	requirePrivileged(t)
	srv, addr := startServer(t, "127.0.0.1:0")
	cfg, err := json.Marshal(api.TraceConfig{PIDs: []uint32{srv.pid()}, DurationNs: int64(time.Minute), EmitEvents: true, RingBytes: os.Getpagesize()})
	if err != nil {
		t.Fatal(err)
	}
	tr := startTraceCmd(t, exec.Command(pluginBin, "__agent", "trace", "--config", string(cfg)))
	const n = 200
	var paths []string
	for i := range n {
		if i%2 == 0 {
			paths = append(paths, fmt.Sprintf("/loss/%d", i))
		} else {
			paths = append(paths, "/big/16384")
		}
	}
	cli := startRole(t, "client", planArg(clientPlan{URLs: urls(addr, paths...)}))
	parseClient(t, cli.line(t))
	time.Sleep(500 * time.Millisecond) // the agent has read the ring; the server is idle
	kernel := agentMapCounter(t, tr.cmd.Process.Pid, "px_counts", "px_counters", "ring_full")
	recs := tr.stop(t)
	final := recs.stats[len(recs.stats)-1]
	traced := len(recs.byRole("server", srv.pid()))
	t.Logf("traced %d of %d requests; footer lost %d %v; kernel ring_full %d", traced, n, final.EventsLost, final.LostBy, kernel)
	if !final.Final || final.LostBy["ring_full"] == 0 {
		t.Fatalf("a one-page ring lost nothing (final %v, lost_by %v): the test did not force loss", final.Final, final.LostBy)
	}
	if final.LostBy["ring_full"] != kernel {
		t.Errorf("footer ring_full %d, the agent's BPF map says %d", final.LostBy["ring_full"], kernel)
	}
	if sum := sumValues(final.LostBy); final.EventsLost < final.LostBy["ring_full"] || final.EventsLost > sum {
		t.Errorf("events_lost %d is not the lost_by total (ring_full %d, all %d)", final.EventsLost, final.LostBy["ring_full"], sum)
	}
	if missing := uint64(n - traced); missing < n/2 || missing > final.LostBy["ring_full"] {
		t.Errorf("%d requests missing: every /big response is lost (%d), and each missing one must be a lost event (%d)", missing, n/2, final.LostBy["ring_full"])
	}
	// What the plugin prints of these records: the same counts.
	printed := replayFooter(t, "trace", tr.out.Bytes())
	for _, want := range []string{fmt.Sprintf("lost %s events", render.FormatCount(final.EventsLost)), "ring_full " + render.FormatCount(kernel)} {
		if !strings.Contains(printed, want) {
			t.Errorf("the plugin printed no %q:\n%s", want, printed)
		}
	}
}

// replayFooter renders an agent's records as the plugin prints them (a
// recording of them, replayed) and returns the output.
func replayFooter(t *testing.T, command string, records []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "run.pixie")
	w, err := recording.Create(path, recording.Header{Command: command, Output: "table", Nodes: 1, WindowNs: int64(time.Minute)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range bytes.Split(records, []byte("\n")) {
		if len(line) > 0 {
			w.Record("", line)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(pluginBin, "replay", path, "--color", "never").CombinedOutput()
	if err != nil {
		t.Fatalf("replay: %v\n%s", err, out)
	}
	return string(out)
}

func sumValues(m map[string]uint64) uint64 {
	var s uint64
	for _, v := range m {
		s += v
	}
	return s
}

// agentMapCounter reads member of struct typ from the per-CPU array map
// named name that process pid holds, summed over CPUs: opened by ID from
// the process's fds and decoded with the map's own BTF.
func agentMapCounter(t *testing.T, pid int, name, typ, member string) uint64 {
	t.Helper()
	infos, _ := filepath.Glob(fmt.Sprintf("/proc/%d/fdinfo/*", pid))
	for _, fi := range infos {
		b, _ := os.ReadFile(fi)
		_, rest, ok := strings.Cut(string(b), "map_id:\t")
		if !ok {
			continue
		}
		id, _ := strconv.ParseUint(strings.Fields(rest)[0], 10, 32)
		m, err := ebpf.NewMapFromID(ebpf.MapID(id))
		if err != nil {
			t.Fatalf("opening map %d: %v", id, err)
		}
		defer m.Close()
		info, err := m.Info()
		if err != nil || info.Name != name {
			continue
		}
		off := btfMemberOffset(t, info, typ, member)
		raw, err := m.LookupBytes(uint32(0))
		if err != nil {
			t.Fatal(err)
		}
		stride := (int(info.ValueSize) + 7) &^ 7 // per-CPU values are 8-byte aligned
		var sum uint64
		for cpu := 0; cpu+stride <= len(raw); cpu += stride {
			sum += binary.NativeEndian.Uint64(raw[cpu+off:])
		}
		return sum
	}
	t.Fatalf("process %d holds no BPF map %s", pid, name)
	return 0
}

func btfMemberOffset(t *testing.T, info *ebpf.MapInfo, typ, member string) int {
	t.Helper()
	id, ok := info.BTFID()
	if !ok {
		t.Fatalf("map %s has no BTF", info.Name)
	}
	h, err := btf.NewHandleFromID(id)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	spec, err := h.Spec(nil)
	if err != nil {
		t.Fatal(err)
	}
	var st *btf.Struct
	if err := spec.TypeByName(typ, &st); err != nil {
		t.Fatalf("BTF of map %s: %v", info.Name, err)
	}
	for _, m := range st.Members {
		if m.Name == member {
			return int(m.Offset.Bytes())
		}
	}
	t.Fatalf("struct %s has no member %s", typ, member)
	return 0
}
