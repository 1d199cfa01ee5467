//go:build linux

package agent

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/kubectl-pixie/kubectl-pixie/probes/api"
	"github.com/kubectl-pixie/kubectl-pixie/probes/memtrend"
	"github.com/kubectl-pixie/kubectl-pixie/probes/procs"
)

func init() { commands["memory"] = runMemory }

const (
	memDefaultInterval = time.Second
	memDefaultDuration = 30 * time.Second
	memMinInterval     = 50 * time.Millisecond
)

func runMemory(args []string, stdout, stderr io.Writer) int {
	return runConfigured("memory", args, stdout, stderr, Memory)
}

// allocTracer is what --alloc needs from the allocator probe; the linux
// implementation lives in memory_alloc.go so this loop stays readable.
type allocTracer interface {
	// Stacks returns the top stacks per process at the end of the window.
	Stacks(now time.Time, top int) []api.AllocStack
	Stats() (runNs, runCount, lost uint64)
	// Add probes a target that started after the window did.
	Add(pid uint32) error
	// LostName names what lost events in probe_stats' lost_by.
	LostName() string
	// Note says how the window was sampled, for the log ("" for nothing).
	Note() string
	Close() error
}

// Memory samples the targets every interval for the window, writing
// process_stats records, then memory_summary (and with Alloc,
// alloc_stacks) records and the probe_stats footer.
func Memory(ctx context.Context, cfg api.MemoryConfig, out *Emitter) error {
	start := time.Now()
	cpu0 := selfCPU()
	interval := time.Duration(cfg.IntervalNs)
	if interval <= 0 {
		interval = memDefaultInterval
	}
	if interval < memMinInterval {
		interval = memMinInterval
	}
	window := time.Duration(cfg.DurationNs)
	if window <= 0 {
		window = memDefaultDuration
	}
	sel := procs.Selector{PIDs: cfg.PIDs, Comms: cfg.Comms, All: cfg.All, ContainerIDs: cfg.ContainerIDs, PodUIDs: cfg.PodUIDs,
		Exclude: []uint32{uint32(os.Getpid()), uint32(os.Getppid())}}
	if sel.Empty() {
		return &UserError{Msg: "no targets", Remedy: "name processes with --pid, --comm or --all"}
	}
	finder := procs.Finder{Root: cfg.ProcRootDir}
	if err := finder.CheckPIDs(cfg.PIDs); err != nil {
		return &UserError{Msg: err.Error(), Remedy: "check the PID with `ps -p PID` and try again"}
	}
	targets, err := finder.Find(sel)
	if err != nil {
		return err
	}
	if len(targets) == 0 {
		out.Log(api.LevelWarning, "no process matches the selector yet", "waiting for one to start; check --comm against `ps -eo comm`")
	}
	sampler := &memtrend.Sampler{ProcRoot: cfg.ProcRootDir, CgroupRoot: cfg.CgroupRoot}
	var tracker memtrend.Tracker

	var alloc allocTracer
	probed := map[uint32]bool{} // by the --alloc engine
	if cfg.Alloc {
		pids := make([]uint32, 0, len(targets))
		for _, p := range targets {
			pids = append(pids, p.PID)
			probed[p.PID] = true
		}
		alloc, err = startAlloc(cfg, pids, out)
		if err != nil {
			return err
		}
		defer alloc.Close()
	}
	var sys *memtrend.Syscalls
	if cfg.Syscalls {
		if sys, err = memtrend.StartSyscalls(sel.All); err != nil {
			out.Log(api.LevelWarning, "mmap/munmap/brk counters are off: "+err.Error(), "run as root for them; /proc sampling goes on")
			sys = nil
		} else {
			defer sys.Close()
		}
	}
	ready := &api.ProbeReady{Header: api.Header{Table: api.TableProbeReady}, Probe: "memory", AttachNs: int64(time.Since(start)), Targets: len(targets)}
	out.Emit(&ready.Header, ready)
	_ = out.Flush()

	ctx, cancel := context.WithTimeout(ctx, window)
	defer cancel()
	tick := time.NewTicker(interval)
	defer tick.Stop()
	live := map[uint32]string{} // pid -> upid
	var samples uint64
	sampleAll := func(now time.Time) {
		if sel.All || len(sel.Comms) > 0 || len(sel.ContainerIDs) > 0 || len(sel.PodUIDs) > 0 {
			if ts, err := finder.Find(sel); err == nil {
				targets = ts
			}
		}
		seen := map[uint32]bool{}
		for _, p := range targets {
			first := live[p.PID] == ""
			st, err := sampler.Sample(p.PID, now, first)
			if err != nil {
				continue
			}
			if !first && live[p.PID] != st.UPID { // PID reused
				tracker.Exited(live[p.PID])
			}
			st.ContainerID, st.PodUID = p.ContainerID, p.PodUID
			if alloc != nil && !probed[p.PID] {
				probed[p.PID] = true
				if err := alloc.Add(p.PID); err != nil {
					out.Log(api.LevelWarning, fmt.Sprintf("--alloc: pid %d (%s) started in the window but cannot be probed: %v", p.PID, p.Comm, err),
						"it still gets its memory trend; start it before the window to probe its allocations")
				}
			}
			if sys != nil {
				if first {
					_ = sys.Add(p.PID)
				}
				c := sys.Read(p.PID)
				st.MmapBytes, st.MunmapBytes, st.BrkBytes = c.MmapBytes, c.MunmapBytes, c.BrkBytes
			}
			live[p.PID] = st.UPID
			seen[p.PID] = true
			tracker.Add(st)
			out.Emit(&st.Header, &st)
			samples++
		}
		for pid, upid := range live {
			if !seen[pid] {
				tracker.Exited(upid)
				sampler.Forget(pid)
				if sys != nil {
					sys.Remove(pid)
				}
				delete(live, pid)
			}
		}
		_ = out.Flush()
	}
	sampleAll(time.Now())
	for done := false; !done; {
		select {
		case <-ctx.Done():
			done = true
		case now := <-tick.C:
			sampleAll(now)
			if out.Err() != nil { // the reader went away
				return nil
			}
		}
	}
	now := time.Now()
	sampleAll(now) // the window's last point
	total, avail := sampler.HostMemory()
	for _, s := range tracker.Summaries(now.UnixNano(), memtrend.Host{TotalBytes: total, AvailableBytes: avail}) {
		out.Emit(&s.Header, &s)
	}
	ps := &api.ProbeStats{Header: api.Header{Table: api.TableProbeStats}, Probe: "memory", WindowNs: int64(time.Since(start)),
		Records: samples, AttachNs: ready.AttachNs, Final: true}
	if alloc != nil {
		top := cfg.AllocTopStacks
		if top <= 0 {
			top = 10
		}
		stacks := alloc.Stacks(now, top)
		for i := range stacks {
			out.Emit(&stacks[i].Header, &stacks[i])
		}
		ps.BPFRunNs, ps.BPFRunCount, ps.EventsLost = alloc.Stats()
		ps.EventsCaptured = ps.BPFRunCount
		if ps.EventsLost > 0 {
			ps.LostBy = map[string]uint64{alloc.LostName(): ps.EventsLost}
		}
		if note := alloc.Note(); note != "" {
			out.Log(api.LevelInfo, note, "")
		}
	}
	if sys != nil {
		n, c := sys.Stats()
		ps.BPFRunNs += n
		ps.BPFRunCount += c
		if missed := sys.Missed(); missed > 0 {
			if ps.LostBy == nil {
				ps.LostBy = map[string]uint64{}
			}
			ps.LostBy["syscall_stats_full"] = missed
			ps.EventsLost += missed
		}
	}
	ps.UserCPUNs = selfCPU() - cpu0
	ps.PeakRSSBytes = selfPeakRSS()
	out.Emit(&ps.Header, ps)
	return out.Flush()
}
