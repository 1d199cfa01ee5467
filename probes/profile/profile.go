//go:build linux

// Package profile is the CPU profiler: perf-event sampling on every CPU, a
// BPF program that counts (process, user stack, kernel stack) in the
// kernel, and symbolization on the node. It streams per-interval deltas of
// folded stacks (api.StackTrace), never one record per sample.
package profile

import (
	"context"
	"debug/elf"
	byteorder "encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/ringbuf"
	"golang.org/x/sys/unix"

	"github.com/kubectl-pixie/kubectl-pixie/probes/api"
	"github.com/kubectl-pixie/kubectl-pixie/probes/internal/attach"
	"github.com/kubectl-pixie/kubectl-pixie/probes/unwind"
)

// maxStackDepth is the kernel's PERF_MAX_STACK_DEPTH, the value size of the
// stack maps (127 addresses).
const maxStackDepth = 127

// Probe is a loaded, attached profiler.
type Probe struct {
	cfg     api.ProfileConfig
	objs    profileObjects
	perf    *attach.PerCPU
	raw     *ringbuf.Reader // samples of CFI-mode targets
	unw     *unwind.Unwinder
	stats   interface{ Close() error }
	sym     *Symbolizer
	half    uint32
	targets map[uint32]bool
	procs   map[uint32]procInfo
	start   time.Time
	attach  time.Duration

	samples, lost uint64
	lostBy        map[string]uint64
	records       uint64

	// lastSeen is the drain number a process last had samples in; processes
	// quiet for a while are checked and forgotten once they exit, so long
	// --all runs on busy nodes keep bounded memory.
	lastSeen map[uint32]int
	drains   int

	// classified: with All in auto mode, processes whose mode was decided
	// from their first CFI sample (Go programs are switched back to frame
	// pointers, counted in the kernel).
	classified map[uint32]bool
}

const forgetAfterDrains = 10

// Emit receives each record; it must not keep it after returning.
type Emit func(rec any) error

// New loads and attaches the profiler for cfg. Close releases it.
func New(cfg api.ProfileConfig) (*Probe, error) {
	start := time.Now()
	if cfg.Hz == 0 {
		cfg.Hz = api.ProfileDefaultHz
	}
	if cfg.Hz < 1 || cfg.Hz > api.ProfileMaxHz {
		return nil, fmt.Errorf("sampling rate %d Hz is out of range: use 1 to %d", cfg.Hz, api.ProfileMaxHz)
	}
	if cfg.IntervalNs <= 0 {
		cfg.IntervalNs = int64(time.Second)
	}
	if cfg.ProcRootDir == "" {
		cfg.ProcRootDir = "/proc"
	}
	if !cfg.All && selector(&cfg).Empty() {
		return nil, errors.New("no target: give PIDs, comms, container IDs, pod UIDs or all")
	}
	spec, err := loadProfile()
	if err != nil {
		return nil, err
	}
	if err := spec.Variables["filter_all"].Set(boolByte(cfg.All)); err != nil {
		return nil, err
	}
	if err := spec.Variables["want_kernel"].Set(boolByte(cfg.Kernel)); err != nil {
		return nil, err
	}
	switch cfg.Unwind {
	case "", api.ProfileUnwindAuto, api.ProfileUnwindFP, api.ProfileUnwindCFI:
	default:
		return nil, fmt.Errorf("unknown unwind mode %q: use auto, fp or cfi", cfg.Unwind)
	}
	allMode := uint8(profileProfileModePROFILE_MODE_CFI) // auto: not knowing each process, assume C
	if cfg.Unwind == api.ProfileUnwindFP {
		allMode = uint8(profileProfileModePROFILE_MODE_FP)
	}
	if err := spec.Variables["all_mode"].Set(allMode); err != nil {
		return nil, err
	}
	cpus, err := attach.OnlineCPUs()
	if err != nil {
		return nil, err
	}
	// One interval holds at most CPUs x Hz x interval samples; size the
	// maps for twice that so stack-id hash collisions stay rare.
	n := mapSize(len(cpus), cfg.Hz, time.Duration(cfg.IntervalNs))
	for _, name := range []string{"px_prof_stk0", "px_prof_stk1", "px_prof_cnt0", "px_prof_cnt1"} {
		spec.Maps[name].MaxEntries = n
	}
	spec.Maps["px_prof_raw"].MaxEntries = rawRingSize(len(cpus), cfg.Hz, time.Duration(cfg.IntervalNs))
	p := &Probe{cfg: cfg, sym: NewSymbolizer(cfg.ProcRootDir), unw: unwind.New(cfg.ProcRootDir), procs: map[uint32]procInfo{},
		lostBy: map[string]uint64{}, lastSeen: map[uint32]int{}, classified: map[uint32]bool{}, start: start}
	if err := spec.LoadAndAssign(&p.objs, nil); err != nil {
		return nil, fmt.Errorf("loading the profile BPF program: %w (needs root or CAP_BPF+CAP_PERFMON, Linux >= 5.8)", err)
	}
	if s, err := ebpf.EnableStats(uint32(unix.BPF_STATS_RUN_TIME)); err == nil {
		p.stats = s // probe cost in probe_stats; optional
	}
	if p.raw, err = ringbuf.NewReader(p.objs.PxProfRaw); err != nil {
		p.Close()
		return nil, fmt.Errorf("opening the profile sample ring: %w", err)
	}
	p.syncTargets()
	clock := unix.PerfEventAttr{Type: unix.PERF_TYPE_SOFTWARE, Config: unix.PERF_COUNT_SW_CPU_CLOCK,
		Sample: uint64(cfg.Hz), Bits: unix.PerfBitFreq}
	if p.perf, err = attach.OpenPerCPU(clock, p.objs.PxProfile.FD(), "cpu-clock"); err != nil {
		p.Close()
		return nil, err
	}
	p.attach = time.Since(start)
	return p, nil
}

