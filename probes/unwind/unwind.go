// Package unwind walks user-space stacks captured by a probe: registers, a
// copy of the stack from SP upward and a frame-pointer walk done at sample
// time.
//
// On x86-64 it follows each module's .eh_frame CFI, so it passes through code
// built without frame pointers (glibc's malloc), PLT stubs and signal frames
// (the DWARF expressions they use are evaluated). Where there is no CFI (Go
// binaries, JIT code, the vDSO) or the CFI needs memory that was not copied,
// it falls back to frame pointers: first through the copy, then by splicing
// into the sample-time walk. On arm64 the CFI would need the link register,
// which is not captured, so only the frame-pointer part runs (a leaf that has
// not saved LR yet loses its caller).
package unwind

import (
	"os"
	"runtime"
	"sort"
	"time"
)

// Regs are the user registers at the sample.
type Regs struct{ PC, SP, BP uint64 }

// FPFrame is one step of a frame-pointer walk done at sample time:
// RA = *(BP+8), and the next frame's BP = *BP.
type FPFrame struct{ BP, RA uint64 }

// Sample is what the probe captured.
type Sample struct {
	Regs
	Stack []byte    // user memory copied from Regs.SP upward (len may be 0..4096)
	FP    []FPFrame // frame-pointer walk from Regs.BP (may be empty)
}

const (
	// maxModules and maxModuleBytes bound the parsed-module cache (least
	// recently used goes first).
	maxModules     = 256
	maxModuleBytes = 512 << 20
	// modRetry is how long a module that failed to load is not retried.
	modRetry = 30 * time.Second
	// maxPids bounds the per-process maps cache; past it, it is cleared.
	maxPids = 4096
	// mapsRefresh rate-limits re-reading /proc/<pid>/maps on a miss.
	mapsRefresh = 500 * time.Millisecond
)

// Unwinder turns samples into return-address stacks. It caches parsed
// modules (by device, inode and path) and per-process mappings. It is not
// safe for concurrent use.
type Unwinder struct {
	procRoot string
	cfi      bool
	pageSize uint64
	now      func() time.Time

	pids     map[uint32]*procMaps
	mods     map[modKey]*modEntry
	modBytes int
	tick     uint64

	// Overridable in tests.
	readMaps func(pid uint32) ([]mapping, error)
	openMod  func(pid uint32, m *mapping) (*module, error)
}

type modKey struct {
	dev   string
	inode uint64
	path  string
}

type modEntry struct {
	mod    *module // nil when loading failed (remembered so we do not retry per sample)
	used   uint64
	size   int
	failed time.Time
}

// mapping is one executable line of /proc/<pid>/maps.
type mapping struct {
	start, end, off uint64
	dev             string
	inode           uint64
	path            string

	biasDone bool
	biasOK   bool
	bias     uint64
}

type procMaps struct {
	maps []mapping // sorted by start
	read time.Time
}

// New returns an Unwinder reading /proc under procRoot ("" = /proc). Mapped
// files are opened as <procRoot>/<pid>/root/<path>, falling back to
// <procRoot>/<pid>/map_files/<start>-<end>.
func New(procRoot string) *Unwinder {
	if procRoot == "" {
		procRoot = "/proc"
	}
	u := &Unwinder{
		procRoot: procRoot,
		cfi:      runtime.GOARCH == "amd64",
		pageSize: uint64(os.Getpagesize()),
		now:      time.Now,
		pids:     map[uint32]*procMaps{},
		mods:     map[modKey]*modEntry{},
	}
	u.readMaps = u.procReadMaps
	u.openMod = u.procOpenModule
	return u
}

// Forget drops what is cached for an exited process.
func (u *Unwinder) Forget(pid uint32) { delete(u.pids, pid) }

// stack gives word reads from the copied stack only.
type stack struct {
	sp  uint64
	mem []byte
}

func (s stack) read(a uint64) (uint64, bool) {
	if a < s.sp {
		return 0, false
	}
	return le64(s.mem, a-s.sp)
}

// contains reports whether a frame record [a, a+16) lies in the copy.
func (s stack) contains(a uint64) bool {
	return a >= s.sp && a-s.sp <= uint64(len(s.mem)) && uint64(len(s.mem))-(a-s.sp) >= 16
}

type stepResult int

const (
	stepOK       stepResult = iota
	stepEnd                 // the CFI says this is the outermost frame
	stepFallback            // no usable CFI here: try frame pointers
)

