//go:build linux

package socktrace

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/kubectl-pixie/kubectl-pixie/probes/unwind"
)

// OpenSSL linked statically into a stripped executable has no SSL_read
// symbol to probe. It is found by comparing the executable's code with
// the object code of OpenSSL's own static library (libssl.a, from
// libssl-dev, on the node or in the container): the linker copies each
// function's bytes unchanged except where a relocation is applied. A
// function is taken only if
//   - an .eh_frame FDE starts at that address (a function start),
//   - every byte that no relocation touches equals the object's, and
//   - exactly one such place remains once its calls and references to
//     named symbols agree with the functions already found (SSL_read_ex
//     and SSL_write_ex differ only in the internal function they call:
//     the one SSL_read, respectively SSL_write, calls).
// A program built from another OpenSSL build than that libssl.a matches
// nothing and is not probed.

// sslArchives are where libssl.a is looked for, under a root.
var sslArchives = []string{
	"usr/lib/x86_64-linux-gnu/libssl.a", "usr/lib64/libssl.a", "usr/lib/libssl.a",
	"usr/local/lib/libssl.a", "usr/local/lib64/libssl.a",
}

// codePattern is one function of the archive: its bytes, which of them a
// relocation changes, and the symbols its PC-relative relocations name.
type codePattern struct {
	name   string
	code   []byte
	masked []bool
	refs   []codeRef
}

type codeRef struct {
	off    int // of the 4-byte displacement in code
	sym    string
	addend int64
}

// x86-64 relocation types whose 4-byte field is PC-relative to a symbol.
const (
	rX86PC32  = 2
	rX86PLT32 = 4
)

// opensslPatterns reads the functions of opensslFuncs from the member of
// the libssl.a at path that defines them (ssl_lib.o).
func opensslPatterns(path string) ([]codePattern, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var (
		pats []codePattern
		errs []error
	)
	err = arMembers(f, func(name string, r io.ReaderAt) bool {
		if !strings.HasSuffix(name, "ssl_lib.o") {
			return false
		}
		p, err := objectPatterns(r)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", name, err))
			return false
		}
		pats = p
		return true
	})
	if err == nil && pats == nil {
		err = fmt.Errorf("no ssl_lib.o defining SSL_read: %w", errors.Join(errs...))
	}
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	return pats, nil
}

// arMembers calls fn with each member of a Unix archive until it returns
// true.
func arMembers(f *os.File, fn func(name string, r io.ReaderAt) bool) error {
	var magic [8]byte
	if _, err := f.ReadAt(magic[:], 0); err != nil || string(magic[:]) != "!<arch>\n" {
		return errors.New("not an ar archive")
	}
	var longNames []byte
	var hdr [60]byte
	for off := int64(8); ; {
		if _, err := f.ReadAt(hdr[:], off); err == io.EOF {
			return nil
		} else if err != nil {
			return err
		}
		size, err := strconv.ParseInt(strings.TrimSpace(string(hdr[48:58])), 10, 64)
		if err != nil || size < 0 {
			return fmt.Errorf("member at %d: bad size", off)
		}
		name := strings.TrimRight(string(hdr[:16]), " ")
		body := io.NewSectionReader(f, off+60, size)
		switch {
		case name == "//":
			if size > 1<<24 {
				return errors.New("long name table over 16 MiB")
			}
			longNames = make([]byte, size)
			if _, err := body.ReadAt(longNames, 0); err != nil {
				return err
			}
		case strings.HasPrefix(name, "/") && name != "/" && name != "/SYM64/":
			i, err := strconv.Atoi(name[1:])
			if err != nil || i >= len(longNames) {
				return fmt.Errorf("member at %d: bad long name %q", off, name)
			}
			name, _, _ = strings.Cut(string(longNames[i:]), "/\n")
		}
		if fn(strings.TrimSuffix(name, "/"), body) {
			return nil
		}
		off += 60 + size + size&1
	}
}

