package unwind

import (
	"encoding/binary"
	"errors"
	"fmt"
	"testing"
	"time"
)

// fakeProc is a process with one PIE module mapped at 0x400000 (bias
// 0x400000) and nothing else; pcs elsewhere have no mapping.
type fakeProc struct {
	u         *Unwinder
	now       time.Time
	mapsReads int
	opens     int
	maps      []mapping
}

const fakeBase = 0x400000

func newFake(t *testing.T) *fakeProc {
	t.Helper()
	e := &ehBuilder{addr: 0x3000}
	c := e.cie("zR", []byte{0x1b}, initX86)
	// fn A [0x1000,0x1100): push rbp at 0x1000, then CFA=rsp+16, rbp at CFA-16.
	e.fdePCRel(c, 0x1000, 0x100, []byte{0x41, 0x0e, 16, 0x86, 2})
	// fn B [0x1100,0x1200): a leaf without a frame, CFA=rsp+8.
	e.fdePCRel(c, 0x1100, 0x100, nil)
	// fn C [0x1200,0x1280): a PLT stub: CFA = rsp+8 + 8*((rip&15) >= 11).
	e.fdePCRel(c, 0x1200, 0x80, cat([]byte{0x0f, byte(len(pltExpr))}, pltExpr))
	// fn E [0x1280,0x1300): an expression we do not evaluate (DW_OP_addr).
	e.fdePCRel(c, 0x1280, 0x80, []byte{0x0f, 9, 0x03, 0, 0x10, 0, 0, 0, 0, 0, 0})
	// fn D [0x1300,0x1400): outermost (_start): RA undefined.
	e.fdePCRel(c, 0x1300, 0x100, []byte{0x07, regRA})
	mod := &module{
		eh:    newEHFrame(e.buf.Bytes(), e.addr, nil, 0),
		loads: []segment{{vaddr: 0, off: 0, filesz: 0x4000, exec: true}},
		cfi:   true,
	}
	f := &fakeProc{now: time.Unix(1000, 0)}
	f.maps = []mapping{{start: fakeBase, end: fakeBase + 0x4000, off: 0, dev: "08:01", inode: 42, path: "/app"}}
	u := New("/nonexistent")
	u.cfi = true
	u.now = func() time.Time { return f.now }
	u.readMaps = func(pid uint32) ([]mapping, error) {
		f.mapsReads++
		return append([]mapping(nil), f.maps...), nil
	}
	u.openMod = func(pid uint32, m *mapping) (*module, error) {
		f.opens++
		if m.path != "/app" {
			return nil, errors.New("no such module")
		}
		return mod, nil
	}
	f.u = u
	return f
}

// stackOf lays out words from sp.
func stackOf(words ...uint64) []byte {
	b := make([]byte, 8*len(words))
	for i, w := range words {
		binary.LittleEndian.PutUint64(b[8*i:], w)
	}
	return b
}