// Unwind returns up to max addresses, leaf first: [0] is s.PC, the rest are
// return addresses (they point after the call instruction).
func (u *Unwinder) Unwind(pid uint32, s Sample, max int) []uint64 {
	if max <= 0 {
		return nil
	}
	out := make([]uint64, 0, min(max, 64))
	out = append(out, s.PC)
	st := stack{sp: s.SP, mem: s.Stack}
	pc, sp, bp := s.PC, s.SP, s.BP
	exact := true // pc is the sampled one, not a return address
	for len(out) < max && pc != 0 {
		res := stepFallback
		var npc, nsp, nbp uint64
		signal := false
		if u.cfi {
			res, npc, nsp, nbp, signal = u.cfiStep(pid, st, pc, sp, bp, exact)
		}
		if res == stepEnd {
			break
		}
		if res == stepFallback {
			if bp >= sp && bp%8 == 0 && st.contains(bp) {
				npc, _ = st.read(bp + 8)
				nbp, _ = st.read(bp)
				nsp = bp + 16
			} else {
				return splice(out, s.FP, bp, max)
			}
		}
		if npc == 0 || nsp <= sp {
			break
		}
		out = append(out, npc)
		pc, sp, bp, exact = npc, nsp, nbp, signal
	}
	return out
}

// splice continues with the sample-time frame-pointer walk from the frame
// whose BP is bp.
func splice(out []uint64, fp []FPFrame, bp uint64, max int) []uint64 {
	if bp == 0 {
		return out
	}
	for i := range fp {
		if fp[i].BP != bp {
			continue
		}
		for j := i; j < len(fp) && len(out) < max; j++ {
			if fp[j].RA == 0 || (j > i && fp[j].BP <= fp[j-1].BP) {
				break
			}
			out = append(out, fp[j].RA)
		}
		break
	}
	return out
}

// cfiStep unwinds one frame with the CFI of the module mapped at pc. exact
// says pc is not a return address (the leaf, or the frame a signal
// interrupted). signal reports that this frame is a signal trampoline, so the
// caller's pc is exact.
func (u *Unwinder) cfiStep(pid uint32, st stack, pc, sp, bp uint64, exact bool) (res stepResult, npc, nsp, nbp uint64, signal bool) {
	m, bias := u.moduleAt(pid, pc)
	if m == nil || m.eh == nil || !m.cfi {
		return stepFallback, 0, 0, 0, false
	}
	lookup := pc - bias
	if !exact {
		lookup-- // return addresses point after the call, possibly past the FDE
	}
	c := m.steps[lookup]
	if c == nil {
		c = &cachedStep{}
		if d, err := m.eh.lookup(lookup); err == nil {
			if r, err := m.eh.rowAt(d, lookup); err == nil {
				c.r, c.raReg, c.signal, c.ok = r, d.cie.raReg, d.cie.signal, true
			}
		}
		if m.steps == nil || len(m.steps) >= maxSteps {
			m.steps = map[uint64]*cachedStep{}
		}
		m.steps[lookup] = c
	}
	if !c.ok {
		return stepFallback, 0, 0, 0, false
	}
	res, npc, nsp, nbp = applyRow(&c.r, c.raReg, st, pc, sp, bp)
	return res, npc, nsp, nbp, c.signal
}

// applyRow computes the caller's pc, sp and bp from a CFI row.
func applyRow(r *row, raReg uint64, st stack, pc, sp, bp uint64) (stepResult, uint64, uint64, uint64) {
	if raReg >= numRegs {
		return stepFallback, 0, 0, 0
	}
	regs := exprRegs{pc: pc, sp: sp, bp: bp}
	var cfa uint64
	switch {
	case r.cfaExpr != nil:
		v, ok := evalExpr(r.cfaExpr, &regs, st)
		if !ok {
			return stepFallback, 0, 0, 0
		}
		cfa = v
	case r.cfaReg == regRSP:
		cfa = sp + uint64(r.cfaOff)
	case r.cfaReg == regRBP:
		cfa = bp + uint64(r.cfaOff)
	default:
		return stepFallback, 0, 0, 0
	}
	ru := r.regs[raReg]
	switch ru.kind {
	case ruleUndefined:
		return stepEnd, 0, 0, 0
	case ruleUnspecified, ruleSameValue:
		return stepFallback, 0, 0, 0
	}
	ra, ok := regValue(ru, cfa, &regs, st)
	if !ok {
		return stepFallback, 0, 0, 0
	}
	nbp := bp
	switch ru := r.regs[regRBP]; ru.kind {
	case ruleUnspecified, ruleSameValue:
	case ruleOffset:
		// gcc does not emit restore rules after epilogue pops: a save slot
		// below sp means rbp was popped already and holds the caller's value.
		if a := cfa + uint64(ru.off); a >= sp {
			if nbp, ok = st.read(a); !ok {
				return stepFallback, 0, 0, 0
			}
		}
	default:
		if nbp, ok = regValue(ru, cfa, &regs, st); !ok {
			nbp = 0 // unknown from here on: frame-pointer fallback will stop
		}
	}
	return stepOK, ra, cfa, nbp
}