// objectPatterns takes the opensslFuncs an object file defines; SSL_read
// and SSL_write must be among them.
func objectPatterns(r io.ReaderAt) ([]codePattern, error) {
	f, err := elf.NewFile(r)
	if err != nil {
		return nil, err
	}
	if f.Machine != elf.EM_X86_64 || f.Type != elf.ET_REL {
		return nil, fmt.Errorf("%v %v object, want an x86-64 relocatable one", f.Machine, f.Type)
	}
	syms, err := f.Symbols()
	if err != nil {
		return nil, err
	}
	var pats []codePattern
	for _, fn := range opensslFuncs {
		for _, s := range syms {
			if s.Name != fn.sym || elf.ST_TYPE(s.Info) != elf.STT_FUNC || int(s.Section) >= len(f.Sections) {
				continue
			}
			p, err := funcPattern(f, syms, s)
			if err != nil {
				return nil, err
			}
			pats = append(pats, p)
		}
	}
	if len(pats) < 2 || pats[0].name != "SSL_write" || pats[1].name != "SSL_read" {
		return nil, errors.New("no SSL_write and SSL_read")
	}
	return pats, nil
}

// funcPattern is function s of object f with its relocations applied as
// masks (and, for PC-relative ones to named symbols, as references).
func funcPattern(f *elf.File, syms []elf.Symbol, s elf.Symbol) (codePattern, error) {
	sec := f.Sections[s.Section]
	if s.Size == 0 || s.Size > 1<<16 || s.Value+s.Size > sec.Size {
		return codePattern{}, fmt.Errorf("%s: bad size %d", s.Name, s.Size)
	}
	data, err := sec.Data()
	if err != nil {
		return codePattern{}, err
	}
	p := codePattern{name: s.Name, code: data[s.Value : s.Value+s.Size], masked: make([]bool, s.Size)}
	for _, rs := range f.Sections {
		if rs.Type != elf.SHT_RELA || int(rs.Info) >= len(f.Sections) || f.Sections[rs.Info] != sec { //nolint:misspell // ELF's name
			continue
		}
		rd, err := rs.Data()
		if err != nil {
			return codePattern{}, err
		}
		for ; len(rd) >= 24; rd = rd[24:] {
			off := binary.LittleEndian.Uint64(rd)
			info := binary.LittleEndian.Uint64(rd[8:])
			addend := int64(binary.LittleEndian.Uint64(rd[16:]))
			if off < s.Value || off >= s.Value+s.Size {
				continue
			}
			o := int(off - s.Value)
			typ, si := uint32(info), int(info>>32)
			p.maskReloc(o, typ)
			if (typ == rX86PC32 || typ == rX86PLT32) && si > 0 && si <= len(syms) {
				if t := syms[si-1]; namedTarget(t) {
					p.refs = append(p.refs, codeRef{off: o, sym: t.Name, addend: addend})
				}
			}
		}
	}
	return p, nil
}

// maskReloc hides the bytes a relocation at o changes: its field (8 bytes
// for R_X86_64_64, else 4), and for GOT and TLS forms the 3 bytes before
// it, whose instruction the linker may rewrite (relaxation).
func (p *codePattern) maskReloc(o int, typ uint32) {
	n, before := 4, 0
	switch typ {
	case 1: // R_X86_64_64
		n = 8
	case rX86PC32, rX86PLT32, 10, 11: // PC32, PLT32, 32, 32S: the field only
	default:
		before = 3
	}
	for i := o - before; i < o+n; i++ {
		if i >= 0 && i < len(p.masked) {
			p.masked[i] = true
		}
	}
}

// namedTarget: a global function or object, whose address is one place
// in the executable. Sections and local labels are not: merged strings
// (.rodata.str) move independently of their section's other contents.
func namedTarget(s elf.Symbol) bool {
	bind, typ := elf.ST_BIND(s.Info), elf.ST_TYPE(s.Info)
	return s.Name != "" && typ != elf.STT_SECTION && (bind == elf.STB_GLOBAL || bind == elf.STB_WEAK || typ == elf.STT_FUNC)
}

// matches reports whether the pattern is at code[at:].
func (p *codePattern) matches(code []byte, at int) bool {
	if at < 0 || at+len(p.code) > len(code) {
		return false
	}
	c := code[at : at+len(p.code)]
	for i, b := range p.code {
		if b != c[i] && !p.masked[i] {
			return false
		}
	}
	return true
}

// anchor is the pattern's longest run of unmasked bytes, to search for.
func (p *codePattern) anchor() (off int, run []byte) {
	for i := 0; i < len(p.code); {
		j := i
		for j < len(p.code) && !p.masked[j] {
			j++
		}
		if j-i > len(run) {
			off, run = i, p.code[i:j]
		}
		i = j + 1
	}
	return off, run
}

