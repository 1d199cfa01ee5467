package unwind

import (
	"maps"
	"testing"
)

// TestFunctionStarts: the begin of each FDE, pc-relative and absolute,
// under CIEs with and without augmentation; a cut entry ends the list.
func TestFunctionStarts(t *testing.T) {
	e := &ehBuilder{addr: 0x5000}
	z := e.cie("zR", []byte{0x1b}, initX86)
	e.fdePCRel(z, 0x1000, 0x40, nil)
	e.fdePCRel(z, 0x1040, 0x10, nil)
	plain := e.cie("", nil, initX86)
	e.fdeAbs(plain, 0x2000, 0x80, nil)
	want := map[uint64]bool{0x1000: true, 0x1040: true, 0x2000: true}
	if got := FunctionStarts(e.buf.Bytes(), e.addr); !maps.Equal(got, want) {
		t.Errorf("starts %v, want %v", got, want)
	}
	cut := e.buf.Bytes()[:e.buf.Len()-3]
	if got := FunctionStarts(cut, e.addr); len(got) != 2 {
		t.Errorf("cut: starts %v, want the first two", got)
	}
}
