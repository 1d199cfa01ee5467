//go:build linux

package memalloc

import (
	"bufio"
	"debug/elf"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// symbolizer maps user addresses to function names on the node: maps of
// the process, then the ELF's PT_LOAD segments and symbol tables (.symtab,
// or .dynsym when stripped), read through /proc/PID/root so files inside
// containers resolve.
type symbolizer struct {
	procRoot string
	procs    map[uint32][]mapping
	files    map[string]*elfSyms
}

type mapping struct {
	start, end, off uint64
	path            string
}

type elfSyms struct {
	loads []elf.ProgHeader
	syms  []elf.Symbol // functions, sorted by Value
	err   error
}

func newSymbolizer(procRoot string) *symbolizer {
	return &symbolizer{procRoot: procRoot, procs: map[uint32][]mapping{}, files: map[string]*elfSyms{}}
}

func (s *symbolizer) dir(pid uint32) string {
	return filepath.Join(s.procRoot, strconv.FormatUint(uint64(pid), 10))
}

func (s *symbolizer) comm(pid uint32) string {
	b, err := os.ReadFile(filepath.Join(s.dir(pid), "comm"))
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

func (s *symbolizer) maps(pid uint32) []mapping {
	if m, ok := s.procs[pid]; ok {
		return m
	}
	var out []mapping
	if b, err := os.ReadFile(filepath.Join(s.dir(pid), "maps")); err == nil {
		out = parseMaps(b)
	}
	s.procs[pid] = out
	return out
}

func parseMaps(b []byte) []mapping {
	var out []mapping
	sc := bufio.NewScanner(strings.NewReader(string(b)))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 6 || !strings.HasPrefix(f[5], "/") || !strings.Contains(f[1], "x") {
			continue
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
		out = append(out, mapping{start: start, end: end, off: off, path: f[5]})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].start < out[j].start })
	return out
}

// resolve names pc. Return addresses point after the call, so they are
// looked up one byte earlier (exact is false); an exact address is the
// function's own (a probe at its entry).
func (s *symbolizer) resolve(pid uint32, pc uint64, exact bool) string {
	addr := pc
	if !exact && addr > 0 {
		addr--
	}
	ms := s.maps(pid)
	i := sort.Search(len(ms), func(i int) bool { return ms[i].end > addr })
	if i == len(ms) || ms[i].start > addr {
		return fmt.Sprintf("[unknown] 0x%x", pc)
	}
	m := ms[i]
	fileOff := addr - m.start + m.off
	es := s.file(pid, m.path)
	mod := filepath.Base(m.path)
	if es.err != nil {
		return fmt.Sprintf("%s+0x%x", mod, fileOff)
	}
	vaddr, ok := uint64(0), false
	for _, p := range es.loads {
		if fileOff >= p.Off && fileOff < p.Off+p.Filesz {
			vaddr, ok = fileOff-p.Off+p.Vaddr, true
			break
		}
	}
	if !ok {
		return fmt.Sprintf("%s+0x%x", mod, fileOff)
	}
	j := sort.Search(len(es.syms), func(j int) bool { return es.syms[j].Value > vaddr }) - 1
	if j < 0 {
		return fmt.Sprintf("%s+0x%x", mod, fileOff)
	}
	sym := es.syms[j]
	if sym.Size > 0 && vaddr >= sym.Value+sym.Size {
		return fmt.Sprintf("%s+0x%x", mod, fileOff)
	}
	return sym.Name
}

func (s *symbolizer) file(pid uint32, path string) *elfSyms {
	if es, ok := s.files[path]; ok {
		return es
	}
	es := &elfSyms{}
	s.files[path] = es
	f, err := elf.Open(filepath.Join(s.dir(pid), "root", path))
	if err != nil {
		es.err = err
		return es
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_LOAD {
			es.loads = append(es.loads, p.ProgHeader)
		}
	}
	syms, _ := f.Symbols()
	if dyn, err := f.DynamicSymbols(); err == nil {
		syms = append(syms, dyn...)
	}
	for _, sy := range syms {
		if elf.ST_TYPE(sy.Info) == elf.STT_FUNC && sy.Value != 0 {
			es.syms = append(es.syms, sy)
		}
	}
	sort.Slice(es.syms, func(i, j int) bool { return es.syms[i].Value < es.syms[j].Value })
	if len(es.syms) == 0 {
		es.err = fmt.Errorf("%s has no function symbols", path)
	}
	return es
}
