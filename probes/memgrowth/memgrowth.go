//go:build linux

// Package memgrowth attributes memory growth to call stacks with eBPF: it
// samples the page faults of target processes (where memory becomes
// resident), unwinds each sampled fault's user stack, and follows munmap,
// madvise, brk and mremap so that what it reports at the end is the
// sampled growth still mapped, by the stack that first touched it.
//
// It replaces per-call allocator uprobes as the default engine of
// `memory --alloc` because its cost does not depend on how often the
// target calls malloc: a program that reuses its memory takes no fault,
// and a growing one takes one per new page, which it was paying for
// anyway (see docs/benchmarks-memory.md).
package memgrowth

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/ringbuf"
	"golang.org/x/sys/unix"

	"github.com/kubectl-pixie/kubectl-pixie/probes/api"
	"github.com/kubectl-pixie/kubectl-pixie/probes/internal/attach"
	"github.com/kubectl-pixie/kubectl-pixie/probes/procs"
	"github.com/kubectl-pixie/kubectl-pixie/probes/profile"
	"github.com/kubectl-pixie/kubectl-pixie/probes/unwind"
)

// Config selects what to probe.
type Config struct {
	PIDs     []uint32
	ProcRoot string // default /proc
	// Budget is how many faults per second are sent with a stack before
	// the sampling halves (default 2000), enforced in the kernel per 100 ms.
	// Faults past the sampling cost the target a hash, not a stack copy.
	Budget int
	// MaxPages bounds the pages held (default 1<<20, ~40 MiB); past it
	// the sampling halves too.
	MaxPages int
}

const maxFrames = 64

// Tracer holds the loaded programs, the fault events and the ledger.
type Tracer struct {
	cfg   Config
	objs  memgrowthObjects
	perf  *attach.PerCPU
	links []link.Link
	rd    *ringbuf.Reader
	stats interface{ Close() error }
	unw   *unwind.Unwinder
	done  chan struct{}
	// controlling: control uses perf, so Close waits for it to stop.
	controlling sync.WaitGroup

	mu      sync.Mutex
	ledger  *Ledger
	sym     *profile.Symbolizer
	badRecs uint64
	period  uint32 // the perf event's sample period
	pshift  uint32 // control's only: period ~ 2^pshift
}

// Start loads the programs, opens the page-fault event on every CPU and
// the release tracepoints, and starts reading. Processes may be Added
// later.
func Start(cfg Config) (*Tracer, error) {
	if cfg.ProcRoot == "" {
		cfg.ProcRoot = "/proc"
	}
	if cfg.Budget <= 0 {
		cfg.Budget = 2000
	}
	if cfg.MaxPages <= 0 {
		cfg.MaxPages = 1 << 20
	}
	if err := attach.EnsureTracefs(); err != nil {
		return nil, err
	}
	spec, err := loadMemgrowth()
	if err != nil {
		return nil, fmt.Errorf("loading the memory growth probe spec: %w", err)
	}
	if err := spec.Variables["budget"].Set(uint64(cfg.Budget)); err != nil {
		return nil, err
	}
	t := &Tracer{cfg: cfg, done: make(chan struct{}), ledger: NewLedger(uint64(os.Getpagesize())),
		sym: profile.NewSymbolizer(cfg.ProcRoot), unw: unwind.New(cfg.ProcRoot)}
	if err := spec.LoadAndAssign(&t.objs, nil); err != nil {
		var ve *ebpf.VerifierError
		if errors.As(err, &ve) {
			return nil, fmt.Errorf("the kernel rejected the memory growth probe: %w", err)
		}
		return nil, fmt.Errorf("loading the memory growth probe: %w (needs root and Linux >= 5.15 with BTF)", err)
	}
	if s, err := ebpf.EnableStats(uint32(unix.BPF_STATS_RUN_TIME)); err == nil {
		t.stats = s
	}
	for _, pid := range cfg.PIDs {
		if err := t.objs.PxMgTgids.Put(pid, uint8(1)); err != nil {
			t.Close()
			return nil, fmt.Errorf("adding pid %d: %w", pid, err)
		}
	}
	for _, tp := range []struct {
		group, name string
		prog        *ebpf.Program
	}{
		{"syscalls", "sys_enter_munmap", t.objs.PxMgMunmap},
		{"syscalls", "sys_enter_madvise", t.objs.PxMgMadvise},
		{"syscalls", "sys_exit_brk", t.objs.PxMgBrk},
		{"syscalls", "sys_enter_mremap", t.objs.PxMgMremapEnter},
		{"syscalls", "sys_exit_mremap", t.objs.PxMgMremapExit},
		{"sched", "sched_process_exec", t.objs.PxMgExec},
	} {
		l, err := link.Tracepoint(tp.group, tp.name, tp.prog, nil)
		if err != nil {
			t.Close()
			return nil, fmt.Errorf("attaching to %s/%s: %w", tp.group, tp.name, err)
		}
		t.links = append(t.links, l)
	}
	if t.rd, err = ringbuf.NewReader(t.objs.PxMgEvents); err != nil {
		t.Close()
		return nil, fmt.Errorf("opening the fault ring buffer: %w", err)
	}
	// Release tracepoints first, faults last: a page is never recorded
	// without its release being watched.
	faults := unix.PerfEventAttr{Type: unix.PERF_TYPE_SOFTWARE, Config: unix.PERF_COUNT_SW_PAGE_FAULTS, Sample: 1}
	if t.perf, err = attach.OpenPerCPU(faults, t.objs.PxMgFault.FD(), "page-faults"); err != nil {
		t.Close()
		return nil, err
	}
	go t.read()
	t.controlling.Add(1)
	go func() {
		defer t.controlling.Done()
		t.control()
	}()
	return t, nil
}

