//go:build linux

package profile

import (
	enc "encoding/binary"
	"errors"
	"sort"
)

// pclntab looks PCs up in a Go 1.18+ pclntab in place: a binary search in
// the function table and the decoding of one function's tables per
// lookup. Unlike debug/gosym it builds nothing up front, so a 100 MB Go
// binary costs the pages a profile touches (the section is mmapped), not
// hundreds of MB of parsed tables.
type pclntab struct {
	order       enc.ByteOrder
	quantum     uint32
	text        uint64 // address of .text (runtime.text)
	nfunc       int
	funcnametab []byte
	cutab       []byte
	filetab     []byte
	pctab       []byte
	funcdata    []byte
	functab     []byte // nfunc*2+1 uint32: (entryoff, funcoff) pairs, then the end offset
}

const (
	go118Magic = 0xfffffff0
	go120Magic = 0xfffffff1
)

var errOldPclntab = errors.New("pclntab older than Go 1.18")

func newPclntab(data []byte, text uint64) (*pclntab, error) {
	if len(data) < 16 || data[4] != 0 || data[5] != 0 || (data[7] != 4 && data[7] != 8) {
		return nil, errors.New("not a pclntab")
	}
	t := &pclntab{text: text, quantum: uint32(data[6])}
	switch {
	case enc.LittleEndian.Uint32(data) == go118Magic || enc.LittleEndian.Uint32(data) == go120Magic:
		t.order = enc.LittleEndian
	case enc.BigEndian.Uint32(data) == go118Magic || enc.BigEndian.Uint32(data) == go120Magic:
		t.order = enc.BigEndian
	default:
		return nil, errOldPclntab
	}
	ptr := int(data[7])
	word := func(i int) uint64 {
		b := data[8+i*ptr:]
		if ptr == 4 {
			return uint64(t.order.Uint32(b))
		}
		return t.order.Uint64(b)
	}
	if len(data) < 8+8*ptr {
		return nil, errors.New("short pclntab header")
	}
	at := func(i int) ([]byte, error) {
		off := word(i)
		if off > uint64(len(data)) {
			return nil, errors.New("pclntab offset out of range")
		}
		return data[off:], nil
	}
	// Every function takes 8 bytes of the function table: more than the
	// section holds is a forged count (and would overflow below).
	if n := word(0); n > uint64(len(data))/8 {
		return nil, errors.New("pclntab function count out of range")
	}
	t.nfunc = int(word(0))
	var err error
	if t.funcnametab, err = at(3); err != nil {
		return nil, err
	}
	if t.cutab, err = at(4); err != nil {
		return nil, err
	}
	if t.filetab, err = at(5); err != nil {
		return nil, err
	}
	if t.pctab, err = at(6); err != nil {
		return nil, err
	}
	if t.funcdata, err = at(7); err != nil {
		return nil, err
	}
	if n := (t.nfunc*2 + 1) * 4; n <= len(t.funcdata) {
		t.functab = t.funcdata[:n]
	} else {
		return nil, errors.New("pclntab function table out of range")
	}
	return t, nil
}

func (t *pclntab) u32(b []byte, off uint32) (uint32, bool) {
	if uint64(off)+4 > uint64(len(b)) {
		return 0, false
	}
	return t.order.Uint32(b[off:]), true
}

func cstring(b []byte, off uint32) string {
	if uint64(off) >= uint64(len(b)) {
		return ""
	}
	b = b[off:]
	for i, c := range b {
		if c == 0 {
			return string(b[:i])
		}
	}
	return ""
}

// lookup returns the function, file and line of pc (a virtual address).
func (t *pclntab) lookup(pc uint64) (name, file string, line int, ok bool) {
	if pc < t.text || t.nfunc == 0 {
		return "", "", 0, false
	}
	rel := pc - t.text
	entry := func(i int) uint64 { return uint64(t.order.Uint32(t.functab[8*i:])) }
	end := uint64(t.order.Uint32(t.functab[8*t.nfunc:]))
	if rel >= end {
		return "", "", 0, false
	}
	i := sort.Search(t.nfunc, func(i int) bool { return entry(i) > rel }) - 1
	if i < 0 {
		return "", "", 0, false
	}
	funcoff := t.order.Uint32(t.functab[8*i+4:])
	fd := t.funcdata
	if uint64(funcoff)+36 > uint64(len(fd)) {
		return "", "", 0, false
	}
	f := fd[funcoff:]
	nameOff, _ := t.u32(f, 4)
	pcfile, _ := t.u32(f, 20)
	pcln, _ := t.u32(f, 24)
	cuOff, _ := t.u32(f, 32)
	name = cstring(t.funcnametab, nameOff)
	if name == "" {
		return "", "", 0, false
	}
	start := t.text + entry(i)
	if ln := t.pcvalue(pcln, start, pc); ln >= 0 {
		line = int(ln)
	}
	if fi := t.pcvalue(pcfile, start, pc); fi >= 0 {
		if fo, ok := t.u32(t.cutab, (cuOff+uint32(fi))*4); ok && fo != ^uint32(0) {
			file = cstring(t.filetab, fo)
		}
	}
	return name, file, line, true
}

// pcvalue decodes a pc-value table (zigzag value deltas, pc deltas in
// quanta, as the runtime's pcvalue) up to pc.
func (t *pclntab) pcvalue(off uint32, entry, pc uint64) int32 {
	if off == 0 || uint64(off) >= uint64(len(t.pctab)) {
		return -1
	}
	p := t.pctab[off:]
	val := int32(-1)
	cur := entry
	for first := true; ; first = false {
		uv, n := enc.Uvarint(p)
		if n <= 0 || (uv == 0 && !first) {
			return -1
		}
		p = p[n:]
		d := uint32(uv)
		if d&1 != 0 {
			d = ^(d >> 1)
		} else {
			d >>= 1
		}
		val += int32(d)
		pd, n := enc.Uvarint(p)
		if n <= 0 {
			return -1
		}
		p = p[n:]
		cur += pd * uint64(t.quantum)
		if pc < cur {
			return val
		}
	}
}
