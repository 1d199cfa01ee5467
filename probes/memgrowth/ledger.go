package memgrowth

import (
	"encoding/binary"
	"math/rand/v2"
	"sort"
)

// Ledger keeps, per process, the sampled pages that became resident in
// the window and the stack that first touched each, until they are
// released. Each page held stands for weight pages (the sampling period
// when it was recorded); when the sampling thins, Downsample keeps each
// page with the matching odds, so the totals stay unbiased estimates.
type Ledger struct {
	pageSize uint64
	procs    map[uint32]*procPages
	ids      map[string]int32 // stack (pcs as bytes) -> index in stacks
	stacks   [][]uint64
	pages    int    // total over procs
	floor    uint32 // each page held stands for at least floor pages
	rand     *rand.Rand
}

type procPages struct {
	pages   map[uint64]page  // page number (addr / pageSize) -> first toucher
	faulted map[int32]uint64 // stack -> pages faulted in the window, released or not
}

type page struct {
	stack  int32
	weight uint32
}

// Growth is one stack's share of a process's growth.
type Growth struct {
	PCs           []uint64 // leaf first
	ResidentBytes uint64   // still mapped at the end (sampled, scaled)
	FaultedBytes  uint64   // made resident in the window, released or not
}

// NewLedger counts in pages of pageSize bytes.
func NewLedger(pageSize uint64) *Ledger {
	return &Ledger{pageSize: pageSize, floor: 1, procs: map[uint32]*procPages{}, ids: map[string]int32{},
		rand: rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))}
}

// Floor is the weight of the lightest pages held: the sampling period.
func (l *Ledger) Floor() uint32 { return l.floor }

// Pages is how many sampled pages are held.
func (l *Ledger) Pages() int { return l.pages }

func (l *Ledger) proc(tgid uint32) *procPages {
	p := l.procs[tgid]
	if p == nil {
		p = &procPages{pages: map[uint64]page{}, faulted: map[int32]uint64{}}
		l.procs[tgid] = p
	}
	return p
}

func (l *Ledger) intern(pcs []uint64) int32 {
	key := make([]byte, 8*len(pcs))
	for i, pc := range pcs {
		binary.LittleEndian.PutUint64(key[8*i:], pc)
	}
	if id, ok := l.ids[string(key)]; ok {
		return id
	}
	id := int32(len(l.stacks))
	l.ids[string(key)] = id
	l.stacks = append(l.stacks, append([]uint64(nil), pcs...))
	return id
}

// Fault records that addr's page became resident, touched by pcs. A page
// already held keeps its place: a second fault on it (a write after a
// read of the zero page, copy-on-write) is not new memory, but the writer
// is the better culprit, so it takes the page over.
func (l *Ledger) Fault(tgid uint32, addr uint64, weight uint32, pcs []uint64) {
	if weight == 0 {
		weight = 1
	}
	if weight > l.floor { // the probe samples less now: follow it
		l.Downsample(weight)
	}
	if weight < l.floor {
		// Sampled before the period went up, arrived after: keep it with
		// the odds Downsample gave the pages held.
		if !l.keep(weight, l.floor) {
			return
		}
		weight = l.floor
	}
	p := l.proc(tgid)
	id := l.intern(pcs)
	n := addr / l.pageSize
	if _, held := p.pages[n]; !held {
		l.pages++
		p.faulted[id] += uint64(weight)
	}
	p.pages[n] = page{stack: id, weight: weight}
}

// Release forgets the pages of [addr, addr+length): unmapped or discarded.
func (l *Ledger) Release(tgid uint32, addr, length uint64) {
	p := l.procs[tgid]
	if p == nil || length == 0 {
		return
	}
	l.each(p, addr, length, func(n uint64, _ page) {
		delete(p.pages, n)
		l.pages--
	})
}

// Move re-keys the pages of [from, from+length) to start at to (mremap).
func (l *Ledger) Move(tgid uint32, from, length, to uint64) {
	p := l.procs[tgid]
	if p == nil || length == 0 {
		return
	}
	type moved struct {
		n  uint64
		pg page
	}
	var ms []moved
	l.each(p, from, length, func(n uint64, pg page) {
		delete(p.pages, n)
		ms = append(ms, moved{n, pg})
	})
	for _, m := range ms {
		dst := (m.n*l.pageSize - from + to) / l.pageSize
		if _, held := p.pages[dst]; held {
			l.pages-- // replaced what was there
		}
		p.pages[dst] = m.pg
	}
}

// each visits the held pages in range, walking whichever is smaller: the
// range or the process's pages.
func (l *Ledger) each(p *procPages, addr, length uint64, fn func(uint64, page)) {
	first := addr / l.pageSize
	end := addr + length
	if end < addr { // wraps
		end = ^uint64(0)
	}
	last := (end - 1) / l.pageSize
	if last-first+1 <= uint64(len(p.pages)) {
		for n := first; ; n++ {
			if pg, ok := p.pages[n]; ok {
				fn(n, pg)
			}
			if n == last {
				break
			}
		}
		return
	}
	for n, pg := range p.pages {
		if n >= first && n <= last {
			fn(n, pg)
		}
	}
}

// Exec drops what the process held: its address space is new.
func (l *Ledger) Exec(tgid uint32) {
	if p := l.procs[tgid]; p != nil {
		l.pages -= len(p.pages)
		p.pages = map[uint64]page{}
	}
}

// Downsample makes every page held stand for at least w pages, keeping
// each lighter one with odds weight/w: what the probe does from then on.
func (l *Ledger) Downsample(w uint32) {
	if w <= l.floor {
		return
	}
	l.floor = w
	for _, p := range l.procs {
		for n, pg := range p.pages {
			if pg.weight >= w {
				continue
			}
			if !l.keep(pg.weight, w) {
				delete(p.pages, n)
				l.pages--
				continue
			}
			pg.weight = w
			p.pages[n] = pg
		}
	}
}

func (l *Ledger) keep(weight, w uint32) bool {
	return l.rand.Uint64N(uint64(w)) < uint64(weight)
}

// Top returns a process's stacks by resident bytes, then faulted bytes.
func (l *Ledger) Top(tgid uint32, top int) []Growth {
	p := l.procs[tgid]
	if p == nil {
		return nil
	}
	resident := map[int32]uint64{}
	for _, pg := range p.pages {
		resident[pg.stack] += uint64(pg.weight)
	}
	ids := make([]int32, 0, len(p.faulted))
	for id := range p.faulted {
		ids = append(ids, id)
	}
	for id := range resident {
		if _, ok := p.faulted[id]; !ok {
			ids = append(ids, id) // took a page over
		}
	}
	sort.Slice(ids, func(i, j int) bool {
		a, b := ids[i], ids[j]
		if resident[a] != resident[b] {
			return resident[a] > resident[b]
		}
		if p.faulted[a] != p.faulted[b] {
			return p.faulted[a] > p.faulted[b]
		}
		return a < b
	})
	var out []Growth
	for _, id := range ids {
		if len(out) == top {
			break
		}
		out = append(out, Growth{PCs: l.stacks[id], ResidentBytes: resident[id] * l.pageSize, FaultedBytes: p.faulted[id] * l.pageSize})
	}
	return out
}

// Procs lists the processes with any growth recorded.
func (l *Ledger) Procs() []uint32 {
	out := make([]uint32, 0, len(l.procs))
	for tgid := range l.procs {
		out = append(out, tgid)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}