// Add watches a process that started after Start.
func (t *Tracer) Add(pid uint32) error {
	return t.objs.PxMgTgids.Put(pid, uint8(1))
}

// read turns ring buffer records into ledger entries until Close. The
// probe wakes it only when records pile up (ring_flags), so a ticker
// flushes the rest every 50 ms.
func (t *Tracer) read() {
	go func() {
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-t.done:
				return
			case <-tick.C:
				_ = t.rd.Flush()
			}
		}
	}()
	var rec ringbuf.Record
	for {
		if err := t.rd.ReadInto(&rec); err != nil {
			if errors.Is(err, os.ErrClosed) {
				return
			}
			continue // ErrFlushed: the queue is drained
		}
		t.handle(rec.RawSample)
	}
}

// Offsets in struct mg_fault / mg_range (bpf/include/pixie/memgrowth.h),
// checked against bpf2go's types in the tests.
const (
	offFaultUser = 24
	faultSize    = offFaultUser + unwind.CaptureSize
	rangeSize    = 32
)

func (t *Tracer) handle(b []byte) {
	le := binary.LittleEndian
	if len(b) < 8 {
		t.badRecord()
		return
	}
	kind, tgid := le.Uint32(b), le.Uint32(b[4:])
	switch memgrowthMgKind(kind) {
	case memgrowthMgKindMG_FAULT:
		if len(b) < faultSize {
			t.badRecord()
			return
		}
		t.mu.Lock() // the unwinder is shared with Stacks, which names frames
		var pcs []uint64
		if s, ok := unwind.DecodeCapture(b[offFaultUser:]); ok {
			pcs = t.unw.Unwind(tgid, s, maxFrames)
		}
		t.ledger.Fault(tgid, le.Uint64(b[16:]), le.Uint32(b[12:]), pcs)
		t.mu.Unlock()
	case memgrowthMgKindMG_RELEASE, memgrowthMgKindMG_MOVE, memgrowthMgKindMG_EXEC:
		if len(b) < rangeSize {
			t.badRecord()
			return
		}
		addr, n, to := le.Uint64(b[8:]), le.Uint64(b[16:]), le.Uint64(b[24:])
		t.mu.Lock()
		switch memgrowthMgKind(kind) {
		case memgrowthMgKindMG_RELEASE:
			t.ledger.Release(tgid, addr, n)
		case memgrowthMgKindMG_MOVE:
			t.ledger.Move(tgid, addr, n, to)
		default:
			t.ledger.Exec(tgid)
			t.unw.Forget(tgid)
			t.sym.Forget(tgid)
		}
		t.mu.Unlock()
	default:
		t.badRecord()
	}
}

func (t *Tracer) badRecord() {
	t.mu.Lock()
	t.badRecs++
	t.mu.Unlock()
}

// control moves the sampling the probe raised (its shift, throttle in
// bpf/memgrowth.bpf.c) into the perf event's period, where skipped faults
// cost the target nothing, and thins it when the ledger passes its bound.
// It never lowers it: every page held must stay comparable with what is
// sampled next.
func (t *Tracer) control() {
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-t.done:
			return
		case <-tick.C:
		}
		t.mu.Lock()
		full := t.ledger.Pages() > t.cfg.MaxPages
		t.mu.Unlock()
		var shift uint32
		_ = t.objs.PxMgConfig.Lookup(uint32(0), &shift)
		if full {
			shift++
		}
		if shift == 0 || t.pshift+shift > 30 {
			continue
		}
		t.pshift += shift
		// An odd period (2^k - 1) so sampling does not lock onto loops
		// that fault a power-of-two number of pages.
		period := uint32(1)<<t.pshift - 1
		if t.pshift < 2 {
			period = 1 << t.pshift
		}
		if err := t.perf.SetPeriod(uint64(period)); err != nil {
			t.pshift -= shift
			continue // the in-kernel shift goes on sampling
		}
		_ = t.objs.PxMgConfig.Put(uint32(1), period)
		var cur uint32
		_ = t.objs.PxMgConfig.Lookup(uint32(0), &cur)
		_ = t.objs.PxMgConfig.Put(uint32(0), cur-min(cur, shift))
		t.mu.Lock()
		t.ledger.Downsample(period)
		t.period = period
		t.mu.Unlock()
	}
}

