//go:build linux

package local

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
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
	// After the read the programs keep running (every syscall enters
	// them): the final ns per run stays near the one the kernel showed.
	got, want := float64(final.BPFRunNs)/float64(final.BPFRunCount), float64(p.bpfNs)/float64(p.bpfRuns)
	if got > want*1.25 || got < want/1.25 {
		t.Errorf("footer %.0f ns per BPF run, fdinfo %.0f", got, want)
	}
}
