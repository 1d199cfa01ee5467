//go:build linux

package profile

import (
	"debug/elf"
	"debug/gosym"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path"
	"runtime/debug"
	"sort"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/kubectl-pixie/kubectl-pixie/probes/internal/gotext"
)

// binary is the symbol table of one ELF file, shared by every process that
// maps it (cached by build ID).
type binary struct {
	name  string           // base name, used for unnamed frames
	loads []elf.ProgHeader // PT_LOAD segments: file offset -> virtual address
	syms  []symbol         // sorted by addr
	pcln  *pclntab         // Go 1.18+ pclntab (stripped Go binaries too), read in place
	gotab *gosym.Table     // older Go pclntab, through debug/gosym
	isGo  bool
	// symsDone: .symtab/.dynsym are read. For Go binaries they are read
	// only when an address is not Go code (cgo), from path: big Go
	// binaries keep a huge .symtab that pclntab makes redundant.
	symsDone bool
	path     string
	// memo caches lookups by file offset: profiles hit the same
	// addresses again and again. Bounded, reset when full.
	memo map[uint64]resolved
}

const memoMax = 1 << 18

// maxMapped bounds a mapped section (the largest Go pclntabs are a few
// hundred MB); past it the section is not used.
const maxMapped = 1 << 30

type symbol struct {
	addr, size uint64
	name       string
}

// resolved is one symbolized frame.
type resolved struct {
	name   string
	module string
	file   string
	line   int
	kernel bool
}

// Name is the frame's function name, or "[module+0xoffset]" when the
// module has no symbol for it (other probes name their stacks with it).
func (r resolved) Name() string { return r.name }

// fileKey identifies an opened file cheaply, before its build ID is known.
type fileKey struct {
	dev, ino     uint64
	size, mtimeN int64
}

func statKey(fi os.FileInfo) (fileKey, bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fileKey{}, false
	}
	return fileKey{dev: uint64(st.Dev), ino: st.Ino, size: st.Size, mtimeN: st.Mtim.Nano()}, true
}

// buildID returns the GNU build ID, or Go's build ID, or "" when neither exists.
func buildID(f *elf.File) string {
	for _, name := range []string{".note.gnu.build-id", ".note.go.buildid"} {
		s := f.Section(name)
		if s == nil {
			continue
		}
		data, err := s.Data()
		if err != nil || len(data) < 16 {
			continue
		}
		// ELF note: namesz, descsz, type, name (padded to 4), desc.
		namesz := f.ByteOrder.Uint32(data[0:4])
		descsz := f.ByteOrder.Uint32(data[4:8])
		off := 12 + (namesz+3)&^3
		if uint64(off)+uint64(descsz) > uint64(len(data)) {
			continue
		}
		return name + ":" + hex.EncodeToString(data[off:off+descsz])
	}
	return ""
}

// loadBinary reads the symbols of an ELF file. A file with no symbols still
// yields a binary, so frames in it are named by module and offset.
func loadBinary(f *elf.File, fh *os.File, name, path string) *binary {
	b := &binary{name: name}
	for _, p := range f.Progs {
		if p.Type == elf.PT_LOAD {
			b.loads = append(b.loads, p.ProgHeader)
		}
	}
	if s := f.Section(".gopclntab"); s != nil {
		text := gotext.Start(f) // not .text in a cgo link
		if data := sectionBytes(fh, s); data != nil {
			faultSafe(func() { b.loadPclntab(data, text) })
		}
	}
	if !b.isGo {
		b.loadSyms(f)
	} else {
		b.path = path
	}
	return b
}

func (b *binary) loadPclntab(data []byte, text uint64) {
	if tab, err := newPclntab(data, text); err == nil {
		b.pcln, b.isGo = tab, true
	} else if errors.Is(err, errOldPclntab) {
		if tab, err := gosym.NewTable(nil, gosym.NewLineTable(data, text)); err == nil && len(tab.Funcs) > 0 {
			b.gotab, b.isGo = tab, true
		}
	}
}

// faultSafe runs fn with memory faults turned into a false return. A
// mapped section whose file was truncated after it was mapped raises
// SIGBUS where its lost pages are read; without this the probe dies.
func faultSafe(fn func()) (ok bool) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			if _, fault := r.(interface{ Addr() uintptr }); !fault {
				panic(r)
			}
			ok = false
		}
	}()
	fn()
	return true
}

func (b *binary) loadSyms(f *elf.File) {
	b.symsDone = true
	seen := map[uint64]bool{}
	add := func(syms []elf.Symbol) {
		for _, s := range syms {
			if elf.ST_TYPE(s.Info) != elf.STT_FUNC || s.Value == 0 || s.Section == elf.SHN_UNDEF || seen[s.Value] {
				continue
			}
			seen[s.Value] = true
			b.syms = append(b.syms, symbol{addr: s.Value, size: s.Size, name: s.Name})
		}
	}
	if syms, err := f.Symbols(); err == nil {
		add(syms)
	}
	if syms, err := f.DynamicSymbols(); err == nil {
		add(syms)
	}
	sort.Slice(b.syms, func(i, j int) bool { return b.syms[i].addr < b.syms[j].addr })
}