// regValue recovers a caller register from its rule.
func regValue(ru rule, cfa uint64, regs *exprRegs, st stack) (uint64, bool) {
	switch ru.kind {
	case ruleOffset:
		return st.read(cfa + uint64(ru.off))
	case ruleValOffset:
		return cfa + uint64(ru.off), true
	case ruleRegister:
		return regs.get(ru.reg)
	case ruleExpression:
		a, ok := evalExpr(ru.expr, regs, st, cfa)
		if !ok {
			return 0, false
		}
		return st.read(a)
	case ruleValExpression:
		return evalExpr(ru.expr, regs, st, cfa)
	}
	return 0, false
}

// moduleAt finds the module mapped at pc in pid and its load bias.
func (u *Unwinder) moduleAt(pid uint32, pc uint64) (*module, uint64) {
	m := u.mappingAt(pid, pc)
	if m == nil || m.inode == 0 {
		return nil, 0
	}
	key := modKey{dev: m.dev, inode: m.inode, path: m.path}
	u.tick++
	e := u.mods[key]
	if e != nil && e.mod == nil && u.now().Sub(e.failed) >= modRetry {
		u.drop(key)
		e = nil
	}
	if e == nil {
		mod, err := u.openMod(pid, m)
		e = &modEntry{mod: mod}
		if err != nil || mod == nil {
			e.mod, e.failed = nil, u.now()
		} else {
			e.size = mod.size()
		}
		for len(u.mods) > 0 && (len(u.mods) >= maxModules || u.modBytes+e.size > maxModuleBytes) {
			u.evict()
		}
		u.mods[key] = e
		u.modBytes += e.size
	}
	e.used = u.tick
	if e.mod == nil {
		return nil, 0
	}
	if !m.biasDone {
		m.biasDone = true
		m.bias, m.biasOK = e.mod.bias(m.start, m.end-m.start, m.off, u.pageSize)
	}
	if !m.biasOK {
		return nil, 0
	}
	return e.mod, m.bias
}

func (u *Unwinder) evict() {
	var oldest modKey
	var used uint64 = ^uint64(0)
	for k, e := range u.mods {
		if e.used < used {
			oldest, used = k, e.used
		}
	}
	u.drop(oldest)
}

func (u *Unwinder) drop(k modKey) {
	if e := u.mods[k]; e != nil {
		u.modBytes -= e.size
		delete(u.mods, k)
	}
}

func (u *Unwinder) mappingAt(pid uint32, pc uint64) *mapping {
	pm := u.pids[pid]
	if pm != nil {
		if m := findMapping(pm.maps, pc); m != nil {
			return m
		}
		if u.now().Sub(pm.read) < mapsRefresh {
			return nil
		}
	}
	maps, err := u.readMaps(pid)
	if pm == nil {
		if len(u.pids) >= maxPids {
			clear(u.pids)
		}
		pm = &procMaps{}
		u.pids[pid] = pm
	}
	pm.read = u.now()
	if err != nil {
		return nil
	}
	sort.Slice(maps, func(i, j int) bool { return maps[i].start < maps[j].start })
	pm.maps = maps
	return findMapping(pm.maps, pc)
}

func findMapping(maps []mapping, pc uint64) *mapping {
	i := sort.Search(len(maps), func(i int) bool { return maps[i].end > pc })
	if i < len(maps) && maps[i].start <= pc {
		return &maps[i]
	}
	return nil
}

// FuncStart returns the start of the function containing pc in pid, from
// its module's .eh_frame (the FDE's first address): what can name an
// address in a stripped library when no symbol covers it. Pass return
// addresses minus one, as a symbolizer looks them up.
func (u *Unwinder) FuncStart(pid uint32, pc uint64) (uint64, bool) {
	m, bias := u.moduleAt(pid, pc)
	if m == nil || m.eh == nil {
		return 0, false
	}
	d, err := m.eh.lookup(pc - bias)
	if err != nil || d == nil || pc-bias < d.begin {
		return 0, false
	}
	return d.begin + bias, true
}
