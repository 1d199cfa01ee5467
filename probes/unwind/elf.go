package unwind

import (
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// maxEHFrame bounds what one module may make us hold in memory.
const maxEHFrame = 256 << 20

// module is what the unwinder keeps per mapped ELF file.
type module struct {
	eh    *ehFrame // nil: no usable .eh_frame (Go binaries, stripped asm)
	loads []segment
	cfi   bool // x86-64 ELF: CFI can drive unwinding

	// steps caches the CFI row per lookup address: a profile or a leak
	// samples the same few hundred return addresses over and over, and
	// interpreting an FDE's program each time dominated the unwind.
	steps map[uint64]*cachedStep
}

// cachedStep is what cfiStep needs of one lookup address.
type cachedStep struct {
	r      row
	raReg  uint64
	signal bool
	ok     bool // false: no usable CFI here
}

// maxSteps bounds a module's step cache (~1 KiB each); past it, it restarts.
const maxSteps = 4096

// size estimates the memory a cached module holds.
func (m *module) size() int {
	n := 256 + 32*len(m.loads) + 1024*len(m.steps)
	if m.eh != nil {
		n += len(m.eh.data) + len(m.eh.table)
		if m.eh.tableCount == 0 {
			n += len(m.eh.data) / 2 // the sorted index built on first lookup
		}
	}
	return n
}

type segment struct {
	vaddr, off, filesz uint64
	exec               bool
}

// bias returns the load bias (runtime address - link-time vaddr) of the
// mapping [start, +size) at file offset mapOff. For ET_EXEC it comes out 0.
func (m *module) bias(start, size, mapOff uint64, pageSize uint64) (uint64, bool) {
	var best *segment
	for i := range m.loads {
		s := &m.loads[i]
		lo := s.off &^ (pageSize - 1)
		if mapOff >= lo && mapOff < s.off+s.filesz {
			if best == nil || (s.exec && !best.exec) {
				best = s
			}
		}
	}
	if best == nil {
		return 0, false
	}
	// runtime(off) = start + off - mapOff, vaddr(off) = s.vaddr + off - s.off.
	return start - mapOff - (best.vaddr - best.off), true
}

// loadModule parses the program headers and .eh_frame of an ELF file.
// Hostile input yields an error, never a panic.
func loadModule(ra io.ReaderAt) (m *module, err error) {
	defer func() {
		if r := recover(); r != nil {
			m, err = nil, fmt.Errorf("parsing ELF: %v", r)
		}
	}()
	f, err := elf.NewFile(ra)
	if err != nil {
		return nil, fmt.Errorf("parsing ELF: %w", err)
	}
	if f.Class != elf.ELFCLASS64 || f.Data != elf.ELFDATA2LSB {
		return nil, errors.New("parsing ELF: only 64-bit little-endian objects are supported")
	}
	m = &module{cfi: f.Machine == elf.EM_X86_64}
	var ehHdr *elf.Prog
	for _, p := range f.Progs {
		switch p.Type {
		case elf.PT_LOAD:
			m.loads = append(m.loads, segment{vaddr: p.Vaddr, off: p.Off, filesz: p.Filesz, exec: p.Flags&elf.PF_X != 0})
		case elf.PT_GNU_EH_FRAME:
			ehHdr = p
		}
	}
	if !m.cfi {
		return m, nil
	}
	var ehData, hdrData []byte
	var ehAddr, hdrAddr uint64
	if s := f.Section(".eh_frame"); s != nil && s.Type == elf.SHT_PROGBITS && s.Size <= maxEHFrame {
		if ehData, err = readAt(ra, s.Offset, s.Size); err != nil {
			return nil, err
		}
		ehAddr = s.Addr
		if h := f.Section(".eh_frame_hdr"); h != nil && h.Type == elf.SHT_PROGBITS && h.Size <= maxEHFrame {
			if hdrData, err = readAt(ra, h.Offset, h.Size); err != nil {
				return nil, err
			}
			hdrAddr = h.Addr
		}
	} else if ehHdr != nil && ehHdr.Filesz <= maxEHFrame {
		// No section headers (stripped): .eh_frame_hdr points at .eh_frame,
		// whose size we bound by the end of its PT_LOAD.
		if hdrData, err = readAt(ra, ehHdr.Off, ehHdr.Filesz); err != nil {
			return nil, err
		}
		hdrAddr = ehHdr.Vaddr
		if len(hdrData) >= 4 {
			r := &reader{b: hdrData, off: 4}
			if p, ok := readPtr(r, hdrData[1], hdrAddr, hdrAddr); ok {
				for _, s := range m.loads {
					if p >= s.vaddr && p < s.vaddr+s.filesz {
						n := min(s.vaddr+s.filesz-p, maxEHFrame)
						if ehData, err = readAt(ra, s.off+(p-s.vaddr), n); err != nil {
							return nil, err
						}
						ehAddr = p
						break
					}
				}
			}
		}
	}
	if len(ehData) > 0 {
		m.eh = newEHFrame(ehData, ehAddr, hdrData, hdrAddr)
	}
	return m, nil
}

func readAt(ra io.ReaderAt, off, n uint64) ([]byte, error) {
	if n > maxEHFrame || off > 1<<62 {
		return nil, errors.New("reading ELF: section too large")
	}
	b := make([]byte, n)
	if _, err := ra.ReadAt(b, int64(off)); err != nil && !(errors.Is(err, io.EOF) && n == 0) {
		return nil, fmt.Errorf("reading ELF at %#x: %w", off, err)
	}
	return b, nil
}

// le64 reads a little-endian word from b at i, if in range.
func le64(b []byte, i uint64) (uint64, bool) {
	if i > uint64(len(b)) || uint64(len(b))-i < 8 {
		return 0, false
	}
	return binary.LittleEndian.Uint64(b[i:]), true
}
