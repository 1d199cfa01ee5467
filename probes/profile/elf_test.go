//go:build linux

package profile

import (
	"bytes"
	"debug/elf"
	enc "encoding/binary"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// A Go binary whose .gopclntab runs past the end of the file (truncated,
// its section headers kept) is read without SIGBUS: frames fall back to
// module+offset. On the unchecked mmap this test dies with SIGBUS.
func TestTruncatedPclntab(t *testing.T) {
	src := selfBytes(t)
	f, err := elf.NewFile(bytes.NewReader(src))
	if err != nil {
		t.Fatal(err)
	}
	pcln := f.Section(".gopclntab")
	cut := truncateSection(t, src, pcln.Offset+pcln.Size/2)
	p := filepath.Join(t.TempDir(), "truncated")
	if err := os.WriteFile(p, cut, 0o644); err != nil {
		t.Fatal(err)
	}
	b, err := newBinaryCache().open(p, "truncated")
	if err != nil {
		t.Fatal(err)
	}
	off := fileOffset(t, f, reflect.ValueOf(TestTruncatedPclntab).Pointer())
	if r := b.lookup(off); r.name == "" {
		t.Fatalf("no name for %#x: %+v", off, r)
	}
}

// A binary truncated after its pclntab was mapped (replaced in place in
// a container) no longer crashes lookups: they fall back, the table is
// dropped. Without the fault guard this test dies with SIGBUS.
func TestPclntabShrunkUnderMapping(t *testing.T) {
	src := selfBytes(t)
	f, err := elf.NewFile(bytes.NewReader(src))
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "shrinks")
	if err := os.WriteFile(p, src, 0o644); err != nil {
		t.Fatal(err)
	}
	b, err := newBinaryCache().open(p, "shrinks")
	if err != nil {
		t.Fatal(err)
	}
	if b.pcln == nil {
		t.Fatal("the test binary's pclntab was not read")
	}
	pcln := f.Section(".gopclntab")
	if err := os.Truncate(p, int64(pcln.Offset)); err != nil {
		t.Fatal(err)
	}
	off := fileOffset(t, f, reflect.ValueOf(TestPclntabShrunkUnderMapping).Pointer())
	r := b.lookup(off)
	if b.pcln != nil || r.name == "" {
		t.Fatalf("after the file shrank: pcln kept=%v, frame %+v", b.pcln != nil, r)
	}
}

// FuzzOpenELF opens arbitrary bytes as a binary, as the profiler opens a
// target's files, and names a few offsets: errors are fine, crashes
// (SIGBUS included) are not. Seeds are a small Go-style ELF and its
// truncations.
func FuzzOpenELF(f *testing.F) {
	seed := tinyGoELF()
	for n := 0; n < len(seed); n += 37 {
		f.Add(seed[:n])
	}
	f.Add(seed)
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		p := filepath.Join(dir, "bin")
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		b, err := newBinaryCache().open(p, "bin")
		if err != nil {
			return
		}
		for _, off := range []uint64{0, 0x45, 0x50, uint64(len(data)) - 1} {
			if r := b.lookup(off); r.name == "" {
				t.Fatalf("blank name at %#x", off)
			}
		}
	})
}

// FuzzPclntab feeds arbitrary bytes to the in-place pclntab reader.
func FuzzPclntab(f *testing.F) {
	tab := tinyPclntab()
	f.Add(tab, uint64(tinyText+5))
	f.Add(tab[:40], uint64(tinyText))
	f.Fuzz(func(t *testing.T, data []byte, pc uint64) {
		tab, err := newPclntab(data, tinyText)
		if err != nil {
			return
		}
		tab.lookup(pc)
		tab.lookup(tinyText + pc%64)
	})
}

func TestTinyPclntab(t *testing.T) {
	tab, err := newPclntab(tinyPclntab(), tinyText)
	if err != nil {
		t.Fatal(err)
	}
	name, file, line, ok := tab.lookup(tinyText + 5)
	if !ok || name != "main.f" || file != "f.go" || line != 10 {
		t.Fatalf("got %q %s:%d ok=%v", name, file, line, ok)
	}
	b, err := newBinaryCache().open(writeTemp(t, tinyGoELF()), "tiny")
	if err != nil {
		t.Fatal(err)
	}
	if r := b.lookup(0x45); r.name != "main.f" {
		t.Fatalf("tiny ELF: %+v", r)
	}
}