// lazySyms reads the ELF symbols of a Go binary on its first non-Go address.
func (b *binary) lazySyms() {
	if b.symsDone {
		return
	}
	b.symsDone = true
	f, err := elf.Open(b.path)
	if err != nil {
		return // the process (and its root) is gone: frames stay module+offset
	}
	defer f.Close()
	b.loadSyms(f)
}

// sectionBytes maps a section read-only (file-backed pages the kernel can
// drop, touched only where lookups go), or reads it when it cannot be
// mapped (compressed). A section that ends past the end of the file (a
// truncated or forged binary) gives nil: reading its mapped pages beyond
// the file would raise SIGBUS.
func sectionBytes(fh *os.File, s *elf.Section) []byte {
	fi, err := fh.Stat()
	if err != nil || s.Offset > uint64(fi.Size()) || s.FileSize > uint64(fi.Size())-s.Offset {
		return nil
	}
	if s.Size == 0 || s.Size > maxMapped {
		return nil
	}
	if s.Flags&elf.SHF_COMPRESSED == 0 {
		pg := uint64(os.Getpagesize())
		start := s.Offset &^ (pg - 1)
		if m, err := unix.Mmap(int(fh.Fd()), int64(start), int(s.Offset-start+s.Size), unix.PROT_READ, unix.MAP_SHARED); err == nil {
			return m[s.Offset-start:] // stays mapped while the binary is cached
		}
	}
	data, err := s.Data()
	if err != nil {
		return nil
	}
	return data
}

// vaddr maps a file offset to the ELF virtual address.
func (b *binary) vaddr(off uint64) (uint64, bool) {
	for _, p := range b.loads {
		if off >= p.Off && off < p.Off+p.Filesz {
			return off - p.Off + p.Vaddr, true
		}
	}
	return 0, false
}

// lookup names the function at file offset off. unnamed frames get
// "[module+0xoff]", never a blank.
func (b *binary) lookup(off uint64) resolved {
	if r, ok := b.memo[off]; ok {
		return r
	}
	r := b.resolve(off)
	if b.memo == nil || len(b.memo) >= memoMax {
		b.memo = make(map[uint64]resolved, 1024)
	}
	b.memo[off] = r
	return r
}

func (b *binary) resolve(off uint64) resolved {
	r := resolved{module: b.name}
	va, ok := b.vaddr(off)
	if ok && b.pcln != nil {
		var name, file string
		var line int
		var hit bool
		if !faultSafe(func() { name, file, line, hit = b.pcln.lookup(va) }) {
			b.pcln = nil // the file shrank under its mapping: no Go names from it
		} else if hit {
			r.name, r.file, r.line = name, file, line
			return r
		}
	}
	if ok && b.gotab != nil {
		var file string
		var line int
		var fn *gosym.Func
		if !faultSafe(func() { file, line, fn = b.gotab.PCToLine(va) }) {
			b.gotab = nil
		} else if fn != nil {
			r.name, r.file, r.line = fn.Name, file, line
			return r
		}
	}
	if ok {
		b.lazySyms()
		i := sort.Search(len(b.syms), func(i int) bool { return b.syms[i].addr > va }) - 1
		// A symbol of size 0 (hand-written assembly) covers up to the next one.
		if i >= 0 && (va < b.syms[i].addr+b.syms[i].size || b.syms[i].size == 0) {
			r.name = b.syms[i].name
			return r
		}
	}
	r.name = fmt.Sprintf("[%s+0x%x]", b.name, off)
	return r
}

// cleanName makes a symbol safe for folded stacks (";" separates frames,
// and a newline would break the format).
func cleanName(s string) string {
	if strings.ContainsAny(s, ";\n\r") {
		s = strings.NewReplacer(";", ":", "\n", " ", "\r", " ").Replace(s)
	}
	return s
}

// binaryCache shares parsed binaries across processes: by (dev, inode, size,
// mtime) first, then by build ID, so one library seen through many
// container roots is parsed once.
type binaryCache struct {
	byFile  map[fileKey]*binary
	byBuild map[string]*binary
	parsed  int // binaries actually parsed (for tests and stats)
}

func newBinaryCache() *binaryCache {
	return &binaryCache{byFile: map[fileKey]*binary{}, byBuild: map[string]*binary{}}
}

// open returns the binary at p (a path on this host, e.g. through
// /proc/PID/root). name is the module name shown for unnamed frames.
func (c *binaryCache) open(p, name string) (*binary, error) {
	fh, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	fi, err := fh.Stat()
	if err != nil {
		return nil, err
	}
	key, keyOK := statKey(fi)
	if keyOK {
		if b, ok := c.byFile[key]; ok {
			return b, nil
		}
	}
	f, err := elf.NewFile(fh)
	if err != nil {
		return nil, fmt.Errorf("reading ELF %s: %w", p, err)
	}
	id := buildID(f)
	b := c.byBuild[id]
	if b == nil || id == "" {
		b = loadBinary(f, fh, name, p)
		c.parsed++
		if id != "" {
			c.byBuild[id] = b
		}
	}
	if keyOK {
		c.byFile[key] = b
	}
	return b, nil
}

func moduleName(p string) string {
	p = strings.TrimSuffix(p, " (deleted)")
	return path.Base(p)
}
