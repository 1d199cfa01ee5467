//go:build linux

package profile

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Symbolizer turns stack addresses into function names on the node, so no
// binary leaves it. It is not safe for concurrent use.
type Symbolizer struct {
	procRoot string
	bins     *binaryCache
	procs    map[uint32]*process
	kernel   *kallsyms
	kernErr  error
	kernOnce bool
}

// NewSymbolizer reads processes under procRoot ("" means /proc).
func NewSymbolizer(procRoot string) *Symbolizer {
	if procRoot == "" {
		procRoot = "/proc"
	}
	return &Symbolizer{procRoot: procRoot, bins: newBinaryCache(), procs: map[uint32]*process{}}
}

type mapping struct {
	start, end, off uint64
	path            string
	bin             *binary
	binErr          error
	tried           bool
}

type process struct {
	pid      uint32
	maps     []mapping
	readAt   time.Time
	gone     bool
	perf     *perfMap
	perfPath string
	perfSize int64
	perfAt   time.Time
}

// refreshEvery bounds how often a process's maps are re-read on a miss.
const refreshEvery = 500 * time.Millisecond

func (s *Symbolizer) proc(pid uint32) *process {
	p := s.procs[pid]
	if p == nil {
		p = &process{pid: pid}
		s.procs[pid] = p
		s.readMaps(p)
	}
	return p
}

// Forget drops what is cached for an exited process (binaries stay cached).
func (s *Symbolizer) Forget(pid uint32) { delete(s.procs, pid) }

func (s *Symbolizer) readMaps(p *process) {
	p.readAt = time.Now()
	data, err := os.ReadFile(filepath.Join(s.procRoot, strconv.Itoa(int(p.pid)), "maps"))
	if err != nil {
		p.gone = len(p.maps) == 0
		return // keep the old maps: the process may have just exited
	}
	old := map[string]*binary{}
	for _, m := range p.maps {
		if m.bin != nil {
			old[m.path] = m.bin
		}
	}
	p.maps = parseMaps(data)
	for i := range p.maps {
		if b, ok := old[p.maps[i].path]; ok {
			p.maps[i].bin, p.maps[i].tried = b, true
		}
	}
}

// parseMaps reads /proc/PID/maps: "start-end perms offset dev inode path".
func parseMaps(data []byte) []mapping {
	var out []mapping
	for len(data) > 0 {
		var line []byte
		line, data, _ = bytes.Cut(data, []byte{'\n'})
		f := strings.Fields(string(line))
		if len(f) < 5 || !strings.Contains(f[1], "x") {
			continue // only executable mappings hold code
		}
		lo, hi, ok := strings.Cut(f[0], "-")
		if !ok {
			continue
		}
		start, err1 := strconv.ParseUint(lo, 16, 64)
		end, err2 := strconv.ParseUint(hi, 16, 64)
		off, err3 := strconv.ParseUint(f[2], 16, 64)
		if err1 != nil || err2 != nil || err3 != nil {
			continue
		}
		m := mapping{start: start, end: end, off: off}
		if len(f) >= 6 {
			m.path = strings.Join(f[5:], " ")
		}
		out = append(out, m)
	}
	return out
}

func (p *process) find(addr uint64) *mapping {
	i := sort.Search(len(p.maps), func(i int) bool { return p.maps[i].end > addr })
	if i < len(p.maps) && p.maps[i].start <= addr {
		return &p.maps[i]
	}
	return nil
}

// User symbolizes a user-space address of pid. leaf is false for return
// addresses (every frame but the first), which point after the call.
func (s *Symbolizer) User(pid uint32, addr uint64, leaf bool) resolved {
	if !leaf && addr > 0 {
		addr--
	}
	p := s.proc(pid)
	m := p.find(addr)
	if m == nil && time.Since(p.readAt) > refreshEvery {
		s.readMaps(p) // dlopen, new JIT region
		m = p.find(addr)
	}
	if m == nil || !isFile(m.path) {
		if r, ok := s.jit(p, addr); ok {
			return r
		}
		if m == nil {
			return resolved{name: "[unknown]", module: "[unknown]"}
		}
		mod := m.path
		if mod == "" {
			mod = "anon"
		}
		mod = strings.Trim(mod, "[]")
		return resolved{name: "[" + mod + "]", module: "[" + mod + "]"}
	}
	if !m.tried {
		m.tried = true
		m.bin, m.binErr = s.openBinary(p.pid, m)
	}
	off := addr - m.start + m.off
	if m.bin == nil {
		mod := moduleName(m.path)
		return resolved{name: fmt.Sprintf("[%s+0x%x]", mod, off), module: mod}
	}
	return m.bin.lookup(off)
}

func isFile(p string) bool { return strings.HasPrefix(p, "/") }

// openBinary opens the mapped file through the process's root (so files in
// containers resolve), falling back to map_files (deleted or replaced files).
func (s *Symbolizer) openBinary(pid uint32, m *mapping) (*binary, error) {
	name := moduleName(m.path)
	base := filepath.Join(s.procRoot, strconv.Itoa(int(pid)))
	b, err := s.bins.open(filepath.Join(base, "root", strings.TrimSuffix(m.path, " (deleted)")), name)
	if err == nil {
		return b, nil
	}
	b, err2 := s.bins.open(filepath.Join(base, "map_files", fmt.Sprintf("%x-%x", m.start, m.end)), name)
	if err2 == nil {
		return b, nil
	}
	return nil, err
}