// Period is the current sampling: about 1 in Period faults is unwound.
func (t *Tracer) Period() uint32 {
	var shift uint32
	_ = t.objs.PxMgConfig.Lookup(uint32(0), &shift)
	t.mu.Lock()
	defer t.mu.Unlock()
	return max(t.period, 1) << shift
}

// Counters are the probe's own counts, summed over CPUs.
type Counters struct {
	Faults, Sampled, LostRingbuf, Ranges, LostRanges, BadRecords uint64
}

// Counters reads the BPF counters.
func (t *Tracer) Counters() Counters {
	sum := func(c memgrowthMgCounter) uint64 {
		var per []uint64
		if err := t.objs.PxMgCounters.Lookup(uint32(c), &per); err != nil {
			return 0
		}
		var s uint64
		for _, v := range per {
			s += v
		}
		return s
	}
	t.mu.Lock()
	bad := t.badRecs
	t.mu.Unlock()
	return Counters{Faults: sum(memgrowthMgCounterMG_FAULTS), Sampled: sum(memgrowthMgCounterMG_SAMPLED),
		LostRingbuf: sum(memgrowthMgCounterMG_LOST_RINGBUF), Ranges: sum(memgrowthMgCounterMG_RANGES),
		LostRanges: sum(memgrowthMgCounterMG_LOST_RANGES), BadRecords: bad}
}

// drain waits (briefly) until the reader has consumed what the kernel
// wrote, so the end-of-window report includes the last faults.
func (t *Tracer) drain() {
	_ = t.rd.Flush()
	deadline := time.Now().Add(500 * time.Millisecond)
	for t.rd.AvailableBytes() > 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(5 * time.Millisecond) // the record being handled
}

// Stacks returns, per process, the top stacks by growth still resident.
func (t *Tracer) Stacks(now time.Time, top int) []api.AllocStack {
	t.drain()
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []api.AllocStack
	for _, tgid := range t.ledger.Procs() {
		comm := procs.Comm(t.cfg.ProcRoot, tgid)
		for i, g := range t.ledger.Top(tgid, top) {
			if g.ResidentBytes == 0 && g.FaultedBytes == 0 {
				continue
			}
			out = append(out, api.AllocStack{
				Header:           api.Header{Table: api.TableAllocStacks},
				Time:             now.UnixNano(),
				PID:              tgid,
				Comm:             comm,
				Rank:             i + 1,
				OutstandingBytes: g.ResidentBytes,
				AllocatedBytes:   g.FaultedBytes,
				Source:           api.AllocSourceFaults,
				Frames:           t.frames(tgid, g.PCs),
			})
		}
	}
	return out
}

// frames symbolizes a stack: the first address is the faulting
// instruction, the others are return addresses.
func (t *Tracer) frames(pid uint32, pcs []uint64) []string {
	if len(pcs) == 0 {
		return []string{"[no stack]"}
	}
	out := make([]string, 0, len(pcs))
	start := func(pc uint64) (uint64, bool) { return t.unw.FuncStart(pid, pc) }
	for i, pc := range pcs {
		out = append(out, profile.StartName(t.sym.User(pid, pc, i == 0).Name(), pc, i == 0, start))
	}
	return out
}

// Stats returns the programs' run time and count (bpf_stats) and the
// events lost (ring buffer full).
func (t *Tracer) Stats() (runNs, runCount, lost uint64) {
	for _, p := range []*ebpf.Program{t.objs.PxMgFault, t.objs.PxMgMunmap, t.objs.PxMgMadvise, t.objs.PxMgBrk,
		t.objs.PxMgMremapEnter, t.objs.PxMgMremapExit, t.objs.PxMgExec} {
		if p == nil {
			continue
		}
		if s, err := p.Stats(); err == nil {
			runNs += uint64(s.Runtime)
			runCount += s.RunCount
		}
	}
	c := t.Counters()
	return runNs, runCount, c.LostRingbuf + c.LostRanges
}

// Close stops sampling and unloads everything.
func (t *Tracer) Close() error {
	select {
	case <-t.done:
	default:
		close(t.done)
	}
	t.controlling.Wait()
	if t.perf != nil {
		t.perf.Close()
		t.perf = nil
	}
	for i := len(t.links) - 1; i >= 0; i-- {
		_ = t.links[i].Close()
	}
	t.links = nil
	if t.rd != nil {
		_ = t.rd.Close()
	}
	if t.stats != nil {
		_ = t.stats.Close()
		t.stats = nil
	}
	return t.objs.Close()
}