func TestUnwindFake(t *testing.T) {
	const sp = 0x7ff000
	cases := []struct {
		name string
		s    Sample
		max  int
		want []uint64
	}{
		{
			// B (leaf, exact pc) -> A (after push rbp) -> A -> RA 0.
			name: "cfi chain",
			s: Sample{Regs: Regs{PC: fakeBase + 0x1150, SP: sp, BP: 0x1},
				Stack: stackOf(fakeBase+0x1010, 0x7ff100 /* saved rbp */, fakeBase+0x1020, 0xdead, 0)},
			max:  10,
			want: []uint64{fakeBase + 0x1150, fakeBase + 0x1010, fakeBase + 0x1020},
		},
		{
			// A return address equal to the FDE end belongs to the FDE
			// before it (the call was the last instruction): pc-1 finds A.
			name: "return address at FDE end",
			s: Sample{Regs: Regs{PC: fakeBase + 0x1150, SP: sp},
				Stack: stackOf(fakeBase+0x1100, 0x1, 0)},
			max:  10,
			want: []uint64{fakeBase + 0x1150, fakeBase + 0x1100},
		},
		{
			name: "outermost frame",
			s: Sample{Regs: Regs{PC: fakeBase + 0x1150, SP: sp},
				Stack: stackOf(fakeBase+0x1310, 0x1234)},
			max:  10,
			want: []uint64{fakeBase + 0x1150, fakeBase + 0x1310},
		},
		{
			// No mapping at pc: FP through the copy, then CFI again (B), then
			// the copy ends and we splice into the sample-time FP walk.
			name: "fp in stack then cfi then splice",
			s: Sample{Regs: Regs{PC: 0x9000, SP: sp, BP: sp + 8},
				Stack: stackOf(0, 0x7ff900 /* *bp */, fakeBase+0x1150),
				FP:    []FPFrame{{BP: sp + 8, RA: fakeBase + 0x1150}, {BP: 0x7ff900, RA: 0xa000}, {BP: 0x7ffa00, RA: 0xb000}, {BP: 0x7ffb00, RA: 0}}},
			max: 10,
			// After the FP step sp=bp+16=0x7ff018, B's CFI wants the RA at
			// 0x7ff018: outside the 24-byte copy, so FP: bp 0x7ff900 is not
			// in the copy; splice from FP[1].
			want: []uint64{0x9000, fakeBase + 0x1150, 0xa000, 0xb000},
		},
		{
			// rip&15 = 0 < 11: CFA = rsp+8, RA at rsp.
			name: "plt stub before push",
			s: Sample{Regs: Regs{PC: fakeBase + 0x1210, SP: sp},
				Stack: stackOf(fakeBase+0x1150, 0)},
			max:  10,
			want: []uint64{fakeBase + 0x1210, fakeBase + 0x1150},
		},
		{
			// rip&15 = 11 (after the push of the PLT index): CFA = rsp+16.
			name: "plt stub after push",
			s: Sample{Regs: Regs{PC: fakeBase + 0x121b, SP: sp},
				Stack: stackOf(7, fakeBase+0x1150, 0)},
			max:  10,
			want: []uint64{fakeBase + 0x121b, fakeBase + 0x1150},
		},
		{
			name: "unsupported cfa expression falls back to fp",
			s: Sample{Regs: Regs{PC: fakeBase + 0x1290, SP: sp, BP: sp},
				Stack: stackOf(sp+16, fakeBase+0x1150, 0, 0)},
			max:  10,
			want: []uint64{fakeBase + 0x1290, fakeBase + 0x1150},
		},
		{
			name: "splice stops at a broken chain",
			s: Sample{Regs: Regs{PC: 0x9000, SP: sp, BP: 0x7ff800},
				FP: []FPFrame{{BP: 0x7ff800, RA: 0xa000}, {BP: 0x7ff700, RA: 0xb000}}},
			max:  10,
			want: []uint64{0x9000, 0xa000},
		},
		{
			name: "bp outside stack and FP walk",
			s:    Sample{Regs: Regs{PC: 0x9000, SP: sp, BP: 0x1234}, FP: []FPFrame{{BP: 0x7ff800, RA: 0xa000}}},
			max:  10,
			want: []uint64{0x9000},
		},
		{
			name: "fp loop",
			s: Sample{Regs: Regs{PC: 0x9000, SP: sp, BP: sp},
				Stack: stackOf(sp, 0x9100)},
			max:  10,
			want: []uint64{0x9000, 0x9100},
		},
		{
			name: "misaligned bp is not followed",
			s: Sample{Regs: Regs{PC: 0x9000, SP: sp, BP: sp + 4},
				Stack: stackOf(0, 0x9100, 0x9200)},
			max:  10,
			want: []uint64{0x9000},
		},
		{
			name: "max",
			s: Sample{Regs: Regs{PC: 0x9000, SP: sp, BP: 0x7ff800},
				FP: []FPFrame{{BP: 0x7ff800, RA: 0xa000}, {BP: 0x7ff900, RA: 0xb000}, {BP: 0x7ffa00, RA: 0xc000}}},
			max:  3,
			want: []uint64{0x9000, 0xa000, 0xb000},
		},
		{
			name: "max 1",
			s:    Sample{Regs: Regs{PC: fakeBase + 0x1150, SP: sp}, Stack: stackOf(fakeBase + 0x1010)},
			max:  1,
			want: []uint64{fakeBase + 0x1150},
		},
		{
			name: "empty sample",
			s:    Sample{Regs: Regs{PC: fakeBase + 0x1150, SP: sp}},
			max:  10,
			want: []uint64{fakeBase + 0x1150},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(t)
			got := f.u.Unwind(1, tc.s, tc.max)
			if fmt.Sprintf("%x", got) != fmt.Sprintf("%x", tc.want) {
				t.Fatalf("got %x, want %x", got, tc.want)
			}
		})
	}
	if got := newFake(t).u.Unwind(1, Sample{Regs: Regs{PC: 1}}, 0); got != nil {
		t.Fatalf("max 0: %x", got)
	}
}

