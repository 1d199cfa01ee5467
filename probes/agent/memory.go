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
	interval := time.Duration(cfg.IntervalNs)
	if interval <= 0 {
		interval = memDefaultInterval
	}
	interval = max(interval, memMinInterval)
	window := time.Duration(cfg.DurationNs)
	if window <= 0 {
		window = memDefaultDuration
	}
	m, err := newMemSession(cfg, out)
	if err != nil {
		return err
	}
	defer m.close()
	if err := m.attach(); err != nil {
		return err
	}
	ready := &api.ProbeReady{Header: api.Header{Table: api.TableProbeReady}, Probe: "memory", AttachNs: int64(time.Since(start)), Targets: len(m.targets)}
	out.Emit(&ready.Header, ready)
	_ = out.Flush()

	ctx, cancel := context.WithTimeout(ctx, window)
	defer cancel()
	tick := time.NewTicker(interval)
	defer tick.Stop()
	m.sample(time.Now())
	for done := false; !done; {
		select {
		case <-ctx.Done():
			done = true
		case now := <-tick.C:
			m.sample(now)
			if out.Err() != nil { // the reader went away
				return nil
			}
		}
	}
	now := time.Now()
	m.sample(now) // the window's last point
	ps := m.finish(now)
	ps.WindowNs, ps.AttachNs = int64(time.Since(start)), ready.AttachNs
	ps.UserCPUNs = selfCPU() // the agent's, start-up included, as trace and profile count it and /proc shows it
	ps.PeakRSSBytes = selfPeakRSS()
	out.Emit(&ps.Header, ps)
	return out.Flush()
}

// memSession is one memory window: the targets, what samples them, and
// the trend of each.
type memSession struct {
	cfg     api.MemoryConfig
	out     *Emitter
	sel     procs.Selector
	finder  procs.Finder
	targets []procs.Proc
	sampler *memtrend.Sampler
	trends  memtrend.Tracker
	alloc   allocTracer        // --alloc, or nil
	probed  map[uint32]bool    // by the --alloc engine
	sys     *memtrend.Syscalls // mmap/munmap/brk counters, or nil
	node    *nodePods          // node/NAME: other nodes' pods are dropped; or nil
	live    map[uint32]string  // pid -> upid
	samples uint64
}

// newMemSession checks the selection and finds the first targets.
func newMemSession(cfg api.MemoryConfig, out *Emitter) (*memSession, error) {
	m := &memSession{
		cfg: cfg, out: out,
		sel: procs.Selector{PIDs: cfg.PIDs, Comms: cfg.Comms, All: cfg.All, ContainerIDs: cfg.ContainerIDs, PodUIDs: cfg.PodUIDs,
			Exclude: []uint32{uint32(os.Getpid()), uint32(os.Getppid())}, PodIDs: cfg.NodeOnly},
		finder:  procs.Finder{Root: cfg.ProcRootDir},
		sampler: &memtrend.Sampler{ProcRoot: cfg.ProcRootDir, CgroupRoot: cfg.CgroupRoot},
		probed:  map[uint32]bool{},
		live:    map[uint32]string{},
		node:    newNodePods(cfg.ProcRootDir, cfg.NodeOnly, cfg.NodePodUIDs, getenvOS(EnvPodUID)),
	}
	if m.sel.Empty() {
		return nil, &UserError{Msg: "no targets", Remedy: "name processes with --pid, --comm or --all"}
	}
	if err := m.finder.CheckPIDs(cfg.PIDs); err != nil {
		return nil, &UserError{Msg: err.Error(), Remedy: "check the PID with `ps -p PID` and try again"}
	}
	var err error
	if m.targets, err = m.find(); err != nil {
		return nil, err
	}
	if len(m.targets) == 0 {
		out.Log(api.LevelWarning, "no process matches the selector yet", "waiting for one to start; check --comm against `ps -eo comm`")
	}
	return m, nil
}

// find lists the targets, without other nodes' pods for node/NAME.
func (m *memSession) find() ([]procs.Proc, error) {
	ts, err := m.finder.Find(m.sel)
	if err != nil || m.node == nil {
		return ts, err
	}
	own := ts[:0]
	for _, p := range ts {
		if !m.node.foreignPod(p.PodUID) {
			own = append(own, p)
		}
	}
	return own, nil
}