func boolByte(b bool) uint8 {
	if b {
		return 1
	}
	return 0
}

// rawRingSize holds two intervals of every CPU sampling a CFI-mode target
// (a ~5 KiB record each), from 4 to 64 MiB; past it samples fall back to
// frame pointers, counted.
func rawRingSize(cpus, hz int, interval time.Duration) uint32 {
	want := uint64(cpus) * uint64(hz) * uint64(interval/time.Millisecond) / 1000 * 2 * uint64(unsafe.Sizeof(profileProfileRaw{}))
	n := uint32(4 << 20)
	for uint64(n) < want && n < 64<<20 {
		n <<= 1
	}
	return n
}

// mapSize sizes the stack and count maps. A stack map is a hash table
// without chaining: a new stack whose bucket is taken is lost (counted in
// lost_by user_stack/kernel_stack and shown as "[no stack]"), so the map
// needs many more buckets than the distinct stacks of one interval. Each
// entry holds 127 addresses (~1 KiB, preallocated), so 8192 entries cost
// 8 MiB per half; large nodes get up to 64K entries.
func mapSize(cpus, hz int, interval time.Duration) uint32 {
	want := uint64(cpus) * uint64(hz) * uint64(interval/time.Millisecond) / 1000 * 8
	n := uint32(8192)
	for uint64(n) < want && n < 1<<16 {
		n <<= 1
	}
	return n
}

// Close detaches and unloads everything, in reverse order.
func (p *Probe) Close() error {
	if p.perf != nil {
		p.perf.Close()
	}
	if p.raw != nil {
		_ = p.raw.Close()
	}
	if p.stats != nil {
		p.stats.Close()
	}
	return p.objs.Close()
}

// syncTargets re-resolves comms and container IDs and updates the
// in-kernel tgid filter.
func (p *Probe) syncTargets() {
	if p.cfg.All {
		return
	}
	now := resolveTargets(p.cfg.ProcRootDir, &p.cfg)
	for pid := range now {
		if !p.targets[pid] {
			_ = p.objs.PxProfTgids.Put(pid, p.modeFor(pid))
		}
	}
	for pid := range p.targets {
		if !now[pid] {
			_ = p.objs.PxProfTgids.Delete(pid)
		}
	}
	p.targets = now
}

// modeFor picks how pid's user stacks are walked: Go programs keep frame
// pointers (counted in the kernel, the cheapest); anything else may run
// code built without them (distribution C and C++), so its samples are
// unwound with CFI in user space.
func (p *Probe) modeFor(pid uint32) uint8 {
	switch p.cfg.Unwind {
	case api.ProfileUnwindFP:
		return uint8(profileProfileModePROFILE_MODE_FP)
	case api.ProfileUnwindCFI:
		return uint8(profileProfileModePROFILE_MODE_CFI)
	}
	if isGoProgram(filepath.Join(p.cfg.ProcRootDir, strconv.FormatUint(uint64(pid), 10), "exe")) {
		return uint8(profileProfileModePROFILE_MODE_FP)
	}
	return uint8(profileProfileModePROFILE_MODE_CFI)
}