// jit names an address from /tmp/perf-PID.map (Node --perf-basic-prof,
// Java with perf-map-agent), read through the process's root and under
// its PID as the process itself sees it (its innermost namespace PID).
func (s *Symbolizer) jit(p *process, addr uint64) (resolved, bool) {
	if p.perfPath == "" {
		p.perfPath = filepath.Join(s.procRoot, strconv.Itoa(int(p.pid)), "root", "tmp",
			fmt.Sprintf("perf-%d.map", s.nsPID(p.pid)))
	}
	if p.perf == nil || time.Since(p.perfAt) > refreshEvery {
		p.perfAt = time.Now()
		if fi, err := os.Stat(p.perfPath); err == nil && fi.Size() != p.perfSize {
			if pm, err := readPerfMap(p.perfPath); err == nil {
				p.perf, p.perfSize = pm, fi.Size()
			}
		}
	}
	if p.perf == nil {
		return resolved{}, false
	}
	if name, ok := p.perf.lookup(addr); ok {
		return resolved{name: name, module: "[jit]"}, true
	}
	return resolved{}, false
}

func (s *Symbolizer) nsPID(pid uint32) uint32 {
	data, err := os.ReadFile(filepath.Join(s.procRoot, strconv.Itoa(int(pid)), "status"))
	if err != nil {
		return pid
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "NSpid:"); ok {
			f := strings.Fields(rest)
			if len(f) > 0 {
				if v, err := strconv.ParseUint(f[len(f)-1], 10, 32); err == nil {
					return uint32(v)
				}
			}
		}
	}
	return pid
}

// Kernel symbolizes a kernel address from /proc/kallsyms.
func (s *Symbolizer) Kernel(addr uint64) resolved {
	if !s.kernOnce {
		s.kernOnce = true
		s.kernel, s.kernErr = readKallsyms(filepath.Join(s.procRoot, "kallsyms"))
	}
	if s.kernel != nil {
		if name, mod, ok := s.kernel.lookup(addr); ok {
			return resolved{name: name, module: mod, kernel: true}
		}
	}
	return resolved{name: "[kernel]", module: "[kernel]", kernel: true}
}

// perfMap is a JIT symbol map: "START SIZE name" per line, in hex.
type perfMap struct{ syms []symbol }

func readPerfMap(p string) (*perfMap, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	pm := &perfMap{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		a, rest, ok := strings.Cut(sc.Text(), " ")
		if !ok {
			continue
		}
		sz, name, ok := strings.Cut(rest, " ")
		if !ok {
			continue
		}
		start, err1 := strconv.ParseUint(strings.TrimPrefix(a, "0x"), 16, 64)
		size, err2 := strconv.ParseUint(strings.TrimPrefix(sz, "0x"), 16, 64)
		if err1 != nil || err2 != nil {
			continue
		}
		pm.syms = append(pm.syms, symbol{addr: start, size: size, name: name})
	}
	// Later entries win for the same address (code regions are reused).
	sort.SliceStable(pm.syms, func(i, j int) bool { return pm.syms[i].addr < pm.syms[j].addr })
	return pm, sc.Err()
}

func (pm *perfMap) lookup(addr uint64) (string, bool) {
	i := sort.Search(len(pm.syms), func(i int) bool { return pm.syms[i].addr > addr }) - 1
	// Walk back a little: regions overlap when code is moved or reused, and
	// the newest entry (last among equal starts) wins.
	for j := i; j >= 0 && j > i-16; j-- {
		if addr < pm.syms[j].addr+pm.syms[j].size {
			return pm.syms[j].name, true
		}
	}
	return "", false
}

// kallsyms is the kernel's symbol table (text symbols only).
type kallsyms struct {
	syms []symbol
	mods []string // parallel to syms: "[kernel]" or "[module]"
}

func readKallsyms(p string) (*kallsyms, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	type ent struct {
		symbol
		mod string
	}
	var ents []ent
	sc := bufio.NewScanner(f)
	nonzero := false
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) < 3 || (fs[1] != "t" && fs[1] != "T" && fs[1] != "w" && fs[1] != "W") {
			continue
		}
		a, err := strconv.ParseUint(fs[0], 16, 64)
		if err != nil {
			continue
		}
		nonzero = nonzero || a != 0
		mod := "[kernel]"
		if len(fs) >= 4 {
			mod = fs[3]
		}
		ents = append(ents, ent{symbol{addr: a, name: fs[2]}, mod})
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if !nonzero {
		return nil, fmt.Errorf("%s shows no addresses (kptr_restrict, or not privileged)", p)
	}
	sort.SliceStable(ents, func(i, j int) bool { return ents[i].addr < ents[j].addr })
	k := &kallsyms{syms: make([]symbol, len(ents)), mods: make([]string, len(ents))}
	for i, e := range ents {
		k.syms[i], k.mods[i] = e.symbol, e.mod
	}
	return k, nil
}

func (k *kallsyms) lookup(addr uint64) (name, mod string, ok bool) {
	i := sort.Search(len(k.syms), func(i int) bool { return k.syms[i].addr > addr }) - 1
	if i < 0 {
		return "", "", false
	}
	return k.syms[i].name, k.mods[i], true
}
