// Package gotext finds the address a Go binary's pclntab counts function
// offsets from.
package gotext

import (
	"bufio"
	"debug/elf"
	"encoding/binary"
	"io"
)

// Start returns runtime.text's address: the base of a Go 1.18+ pclntab's
// function entry offsets. Go's own linker starts .text with runtime.text.
// An external linker (cgo) puts C start-up code first (.init, .plt and crt
// functions), so .text starts earlier and every name looked up from .text
// would belong to a neighbouring function. The pclntab header's copy is 0
// in the file; the runtime's module data (.go.module since Go 1.26, else
// in .noptrdata) holds it, stripped or not, relocated in a PIE.
func Start(f *elf.File) uint64 {
	text := f.Section(".text")
	if text == nil {
		return 0
	}
	if f.Section(".init") == nil || f.Class != elf.ELFCLASS64 { // Go's own linker writes no .init
		return text.Addr
	}
	inText := func(a uint64) bool { return a >= text.Addr && a < text.Addr+text.Size }
	if a, ok := moduleText(f); ok && inText(a) {
		return a
	}
	if syms, err := f.Symbols(); err == nil {
		for _, s := range syms {
			if s.Name == "runtime.text" && inText(s.Value) {
				return s.Value
			}
		}
	}
	return text.Addr
}

// moduleTextOff is runtime.moduledata.text's offset on 64-bit (Go 1.16+):
// pcHeader, six slices, findfunctab, minpc, maxpc, then text.
const moduleTextOff = 8 + 6*24 + 3*8

// moduleText reads runtime.text from the first module's data: the word at
// moduleTextOff of the struct that starts with a pointer to .gopclntab.
func moduleText(f *elf.File) (uint64, bool) {
	pcln := f.Section(".gopclntab")
	if pcln == nil {
		return 0, false
	}
	at, ok := uint64(0), false
	if s := f.Section(".go.module"); s != nil {
		at, ok = s.Addr, true
	} else if s := f.Section(".noptrdata"); s != nil && f.Type == elf.ET_EXEC {
		at, ok = findWord(s, f.ByteOrder, pcln.Addr)
	}
	if !ok {
		return 0, false
	}
	if f.Type == elf.ET_DYN {
		return relativeAddend(f, at+moduleTextOff)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_LOAD && at >= p.Vaddr && at+moduleTextOff+8 <= p.Vaddr+p.Filesz {
			var w [8]byte
			if _, err := p.ReadAt(w[:], int64(at-p.Vaddr+moduleTextOff)); err != nil {
				return 0, false
			}
			return f.ByteOrder.Uint64(w[:]), true
		}
	}
	return 0, false
}

// findWord finds the first 8-aligned word of s equal to v.
func findWord(s *elf.Section, order binary.ByteOrder, v uint64) (uint64, bool) {
	r := bufio.NewReaderSize(s.Open(), 64<<10)
	var w [8]byte
	for off := uint64(0); ; off += 8 {
		if _, err := io.ReadFull(r, w[:]); err != nil {
			return 0, false
		}
		if order.Uint64(w[:]) == v {
			return s.Addr + off, true
		}
	}
}

// relativeAddend finds the RELATIVE relocation of a 64-bit PIE that fills
// the word at addr, and returns its addend (the link address it holds).
func relativeAddend(f *elf.File, addr uint64) (uint64, bool) {
	var rel [24]byte // an Elf64 relocation with addend: offset, info, addend
	for _, s := range f.Sections {
		if s.Type != elf.SHT_RELA { //nolint:misspell // ELF's name
			continue
		}
		r := bufio.NewReaderSize(s.Open(), 64<<10)
		for {
			if _, err := io.ReadFull(r, rel[:]); err != nil {
				break
			}
			if f.ByteOrder.Uint64(rel[:]) != addr {
				continue
			}
			typ := uint32(f.ByteOrder.Uint64(rel[8:]))
			if (f.Machine == elf.EM_X86_64 && typ == uint32(elf.R_X86_64_RELATIVE)) ||
				(f.Machine == elf.EM_AARCH64 && typ == uint32(elf.R_AARCH64_RELATIVE)) {
				return f.ByteOrder.Uint64(rel[16:]), true
			}
		}
	}
	return 0, false
}