// isGoProgram: Go's linker always writes the pclntab and build info,
// stripped binaries included.
func isGoProgram(exe string) bool {
	f, err := elf.Open(exe)
	if err != nil {
		return false
	}
	defer f.Close()
	return f.Section(".gopclntab") != nil || f.Section(".go.buildinfo") != nil
}

// Targets is the number of processes selected now (0 with All).
func (p *Probe) Targets() int { return len(p.targets) }

// Run samples until ctx ends or the configured duration passes, emitting a
// probe_ready record, stack_traces deltas every interval and a final
// probe_stats record.
func (p *Probe) Run(ctx context.Context, emit Emit) error {
	if err := emit(&api.ProbeReady{Header: api.Header{Table: api.TableProbeReady}, Probe: api.ProbeProfile,
		AttachNs: p.attach.Nanoseconds(), Targets: len(p.targets)}); err != nil {
		return err
	}
	if p.cfg.DurationNs > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, time.Duration(p.cfg.DurationNs))
		defer cancel()
	}
	tick := time.NewTicker(time.Duration(p.cfg.IntervalNs))
	defer tick.Stop()
	for done := false; !done; {
		select {
		case <-ctx.Done():
			done = true
			p.perf.Close() // stop sampling, then drain both halves
		case <-tick.C:
		}
		if err := p.drain(emit, done); err != nil {
			return err
		}
		if !done {
			p.syncTargets()
			// Closes the interval: readers redraw, the agent flushes.
			if err := emit(p.Stats(false)); err != nil {
				return err
			}
		}
	}
	return emit(p.Stats(true))
}

// Stats is the probe_stats record: samples, losses and the probe's own cost.
func (p *Probe) Stats(final bool) *api.ProbeStats {
	s := &api.ProbeStats{Header: api.Header{Table: api.TableProbeStats}, Probe: api.ProbeProfile,
		WindowNs: time.Since(p.start).Nanoseconds(), EventsCaptured: p.samples - p.lost, EventsLost: p.lost,
		Records: p.records, AttachNs: p.attach.Nanoseconds(), Final: final}
	if len(p.lostBy) > 0 {
		s.LostBy = p.lostBy
	}
	if st, err := p.objs.PxProfile.Stats(); err == nil {
		s.BPFRunNs, s.BPFRunCount = uint64(st.Runtime), st.RunCount
	}
	var ru unix.Rusage
	if unix.Getrusage(unix.RUSAGE_SELF, &ru) == nil {
		s.UserCPUNs = uint64(ru.Utime.Nano() + ru.Stime.Nano())
		s.PeakRSSBytes = uint64(ru.Maxrss) * 1024
	}
	return s
}

type aggKey struct {
	pid   uint32
	stack string
}

type aggVal struct {
	count          uint64
	modules, lines string
}

// drain flips the double buffer, reads the idle half, symbolizes it and
// emits one record per (process, folded stack). With final it drains both
// halves (sampling has stopped).
func (p *Probe) drain(emit Emit, final bool) error {
	now := time.Now()
	agg := map[aggKey]*aggVal{}
	halves := []uint32{p.half}
	if final {
		halves = append(halves, 1-p.half)
	} else {
		old := p.half
		p.half = 1 - p.half
		if err := p.objs.PxProfCtl.Put(uint32(0), p.half); err != nil {
			return fmt.Errorf("switching sample buffers: %w", err)
		}
		// A program that read the old value may still be running on another
		// CPU; programs run for microseconds.
		time.Sleep(2 * time.Millisecond)
		halves = []uint32{old}
	}
	for _, h := range halves {
		if err := p.drainHalf(h, agg); err != nil {
			return err
		}
	}
	p.drainRaw(agg)
	p.readLost()
	keys := make([]aggKey, 0, len(agg))
	for k := range agg {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].pid != keys[j].pid {
			return keys[i].pid < keys[j].pid
		}
		return keys[i].stack < keys[j].stack
	})
	p.drains++
	for _, k := range keys {
		p.lastSeen[k.pid] = p.drains
	}
	if p.drains%forgetAfterDrains == 0 {
		p.forgetExited()
	}
	for _, k := range keys {
		v := agg[k]
		pi := p.info(k.pid)
		p.records++
		if err := emit(&api.StackTrace{Header: api.Header{Table: api.TableStackTraces}, Time: now.UnixNano(),
			PID: k.pid, Comm: pi.comm, ContainerID: pi.containerID, Stack: k.stack, Count: v.count,
			Modules: v.modules, Lines: v.lines}); err != nil {
			return err
		}
	}
	return nil
}