func TestUnwindCaches(t *testing.T) {
	f := newFake(t)
	s := Sample{Regs: Regs{PC: fakeBase + 0x1150, SP: 0x1000}, Stack: stackOf(0)}
	f.u.Unwind(7, s, 8)
	f.u.Unwind(7, s, 8)
	if f.mapsReads != 1 || f.opens != 1 {
		t.Fatalf("after two hits: %d maps reads, %d opens", f.mapsReads, f.opens)
	}
	// A miss re-reads maps at most every 500ms.
	miss := Sample{Regs: Regs{PC: 0x9000, SP: 0x1000}}
	f.u.Unwind(7, miss, 8)
	f.u.Unwind(7, miss, 8)
	if f.mapsReads != 1 {
		t.Fatalf("misses within 500ms: %d maps reads", f.mapsReads)
	}
	f.now = f.now.Add(time.Second)
	f.maps = append(f.maps, mapping{start: 0x9000, end: 0xa000, dev: "08:01", inode: 43, path: "/broken"})
	f.u.Unwind(7, miss, 8)
	f.u.Unwind(7, miss, 8)
	if f.mapsReads != 2 || f.opens != 2 {
		t.Fatalf("after the refresh: %d maps reads, %d opens (a failed module must be remembered)", f.mapsReads, f.opens)
	}
	f.u.Forget(7)
	f.u.Unwind(7, s, 8)
	if f.mapsReads != 3 {
		t.Fatalf("after Forget: %d maps reads", f.mapsReads)
	}

	// The module cache stays bounded.
	f = newFake(t)
	for i := range maxModules + 50 {
		base := uint64(0x10000000 + i*0x10000)
		f.maps = []mapping{{start: base, end: base + 0x1000, inode: uint64(1000 + i), path: "/broken"}}
		f.u.Forget(1)
		f.u.Unwind(1, Sample{Regs: Regs{PC: base + 0x10, SP: 0x1000}}, 4)
	}
	if len(f.u.mods) > maxModules {
		t.Fatalf("%d modules cached, limit %d", len(f.u.mods), maxModules)
	}

	// A failed module is retried after modRetry.
	f = newFake(t)
	f.maps = append(f.maps, mapping{start: 0x9000, end: 0xa000, dev: "08:01", inode: 43, path: "/broken"})
	f.u.Unwind(7, miss, 8)
	f.u.Unwind(7, miss, 8)
	f.now = f.now.Add(modRetry)
	f.u.Unwind(7, miss, 8)
	if f.opens != 2 {
		t.Fatalf("failed module: %d opens, want 2 (one retry after %v)", f.opens, modRetry)
	}

	// The byte budget evicts too, and the accounting returns to zero.
	f = newFake(t)
	f.u.Unwind(7, s, 8)
	if f.u.modBytes <= 0 {
		t.Fatalf("modBytes = %d after loading a module", f.u.modBytes)
	}
	for k := range f.u.mods {
		f.u.drop(k)
	}
	if f.u.modBytes != 0 || len(f.u.mods) != 0 {
		t.Fatalf("after dropping everything: %d bytes, %d modules", f.u.modBytes, len(f.u.mods))
	}
}

func TestBias(t *testing.T) {
	// PIE as ld.so maps it: r-- at offset 0, r-x at 0x1000, rw- data.
	pie := &module{loads: []segment{
		{vaddr: 0, off: 0, filesz: 0x628},
		{vaddr: 0x1000, off: 0x1000, filesz: 0x1d5, exec: true},
		{vaddr: 0x3db8, off: 0x2db8, filesz: 0x258},
	}}
	if b, ok := pie.bias(0x55d000001000, 0x1000, 0x1000, 4096); !ok || b != 0x55d000000000 {
		t.Fatalf("PIE text: bias %#x %v", b, ok)
	}
	// The data mapping (offset 0x2000 page of vaddr 0x3db8) has the same bias.
	if b, ok := pie.bias(0x55d000003000, 0x1000, 0x2000, 4096); !ok || b != 0x55d000000000 {
		t.Fatalf("PIE data: bias %#x %v", b, ok)
	}
	// Non-PIE: vaddr 0x401000 at offset 0x1000 maps at 0x401000: bias 0.
	exe := &module{loads: []segment{
		{vaddr: 0x400000, off: 0, filesz: 0x500},
		{vaddr: 0x401000, off: 0x1000, filesz: 0x2000, exec: true},
	}}
	if b, ok := exe.bias(0x401000, 0x2000, 0x1000, 4096); !ok || b != 0 {
		t.Fatalf("ET_EXEC: bias %#x %v", b, ok)
	}
	// A shared object whose text vaddr and offset differ (libc-style
	// segments with vaddr != offset after a gap).
	so := &module{loads: []segment{
		{vaddr: 0, off: 0, filesz: 0x26000},
		{vaddr: 0x27000, off: 0x26000, filesz: 0x155000, exec: true},
	}}
	if b, ok := so.bias(0x7f0000027000, 0x155000, 0x26000, 4096); !ok || b != 0x7f0000000000 {
		t.Fatalf("shifted segment: bias %#x %v", b, ok)
	}
	if _, ok := exe.bias(0x900000, 0x1000, 0x9000, 4096); ok {
		t.Fatal("mapping outside every segment got a bias")
	}
}