// candidates are the function starts where the pattern matches.
func (p *codePattern) candidates(code []byte, starts map[uint64]bool, base uint64) []int {
	off, run := p.anchor()
	if len(run) < 8 {
		return nil // too little to tell functions apart
	}
	var out []int
	for i := 0; ; {
		j := bytes.Index(code[i:], run)
		if j < 0 {
			return out
		}
		at := i + j - off
		if starts[base+uint64(at)] && p.matches(code, at) {
			out = append(out, at)
		}
		i += j + 1
	}
}

// targets are the addresses p's references resolve to with p at vaddr.
func (p *codePattern) targets(code []byte, at int, vaddr uint64) map[string]uint64 {
	m := map[string]uint64{}
	for _, r := range p.refs {
		disp := int64(int32(binary.LittleEndian.Uint32(code[at+r.off:])))
		m[r.sym] = uint64(int64(vaddr) + int64(r.off) + disp - r.addend)
	}
	return m
}

// findByCode returns the virtual addresses of the patterns found in the
// executable's text (at textAddr), by the rules at the top of this file.
func findByCode(pats []codePattern, text []byte, textAddr uint64, starts map[uint64]bool) map[string]uint64 {
	cands := make([][]int, len(pats))
	for i := range pats {
		cands[i] = pats[i].candidates(text, starts, textAddr)
	}
	found := map[string]uint64{}
	bound := map[string]uint64{}
	for progress := true; progress; {
		progress = false
		for i := range pats {
			p := &pats[i]
			if _, ok := found[p.name]; ok {
				continue
			}
			var keep []int
			for _, at := range cands[i] {
				if agrees(p.targets(text, at, textAddr+uint64(at)), bound) {
					keep = append(keep, at)
				}
			}
			if len(keep) != 1 {
				continue
			}
			found[p.name] = textAddr + uint64(keep[0])
			for s, a := range p.targets(text, keep[0], found[p.name]) {
				bound[s] = a
			}
			progress = true
		}
	}
	return found
}

// readerContains reports whether r holds run, reading 1 MiB at a time.
func readerContains(r io.Reader, run []byte) bool {
	buf := make([]byte, 1<<20+len(run))
	keep := 0
	for {
		n, err := io.ReadFull(r, buf[keep:])
		if bytes.Contains(buf[:keep+n], run) {
			return true
		}
		if err != nil {
			return false
		}
		keep = copy(buf, buf[keep+n-(len(run)-1):keep+n])
	}
}

func agrees(m, bound map[string]uint64) bool {
	for s, a := range m {
		if b, ok := bound[s]; ok && a != b {
			return false
		}
	}
	return true
}

// fdeStarts returns the start of every function .eh_frame describes.
func fdeStarts(f *elf.File) (map[uint64]bool, error) {
	sec := f.Section(".eh_frame")
	if sec == nil {
		return nil, errors.New("no .eh_frame")
	}
	d, err := sec.Data()
	if err != nil {
		return nil, err
	}
	return unwind.FunctionStarts(d, sec.Addr), nil
}

// FindStrippedOpenSSL finds opensslFuncs in an executable without their
// symbols, by the code of the libssl.a at archive (see the top of this
// file). It returns their file offsets, by name; SSL_write and SSL_read
// must both be found, else nothing is.
func FindStrippedOpenSSL(exe, archive string) (map[string]uint64, error) {
	pats, err := opensslPatterns(archive)
	if err != nil {
		return nil, err
	}
	return findStripped(exe, pats)
}

// maxTextSearched bounds the code read from one executable.
const maxTextSearched = 256 << 20

func findStripped(exe string, pats []codePattern) (map[string]uint64, error) {
	f, err := elf.Open(exe)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	text := f.Section(".text")
	if f.Machine != elf.EM_X86_64 || text == nil || text.Size > maxTextSearched {
		return nil, nil
	}
	// Cheap first: SSL_read's bytes at all, read in pieces (most
	// executables have no OpenSSL), before the whole text and unwind table.
	if _, run := pats[1].anchor(); len(run) < 8 || !readerContains(text.Open(), run) {
		return nil, nil
	}
	code, err := text.Data()
	if err != nil {
		return nil, err
	}
	starts, err := fdeStarts(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", exe, err)
	}
	found := findByCode(pats, code, text.Addr, starts)
	if found["SSL_write"] == 0 || found["SSL_read"] == 0 {
		return nil, nil
	}
	offs := map[string]uint64{}
	for name, va := range found {
		if offs[name], err = fileOffset(f, va); err != nil {
			return nil, fmt.Errorf("%s: %s: %w", exe, name, err)
		}
	}
	return offs, nil
}