func (p *Probe) forgetExited() {
	for pid, d := range p.lastSeen {
		if p.drains-d < forgetAfterDrains {
			continue
		}
		if _, err := os.Stat(filepath.Join(p.cfg.ProcRootDir, strconv.Itoa(int(pid)))); err == nil {
			continue
		}
		delete(p.lastSeen, pid)
		delete(p.procs, pid)
		p.sym.Forget(pid)
		p.unw.Forget(pid)
		if p.classified[pid] {
			delete(p.classified, pid)
			_ = p.objs.PxProfTgids.Delete(pid)
		}
	}
}

func (p *Probe) info(pid uint32) procInfo {
	pi, ok := p.procs[pid]
	if !ok {
		pi = readProcInfo(p.cfg.ProcRootDir, pid)
		if pi.comm == "" {
			pi.comm = "[exited]"
		}
		p.procs[pid] = pi
	}
	return pi
}

func (p *Probe) drainHalf(h uint32, agg map[aggKey]*aggVal) error {
	cnt, stk := p.objs.PxProfCnt0, p.objs.PxProfStk0
	if h == 1 {
		cnt, stk = p.objs.PxProfCnt1, p.objs.PxProfStk1
	}
	var (
		key  profileProfileKey
		val  uint64
		keys []profileProfileKey
		vals []uint64
	)
	it := cnt.Iterate()
	for it.Next(&key, &val) {
		keys = append(keys, key)
		vals = append(vals, val)
	}
	if err := it.Err(); err != nil {
		return fmt.Errorf("reading sample counts: %w", err)
	}
	for _, k := range keys {
		_ = cnt.Delete(k)
	}
	stacks := map[int32][]uint64{}
	read := func(id int32) []uint64 {
		if id < 0 {
			return nil
		}
		if s, ok := stacks[id]; ok {
			return s
		}
		var buf [maxStackDepth]uint64
		var s []uint64
		if err := stk.Lookup(uint32(id), &buf); err == nil {
			for _, a := range buf {
				if a == 0 {
					break
				}
				s = append(s, a)
			}
		}
		stacks[id] = s
		return s
	}
	for i, k := range keys {
		ustack, kstack := read(k.UserStackId), read(k.KernelStackId)
		f := p.fold(k.Tgid, ustack, kstack)
		ak := aggKey{k.Tgid, f.stack}
		if v := agg[ak]; v != nil {
			v.count += vals[i]
		} else {
			agg[ak] = &aggVal{count: vals[i], modules: f.modules, lines: f.lines}
		}
	}
	clearStacks(stk)
	return nil
}

// Layout of struct profile_raw (bpf/include/pixie/profile.h), checked
// against bpf2go's type in the tests.
const (
	rawKstackOff = 8
	rawUserOff   = rawKstackOff + maxStackDepth*8
)

// drainRaw reads the CFI-mode samples queued since the last drain,
// unwinds each and adds it to agg. The ring never wakes the reader: a
// deadline of now reads what is there and returns.
func (p *Probe) drainRaw(agg map[aggKey]*aggVal) {
	if p.raw == nil {
		return
	}
	p.raw.SetDeadline(time.Now())
	// Count identical samples first, symbolize each distinct stack once:
	// a busy function samples the same stack over and over.
	type rawStack struct {
		tgid           uint32
		ustack, kstack []uint64
		count          uint64
	}
	distinct := map[string]*rawStack{}
	var rec ringbuf.Record
	var key []byte
	le := byteorder.LittleEndian
	for p.raw.ReadInto(&rec) == nil {
		b := rec.RawSample
		if len(b) < rawUserOff+unwind.CaptureSize {
			continue
		}
		tgid, nk := le.Uint32(b), min(int(le.Uint32(b[4:])), maxStackDepth)
		p.classify(tgid)
		var ustack []uint64
		if s, ok := unwind.DecodeCapture(b[rawUserOff:]); ok {
			ustack = p.unw.Unwind(tgid, s, maxStackDepth)
		}
		key = le.AppendUint32(key[:0], tgid)
		key = le.AppendUint32(key, uint32(len(ustack)))
		for _, pc := range ustack {
			key = le.AppendUint64(key, pc)
		}
		key = append(key, b[rawKstackOff:rawKstackOff+8*nk]...)
		if r := distinct[string(key)]; r != nil {
			r.count++
			continue
		}
		r := &rawStack{tgid: tgid, ustack: ustack, count: 1}
		for i := 0; i < nk; i++ {
			r.kstack = append(r.kstack, le.Uint64(b[rawKstackOff+8*i:]))
		}
		distinct[string(key)] = r
	}
	for _, r := range distinct {
		f := p.fold(r.tgid, r.ustack, r.kstack)
		ak := aggKey{r.tgid, f.stack}
		if v := agg[ak]; v != nil {
			v.count += r.count
		} else {
			agg[ak] = &aggVal{count: r.count, modules: f.modules, lines: f.lines}
		}
	}
}