// attach starts the --alloc engine on the targets and the syscall
// counters; the counters are optional (sampling /proc goes on without).
func (m *memSession) attach() error {
	if m.cfg.Alloc {
		pids := make([]uint32, 0, len(m.targets))
		for _, p := range m.targets {
			pids = append(pids, p.PID)
			m.probed[p.PID] = true
		}
		alloc, err := startAlloc(m.cfg, pids, m.out)
		if err != nil {
			return err
		}
		m.alloc = alloc
	}
	if m.cfg.Syscalls {
		sys, err := memtrend.StartSyscalls(m.sel.All)
		if err != nil {
			m.out.Log(api.LevelWarning, "mmap/munmap/brk counters are off: "+err.Error(), "run as root for them; /proc sampling goes on")
			return nil
		}
		m.sys = sys
	}
	return nil
}

func (m *memSession) close() {
	if m.sys != nil {
		m.sys.Close()
	}
	if m.alloc != nil {
		m.alloc.Close()
	}
}

// sample writes one process_stats record per target (finding targets
// again when they are not fixed PIDs) and forgets the processes gone.
func (m *memSession) sample(now time.Time) {
	if m.sel.All || len(m.sel.Comms) > 0 || len(m.sel.ContainerIDs) > 0 || len(m.sel.PodUIDs) > 0 {
		if ts, err := m.find(); err == nil {
			m.targets = ts
		}
	}
	seen := map[uint32]bool{}
	for _, p := range m.targets {
		if m.sampleOne(p, now) {
			seen[p.PID] = true
		}
	}
	for pid, upid := range m.live {
		if !seen[pid] {
			m.trends.Exited(upid)
			m.sampler.Forget(pid)
			if m.sys != nil {
				m.sys.Remove(pid)
			}
			delete(m.live, pid)
		}
	}
	_ = m.out.Flush()
}

// sampleOne samples p; false when it could not be read (gone).
func (m *memSession) sampleOne(p procs.Proc, now time.Time) bool {
	first := m.live[p.PID] == ""
	st, err := m.sampler.Sample(p.PID, now, first)
	if err != nil {
		return false
	}
	if !first && m.live[p.PID] != st.UPID { // PID reused
		m.trends.Exited(m.live[p.PID])
	}
	st.ContainerID, st.PodUID = p.ContainerID, p.PodUID
	if m.alloc != nil && !m.probed[p.PID] {
		m.probed[p.PID] = true
		if err := m.alloc.Add(p.PID); err != nil {
			m.out.Log(api.LevelWarning, fmt.Sprintf("--alloc: pid %d (%s) started in the window but cannot be probed: %v", p.PID, p.Comm, err),
				"it still gets its memory trend; start it before the window to probe its allocations")
		}
	}
	if m.sys != nil {
		if first {
			_ = m.sys.Add(p.PID)
		}
		c := m.sys.Read(p.PID)
		st.MmapBytes, st.MunmapBytes, st.BrkBytes = c.MmapBytes, c.MunmapBytes, c.BrkBytes
		if low, ok := m.sys.TakeLow(p.PID); ok {
			st.LowRSSBytes, st.LowRSSTime = low.Bytes, low.Time
		}
	}
	m.live[p.PID] = st.UPID
	m.trends.Add(st)
	m.out.Emit(&st.Header, &st)
	m.samples++
	return true
}

// finish writes the verdicts and the --alloc stacks, and returns the
// footer with what the probes counted.
func (m *memSession) finish(now time.Time) *api.ProbeStats {
	total, avail := m.sampler.HostMemory()
	for _, s := range m.trends.Summaries(now.UnixNano(), memtrend.Host{TotalBytes: total, AvailableBytes: avail}) {
		m.out.Emit(&s.Header, &s)
	}
	ps := &api.ProbeStats{Header: api.Header{Table: api.TableProbeStats}, Probe: "memory", Records: m.samples, Final: true}
	if m.alloc != nil {
		top := m.cfg.AllocTopStacks
		if top <= 0 {
			top = 10
		}
		stacks := m.alloc.Stacks(now, top)
		for i := range stacks {
			m.out.Emit(&stacks[i].Header, &stacks[i])
		}
		ps.BPFRunNs, ps.BPFRunCount, ps.EventsLost = m.alloc.Stats()
		ps.EventsCaptured = ps.BPFRunCount
		if ps.EventsLost > 0 {
			ps.LostBy = map[string]uint64{m.alloc.LostName(): ps.EventsLost}
		}
		if note := m.alloc.Note(); note != "" {
			m.out.Log(api.LevelInfo, note, "")
		}
	}
	if m.sys != nil {
		n, c := m.sys.Stats()
		ps.BPFRunNs += n
		ps.BPFRunCount += c
		if missed := m.sys.Missed(); missed > 0 {
			if ps.LostBy == nil {
				ps.LostBy = map[string]uint64{}
			}
			ps.LostBy["syscall_stats_full"] = missed
			ps.EventsLost += missed
		}
	}
	return ps
}