func writeTemp(t *testing.T, data []byte) string {
	p := filepath.Join(t.TempDir(), "bin")
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func selfBytes(t *testing.T) []byte {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile(exe)
	if err != nil {
		t.Fatal(err)
	}
	if len(src) < 64 || src[4] != byte(elf.ELFCLASS64) || src[5] != byte(elf.ELFDATA2LSB) {
		t.Skip("needs a little-endian ELF64 test binary")
	}
	return src
}

// truncateSection keeps src's first keep bytes and appends its section
// headers and section names after them, so the ELF still parses but the
// sections past keep run beyond the end of the file.
func truncateSection(t *testing.T, src []byte, keep uint64) []byte {
	le := enc.LittleEndian
	shoff, shnum, strndx := le.Uint64(src[0x28:]), int(le.Uint16(src[0x3c:])), int(le.Uint16(src[0x3e:]))
	shdrs := bytes.Clone(src[shoff : shoff+uint64(shnum)*64])
	str := shdrs[strndx*64:]
	names := src[le.Uint64(str[0x18:]) : le.Uint64(str[0x18:])+le.Uint64(str[0x20:])]
	out := append(bytes.Clone(src[:keep]), names...)
	le.PutUint64(str[0x18:], keep)
	le.PutUint64(out[0x28:], uint64(len(out)))
	out = append(out, shdrs...)
	if len(out) >= len(src) {
		t.Fatalf("truncated copy is not shorter (%d >= %d)", len(out), len(src))
	}
	return out
}

// fileOffset maps a virtual address of this binary to its file offset.
func fileOffset(t *testing.T, f *elf.File, va uintptr) uint64 {
	for _, p := range f.Progs {
		if p.Type == elf.PT_LOAD && uint64(va) >= p.Vaddr && uint64(va) < p.Vaddr+p.Filesz {
			return uint64(va) - p.Vaddr + p.Off
		}
	}
	t.Fatalf("address %#x is in no PT_LOAD segment", va)
	return 0
}

const tinyText = 0x400040

// tinyPclntab is a Go 1.20 pclntab (8-byte words) with one function,
// main.f in f.go at line 10, covering [tinyText, tinyText+16).
func tinyPclntab() []byte {
	le := enc.LittleEndian
	b := make([]byte, 72)
	le.PutUint32(b, go120Magic)
	b[6], b[7] = 1, 8 // quantum, pointer size
	for i, v := range []uint64{1, 1, tinyText, 72, 80, 84, 92, 100} {
		le.PutUint64(b[8+8*i:], v)
	}
	b = append(b, "main.f\x00\x00"...)       // funcnametab at 72
	b = le.AppendUint32(b, 0)                // cutab at 80: file 0 at filetab+0
	b = append(b, "f.go\x00\x00\x00\x00"...) // filetab at 84
	b = append(b, 0, 22, 16, 0, 2, 16, 0, 0) // pctab at 92: line table at 1, file table at 4
	b = le.AppendUint32(b, 0)                // functab at 100: entry 0,
	b = le.AppendUint32(b, 12)               // func at funcdata+12,
	b = le.AppendUint32(b, 16)               // end of text
	fn := make([]byte, 40)                   // _func: name 0, pcfile 4, pcln 1, cu 0
	le.PutUint32(fn[20:], 4)
	le.PutUint32(fn[24:], 1)
	return append(b, fn...)
}

// tinyGoELF is an ELF64 file with one PT_LOAD at 0x400000 covering the
// file, a .text at tinyText and tinyPclntab as .gopclntab.
func tinyGoELF() []byte {
	le := enc.LittleEndian
	tab := tinyPclntab()
	names := "\x00.text\x00.gopclntab\x00.shstrtab\x00"
	const phoff, dataOff = 64, 64 + 56
	out := make([]byte, dataOff)
	out = append(out, tab...)
	strOff := len(out)
	out = append(out, names...)
	shoff := len(out)
	sh := func(name, typ uint32, addr, off, size uint64) {
		h := make([]byte, 64)
		le.PutUint32(h, name)
		le.PutUint32(h[4:], typ)
		le.PutUint64(h[0x10:], addr)
		le.PutUint64(h[0x18:], off)
		le.PutUint64(h[0x20:], size)
		out = append(out, h...)
	}
	sh(0, 0, 0, 0, 0)
	sh(1, uint32(elf.SHT_NOBITS), tinyText, 0, 16)
	sh(7, uint32(elf.SHT_PROGBITS), 0x400000+dataOff, dataOff, uint64(len(tab)))
	sh(18, uint32(elf.SHT_STRTAB), 0, uint64(strOff), uint64(len(names)))
	copy(out, "\x7fELF\x02\x01\x01")
	le.PutUint16(out[0x10:], uint16(elf.ET_EXEC))
	le.PutUint16(out[0x12:], uint16(elf.EM_X86_64))
	le.PutUint32(out[0x14:], 1)
	le.PutUint64(out[0x20:], phoff)
	le.PutUint64(out[0x28:], uint64(shoff))
	le.PutUint16(out[0x34:], 64)
	le.PutUint16(out[0x36:], 56)
	le.PutUint16(out[0x38:], 1)
	le.PutUint16(out[0x3a:], 64)
	le.PutUint16(out[0x3c:], 4)
	le.PutUint16(out[0x3e:], 3)
	ph := out[phoff:]
	le.PutUint32(ph, uint32(elf.PT_LOAD))
	le.PutUint32(ph[4:], uint32(elf.PF_R|elf.PF_X))
	le.PutUint64(ph[0x10:], 0x400000)
	le.PutUint64(ph[0x18:], 0x400000)
	le.PutUint64(ph[0x20:], uint64(len(out)))
	le.PutUint64(ph[0x28:], uint64(len(out)))
	return out
}