// classify decides, with All in auto mode, how a process seen for the
// first time is unwound from now on (modeFor), through the tgid map the
// BPF program checks before its default.
func (p *Probe) classify(tgid uint32) {
	if !p.cfg.All || (p.cfg.Unwind != "" && p.cfg.Unwind != api.ProfileUnwindAuto) || p.classified[tgid] {
		return
	}
	p.classified[tgid] = true
	if mode := p.modeFor(tgid); mode != uint8(profileProfileModePROFILE_MODE_CFI) {
		_ = p.objs.PxProfTgids.Put(tgid, mode)
	}
}

// clearStacks empties a stack map for its next turn, including stacks of
// samples that were dropped (counts map full).
func clearStacks(stk *ebpf.Map) {
	var ids []uint32
	var next uint32
	var cur any // nil: first key
	for stk.NextKey(cur, &next) == nil {
		ids = append(ids, next)
		c := next
		cur = c
	}
	for _, id := range ids {
		_ = stk.Delete(id)
	}
}

// folded is one symbolized sample: api.StackTrace's Stack, Modules, Lines.
type folded struct{ stack, modules, lines string }

// fold symbolizes one sample's stacks into Brendan Gregg's folded form:
// root first, user frames, then kernel frames suffixed "_[k]".
func (p *Probe) fold(pid uint32, ustack, kstack []uint64) folded {
	n := max(len(ustack)+len(kstack), 1)
	names := make([]string, 0, n)
	mods := make([]string, 0, n)
	lines := make([]string, 0, n)
	anyLine := false
	start := func(pc uint64) (uint64, bool) { return p.unw.FuncStart(pid, pc) }
	for i := len(ustack) - 1; i >= 0; i-- {
		r := p.sym.User(pid, ustack[i], i == 0)
		names = append(names, cleanName(StartName(r.name, ustack[i], i == 0, start)))
		mods = append(mods, cleanName(r.module))
		if r.file != "" {
			lines = append(lines, cleanName(r.file)+":"+strconv.Itoa(r.line))
			anyLine = true
		} else {
			lines = append(lines, "")
		}
	}
	for i := len(kstack) - 1; i >= 0; i-- {
		r := p.sym.Kernel(kstack[i])
		names = append(names, cleanName(r.name)+api.KernelSuffix)
		mods = append(mods, cleanName(r.module))
		lines = append(lines, "")
	}
	if len(names) == 0 {
		// Neither stack could be read: still count the sample, visibly.
		names, mods, lines = append(names, "[no stack]"), append(mods, "[unknown]"), append(lines, "")
	}
	f := folded{stack: strings.Join(names, ";"), modules: strings.Join(mods, ";")}
	if anyLine {
		f.lines = strings.Join(lines, ";")
	}
	return f
}

func (p *Probe) readLost() {
	var total [profileProfileLostReasonPROFILE_LOST_MAX]uint64
	for r := uint32(0); r < uint32(profileProfileLostReasonPROFILE_LOST_MAX); r++ {
		var per []uint64
		if err := p.objs.PxProfLost.Lookup(r, &per); err != nil {
			continue
		}
		for _, v := range per {
			total[r] += v
		}
	}
	p.samples = total[profileProfileLostReasonPROFILE_SAMPLES]
	p.lost = total[profileProfileLostReasonPROFILE_LOST_COUNTS]
	set := func(name string, v uint64) {
		if v > 0 {
			p.lostBy[name] = v
		}
	}
	// Stack collisions keep the sample but lose its stack.
	set("user_stack", total[profileProfileLostReasonPROFILE_LOST_USTACK])
	set("kernel_stack", total[profileProfileLostReasonPROFILE_LOST_KSTACK])
	set("counts_full", total[profileProfileLostReasonPROFILE_LOST_COUNTS])
	// Kept, but unwound by frame pointers (maybe short) for want of room.
	set("cfi_ring_full", total[profileProfileLostReasonPROFILE_LOST_RAW])
}
