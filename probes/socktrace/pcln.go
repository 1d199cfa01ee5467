package socktrace

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
)

// pclnLookup finds crypto/tls's Write and Read in a Go 1.18+ pclntab
// (64-bit; textAddr is .text's address) by reading only the function name table and the function
// table, where debug/gosym builds every function of the binary (about
// 150 MiB for a kubelet, more than a probe pod's memory limit allows).
// False when the table is of another format: the caller falls back.
func pclnLookup(sec *elf.Section, textAddr uint64) (w, r *funcRange, ok bool) {
	hdr := make([]byte, 8+8*8)
	if _, err := sec.ReadAt(hdr, 0); err != nil {
		return nil, nil, false
	}
	le := binary.LittleEndian
	if m := le.Uint32(hdr); (m != 0xfffffff0 && m != 0xfffffff1) || hdr[7] != 8 {
		return nil, nil, false
	}
	word := func(i int) uint64 { return le.Uint64(hdr[8+8*i:]) }
	// nfunc, nfiles, textStart, funcnameOffset, cuOffset, filetabOffset,
	// pctabOffset, pclnOffset (runtime.pcHeader).
	// textStart may be unrelocated in the file: function offsets count
	// from the text section's address, as debug/gosym takes it.
	nfunc, nameOff, cuOff, pclnOff := word(0), word(3), word(4), word(7)
	text := textAddr
	if cuOff < nameOff || cuOff-nameOff > sec.Size || nfunc > sec.Size/8 {
		return nil, nil, false
	}
	names := make([]byte, cuOff-nameOff)
	ftab := make([]byte, (nfunc+1)*8) // {entryoff, funcoff uint32}, then the end
	if _, err := sec.ReadAt(names, int64(nameOff)); err != nil {
		return nil, nil, false
	}
	if _, err := sec.ReadAt(ftab, int64(pclnOff)); err != nil {
		return nil, nil, false
	}
	var fn [8]byte // runtime._func: entryOff uint32, nameOff int32, ...
	for i := range nfunc {
		if _, err := sec.ReadAt(fn[:], int64(pclnOff)+int64(le.Uint32(ftab[i*8+4:]))); err != nil {
			return nil, nil, false
		}
		at := uint64(le.Uint32(fn[4:]))
		if at >= uint64(len(names)) {
			continue
		}
		name := names[at:]
		if end := bytes.IndexByte(name, 0); end >= 0 {
			name = name[:end]
		}
		rng := &funcRange{text + uint64(le.Uint32(ftab[i*8:])), text + uint64(le.Uint32(ftab[(i+1)*8:]))}
		switch string(name) {
		case goTLSWrite:
			w = rng
		case goTLSRead:
			r = rng
		}
		if w != nil && r != nil {
			break
		}
	}
	return w, r, true
}
