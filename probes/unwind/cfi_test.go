package unwind

import (
	"bytes"
	"encoding/binary"
	"os"
	"reflect"
	"runtime"
	"testing"
)

const libcPath = "/lib/x86_64-linux-gnu/libc.so.6"

// ehBuilder assembles .eh_frame bytes for table tests.
type ehBuilder struct {
	buf  bytes.Buffer
	addr uint64 // vaddr of the section
}

func uleb(v uint64) []byte {
	var b []byte
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if v != 0 {
			c |= 0x80
		}
		b = append(b, c)
		if v == 0 {
			return b
		}
	}
}

func sleb(v int64) []byte {
	var b []byte
	for {
		c := byte(v & 0x7f)
		v >>= 7
		done := (v == 0 && c&0x40 == 0) || (v == -1 && c&0x40 != 0)
		if !done {
			c |= 0x80
		}
		b = append(b, c)
		if done {
			return b
		}
	}
}

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

// entry appends a length-prefixed entry whose body starts with id.
func (e *ehBuilder) entry(id uint32, body []byte) uint64 {
	off := uint64(e.buf.Len())
	binary.Write(&e.buf, binary.LittleEndian, uint32(4+len(body)))
	binary.Write(&e.buf, binary.LittleEndian, id)
	e.buf.Write(body)
	return off
}

// cie adds a CIE with code alignment 1, data alignment -8, RA register 16.
func (e *ehBuilder) cie(aug string, augData, initial []byte) uint64 {
	body := cat([]byte{1}, []byte(aug), []byte{0}, uleb(1), sleb(-8), []byte{regRA})
	if aug != "" {
		body = cat(body, uleb(uint64(len(augData))), augData)
	}
	return e.entry(0, cat(body, initial))
}

// fdePCRel adds an FDE for a "zR" CIE with pcrel|sdata4 addresses.
func (e *ehBuilder) fdePCRel(cieOff, begin, size uint64, instr []byte) uint64 {
	off := uint64(e.buf.Len())
	field := e.addr + off + 8 // vaddr of pc_begin
	var b [8]byte
	binary.LittleEndian.PutUint32(b[:], uint32(int32(int64(begin)-int64(field))))
	binary.LittleEndian.PutUint32(b[4:], uint32(size))
	return e.entry(uint32(off+4-cieOff), cat(b[:], uleb(0), instr))
}

// fdeAbs adds an FDE for a CIE without augmentation (absptr addresses).
func (e *ehBuilder) fdeAbs(cieOff, begin, size uint64, instr []byte) uint64 {
	off := uint64(e.buf.Len())
	var b [16]byte
	binary.LittleEndian.PutUint64(b[:], begin)
	binary.LittleEndian.PutUint64(b[8:], size)
	return e.entry(uint32(off+4-cieOff), cat(b[:], instr))
}

// x86-64 CIE initial instructions as gcc emits them: CFA = rsp+8, RA at CFA-8.
var initX86 = []byte{0x0c, regRSP, 8, 0x80 | regRA, 1}

func TestCFIOpcodes(t *testing.T) {
	const begin = 0x1000
	off := func(n int64) rule { return rule{kind: ruleOffset, off: n} }
	cases := []struct {
		name   string
		instr  []byte
		pc     uint64
		cfaReg uint64
		cfaOff int64
		cfaExp bool
		ra, bp rule
	}{
		{"initial row", nil, begin, regRSP, 8, false, off(-8), rule{}},
		{"advance_loc not reached", []byte{0x41, 0x0e, 16}, begin, regRSP, 8, false, off(-8), rule{}},
		{"advance_loc + def_cfa_offset", []byte{0x41, 0x0e, 16}, begin + 1, regRSP, 16, false, off(-8), rule{}},
		{"advance_loc1", []byte{0x02, 200, 0x0e, 24}, begin + 200, regRSP, 24, false, off(-8), rule{}},
		{"advance_loc1 before", []byte{0x02, 200, 0x0e, 24}, begin + 199, regRSP, 8, false, off(-8), rule{}},
		{"advance_loc2", []byte{0x03, 0x00, 0x01, 0x0e, 32}, begin + 0x100, regRSP, 32, false, off(-8), rule{}},
		{"advance_loc4", []byte{0x04, 0x00, 0x00, 0x01, 0x00, 0x0e, 40}, begin + 0x10000, regRSP, 40, false, off(-8), rule{}},
		{"push rbp; mov rsp,rbp", []byte{0x41, 0x0e, 16, 0x86, 2, 0x43, 0x0d, regRBP}, begin + 4, regRBP, 16, false, off(-8), off(-16)},
		{"offset_extended", []byte{0x05, regRBP, 3}, begin, regRSP, 8, false, off(-8), off(-24)},
		{"offset_extended_sf", []byte{0x11, regRBP, 0x7d}, begin, regRSP, 8, false, off(-8), off(24)}, // sleb -3 * -8
		{"restore", []byte{0x86, 2, 0x41, 0xc0 | regRBP}, begin + 1, regRSP, 8, false, off(-8), rule{}},
		{"restore_extended", []byte{0x86, 2, 0x41, 0x06, regRBP}, begin + 1, regRSP, 8, false, off(-8), rule{}},
		{"restore RA to CIE rule", []byte{0x07, regRA, 0x41, 0xc0 | regRA}, begin + 1, regRSP, 8, false, off(-8), rule{}},
		{"def_cfa", []byte{0x0c, regRBP, 48}, begin, regRBP, 48, false, off(-8), rule{}},
		{"def_cfa_sf", []byte{0x12, regRBP, 0x7e}, begin, regRBP, 16, false, off(-8), rule{}},
		{"def_cfa_register", []byte{0x0d, regRBP}, begin, regRBP, 8, false, off(-8), rule{}},
		{"def_cfa_offset_sf", []byte{0x13, 0x7c}, begin, regRSP, 32, false, off(-8), rule{}},
		{"remember/restore_state", []byte{0x0e, 16, 0x0a, 0x0e, 64, 0x86, 3, 0x41, 0x0b}, begin + 1, regRSP, 16, false, off(-8), rule{}},
		{"remember_state before restore", []byte{0x0e, 16, 0x0a, 0x0e, 64, 0x86, 3, 0x41, 0x0b}, begin, regRSP, 64, false, off(-8), off(-24)},
		{"nop", []byte{0x00, 0x00, 0x0e, 16, 0x00}, begin, regRSP, 16, false, off(-8), rule{}},
		{"undefined RA", []byte{0x07, regRA}, begin, regRSP, 8, false, rule{kind: ruleUndefined}, rule{}},
		{"same_value", []byte{0x86, 2, 0x08, regRBP}, begin, regRSP, 8, false, off(-8), rule{kind: ruleSameValue}},
		{"register", []byte{0x09, regRBP, 3}, begin, regRSP, 8, false, off(-8), rule{kind: ruleRegister, reg: 3}},
		{"GNU_args_size", []byte{0x2e, 16, 0x0e, 24}, begin, regRSP, 24, false, off(-8), rule{}},
		{"def_cfa_expression", []byte{0x0f, 3, 0x77, 0x08, 0x06}, begin, regRSP, 8, true, off(-8), rule{}},
		{"expression", []byte{0x10, regRBP, 2, 0x76, 0x00}, begin, regRSP, 8, false, off(-8), rule{kind: ruleExpression, expr: []byte{0x76, 0x00}}},
		{"val_offset", []byte{0x14, regRBP, 2}, begin, regRSP, 8, false, off(-8), rule{kind: ruleValOffset, off: -16}},
		{"val_offset_sf", []byte{0x15, regRBP, 0x7f}, begin, regRSP, 8, false, off(-8), rule{kind: ruleValOffset, off: 8}},
		{"val_expression", []byte{0x16, regRBP, 1, 0x9c}, begin, regRSP, 8, false, off(-8), rule{kind: ruleValExpression, expr: []byte{0x9c}}},
		{"GNU_negative_offset_extended", []byte{0x2f, regRBP, 2}, begin, regRSP, 8, false, off(-8), off(16)},
		{"high register ignored", []byte{0x05, 40, 2, 0x0e, 16}, begin, regRSP, 16, false, off(-8), rule{}},
	}
	for _, enc := range []string{"zR", "none"} {
		for _, tc := range cases {
			t.Run(enc+"/"+tc.name, func(t *testing.T) {
				e := &ehBuilder{addr: 0x5000}
				var fdeOff uint64
				if enc == "zR" {
					c := e.cie("zR", []byte{0x1b}, initX86)
					fdeOff = e.fdePCRel(c, begin, 0x20000, tc.instr)
				} else {
					c := e.cie("", nil, initX86)
					fdeOff = e.fdeAbs(c, begin, 0x20000, tc.instr)
				}
				f := newEHFrame(e.buf.Bytes(), e.addr, nil, 0)
				d, err := f.lookup(tc.pc)
				if err != nil {
					t.Fatalf("lookup: %v", err)
				}
				if d.begin != begin || d.end != begin+0x20000 {
					t.Fatalf("FDE at %#x covers [%#x,%#x)", fdeOff, d.begin, d.end)
				}
				r, err := f.rowAt(d, tc.pc)
				if err != nil {
					t.Fatalf("rowAt: %v", err)
				}
				if r.cfaReg != tc.cfaReg || r.cfaOff != tc.cfaOff || (r.cfaExpr != nil) != tc.cfaExp {
					t.Errorf("CFA = r%d%+d (expr %v), want r%d%+d (expr %v)", r.cfaReg, r.cfaOff, r.cfaExpr, tc.cfaReg, tc.cfaOff, tc.cfaExp)
				}
				if !reflect.DeepEqual(r.regs[regRA], tc.ra) {
					t.Errorf("RA rule = %+v, want %+v", r.regs[regRA], tc.ra)
				}
				if !reflect.DeepEqual(r.regs[regRBP], tc.bp) {
					t.Errorf("rbp rule = %+v, want %+v", r.regs[regRBP], tc.bp)
				}
			})
		}
	}
}

func TestCFIErrors(t *testing.T) {
	for name, instr := range map[string][]byte{
		"restore_state without remember": {0x0b},
		"unknown opcode":                 {0x3f},
		"truncated def_cfa":              {0x0c, regRSP},
		"truncated advance_loc4":         {0x04, 1},
		"block past end":                 {0x0f, 100},
	} {
		e := &ehBuilder{addr: 0x5000}
		c := e.cie("zR", []byte{0x1b}, initX86)
		e.fdePCRel(c, 0x1000, 0x100, instr)
		f := newEHFrame(e.buf.Bytes(), e.addr, nil, 0)
		d, err := f.lookup(0x1000)
		if err != nil {
			t.Fatalf("%s: lookup: %v", name, err)
		}
		if _, err := f.rowAt(d, 0x1000); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	// zPLR personality/LSDA augmentation parses and is skipped.
	e := &ehBuilder{addr: 0x5000}
	c := e.cie("zPLR", cat([]byte{0x9b, 1, 2, 3, 4}, []byte{0x1b}, []byte{0x1b}), initX86)
	e.fdePCRel(c, 0x1000, 0x100, []byte{0x0e, 16})
	f := newEHFrame(e.buf.Bytes(), e.addr, nil, 0)
	if d, err := f.lookup(0x10ff); err != nil || d.cie.fdeEnc != 0x1b {
		t.Fatalf("zPLR: %v", err)
	}
	if _, err := f.lookup(0x1100); err == nil {
		t.Fatal("lookup past the FDE end succeeded")
	}
}

func TestApplyRow(t *testing.T) {
	mem := make([]byte, 64)
	binary.LittleEndian.PutUint64(mem[8:], 0x7000)  // saved rbp at sp+8
	binary.LittleEndian.PutUint64(mem[16:], 0x4242) // RA at sp+16
	st := stack{sp: 0x1000, mem: mem}
	r := row{cfaReg: regRSP, cfaOff: 24}
	r.regs[regRA] = rule{kind: ruleOffset, off: -8}
	r.regs[regRBP] = rule{kind: ruleOffset, off: -16}
	res, pc, sp, bp := applyRow(&r, regRA, st, 0x2000, 0x1000, 0x1)
	if res != stepOK || pc != 0x4242 || sp != 0x1018 || bp != 0x7000 {
		t.Fatalf("got %v pc=%#x sp=%#x bp=%#x", res, pc, sp, bp)
	}
	// Epilogue after "pop rbp": the rule still says CFA-16, now below sp.
	e := row{cfaReg: regRSP, cfaOff: 8}
	e.regs[regRA] = rule{kind: ruleOffset, off: -8}
	e.regs[regRBP] = rule{kind: ruleOffset, off: -16}
	res, pc, sp, bp = applyRow(&e, regRA, st, 0x2000, 0x1010, 0x7777)
	if res != stepOK || pc != 0x4242 || sp != 0x1018 || bp != 0x7777 {
		t.Fatalf("epilogue: got %v pc=%#x sp=%#x bp=%#x", res, pc, sp, bp)
	}
	r.cfaOff = 80 // RA beyond the copy
	if res, _, _, _ := applyRow(&r, regRA, st, 0x2000, 0x1000, 0x1); res != stepFallback {
		t.Fatalf("read past the copy: %v", res)
	}
	r.regs[regRA] = rule{kind: ruleUndefined}
	if res, _, _, _ := applyRow(&r, regRA, st, 0x2000, 0x1000, 0x1); res != stepEnd {
		t.Fatalf("undefined RA: %v", res)
	}
}

// TestLibcEHFrame runs the parser and evaluator over every FDE of the real libc.
func TestLibcEHFrame(t *testing.T) {
	if runtime.GOARCH != "amd64" {
		t.Skip("SKIP: x86-64 libc test")
	}
	fh, err := os.Open(libcPath)
	if err != nil {
		t.Skipf("SKIP: %v", err)
	}
	defer fh.Close()
	m, err := loadModule(fh)
	if err != nil {
		t.Fatal(err)
	}
	if m.eh == nil || m.eh.tableCount == 0 {
		t.Fatal("libc: no .eh_frame or no .eh_frame_hdr table")
	}
	// The same data without the header table exercises the sorted scan.
	scan := newEHFrame(m.eh.data, m.eh.addr, nil, 0)
	var n, exprCFA, otherCFA int
	err = m.eh.forEach(func(off uint64, d *fde, err error) bool {
		if err != nil {
			t.Errorf("FDE at %#x: %v", off, err)
			return true
		}
		n++
		for _, pc := range []uint64{d.begin, d.begin + (d.end-d.begin)/2, d.end - 1} {
			r, err := m.eh.rowAt(d, pc)
			if err != nil {
				t.Errorf("FDE [%#x,%#x) at %#x: %v", d.begin, d.end, pc, err)
				continue
			}
			if r.cfaExpr != nil {
				exprCFA++
				continue
			}
			if r.cfaReg != regRSP && r.cfaReg != regRBP {
				otherCFA++ // hand-written asm (setcontext, __longjmp): FP fallback
				continue
			}
			if r.cfaOff < 8 || r.cfaOff > 1<<20 {
				t.Errorf("FDE [%#x,%#x) at %#x: CFA r%d%+d", d.begin, d.end, pc, r.cfaReg, r.cfaOff)
			}
			if ra := r.regs[d.cie.raReg]; ra.kind == ruleOffset && ra.off != -8 {
				t.Errorf("FDE [%#x,%#x) at %#x: RA at CFA%+d", d.begin, d.end, pc, ra.off)
			}
			// rbp may sit below the CFA's frame in epilogues (no restore
			// rule after the pop), but never above the CFA.
			if bp := r.regs[regRBP]; bp.kind == ruleOffset && (bp.off >= 0 || bp.off < -1<<20) {
				t.Errorf("FDE [%#x,%#x) at %#x: rbp at CFA%+d (CFA r%d%+d)", d.begin, d.end, pc, bp.off, r.cfaReg, r.cfaOff)
			}
		}
		for _, pc := range []uint64{d.begin, d.end - 1} {
			a, errA := m.eh.lookup(pc)
			b, errB := scan.lookup(pc)
			if errA != nil || errB != nil || a.begin != b.begin {
				t.Errorf("lookup(%#x): table %v %v, scan %v %v", pc, a, errA, b, errB)
			}
		}
		return true
	})
	if err != nil {
		t.Fatal(err)
	}
	if n < 1000 {
		t.Fatalf("only %d FDEs in libc", n)
	}
	if n != m.eh.tableCount {
		t.Errorf("%d FDEs, .eh_frame_hdr lists %d", n, m.eh.tableCount)
	}
	if exprCFA+otherCFA > 30 {
		t.Errorf("%d rows with a CFA expression and %d based on other registers: too many for libc", exprCFA, otherCFA)
	}
	t.Logf("libc: %d FDEs, %d rows with a CFA expression, %d based on other registers", n, exprCFA, otherCFA)
}

// TestNoSectionHeaders finds .eh_frame through PT_GNU_EH_FRAME when the
// section headers are stripped, with the same answers.
func TestNoSectionHeaders(t *testing.T) {
	if runtime.GOARCH != "amd64" {
		t.Skip("SKIP: x86-64 libc test")
	}
	b, err := os.ReadFile(libcPath)
	if err != nil {
		t.Skipf("SKIP: %v", err)
	}
	full, err := loadModule(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	// e_shoff (0x28), e_shnum (0x3c), e_shstrndx (0x3e).
	binary.LittleEndian.PutUint64(b[0x28:], 0)
	binary.LittleEndian.PutUint16(b[0x3c:], 0)
	binary.LittleEndian.PutUint16(b[0x3e:], 0)
	bare, err := loadModule(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	if bare.eh == nil || bare.eh.addr != full.eh.addr || bare.eh.tableCount != full.eh.tableCount {
		t.Fatalf("without section headers: eh %+v", bare.eh)
	}
	checked := 0
	_ = full.eh.forEach(func(off uint64, d *fde, _ error) bool {
		got, err := bare.eh.lookup(d.begin)
		if err != nil || got.begin != d.begin || got.end != d.end {
			t.Fatalf("lookup(%#x) = %v, %v", d.begin, got, err)
		}
		checked++
		return true
	})
	if checked < 1000 {
		t.Fatalf("checked %d FDEs", checked)
	}
}

// pltExpr is the CFA expression binutils emits for .plt entries.
var pltExpr = []byte{0x77, 8, 0x80, 0, 0x3f, 0x1a, 0x3b, 0x2a, 0x33, 0x24, 0x22}

func TestEvalExpr(t *testing.T) {
	mem := stackOf(0x1111, 0x2222, 0x7000)
	st := stack{sp: 0x7000, mem: mem}
	cases := []struct {
		name    string
		expr    []byte
		regs    exprRegs
		initial []uint64
		want    uint64
		ok      bool
	}{
		{"plt before push", pltExpr, exprRegs{pc: 0x1200, sp: 0x7000}, nil, 0x7008, true},
		{"plt after push", pltExpr, exprRegs{pc: 0x120b, sp: 0x7000}, nil, 0x7010, true},
		{"signal cfa: breg7 16; deref", []byte{0x77, 16, 0x06}, exprRegs{sp: 0x7000}, nil, 0x7000, true},
		{"register rule: CFA pushed, plus_uconst", []byte{0x23, 8}, exprRegs{}, []uint64{0x7000}, 0x7008, true},
		{"breg6 negative", []byte{0x76, 0x78}, exprRegs{bp: 0x7010}, nil, 0x7008, true},
		{"bregx rsp", []byte{0x92, 7, 4}, exprRegs{sp: 0x7000}, nil, 0x7004, true},
		{"consts and arithmetic", []byte{0x11, 0x7f, 0x08, 5, 0x22, 0x0a, 0x10, 0x00, 0x1e}, exprRegs{}, nil, 64, true},
		{"dup swap drop over", []byte{0x31, 0x32, 0x16, 0x12, 0x13, 0x14, 0x1c}, exprRegs{}, nil, ^uint64(0), true}, // [2, 1-2]
		{"deref_size 4", []byte{0x77, 8, 0x94, 4}, exprRegs{sp: 0x7000}, nil, 0x2222, true},
		{"bra taken", []byte{0x31, 0x28, 1, 0, 0x32, 0x35}, exprRegs{}, nil, 5, true},
		{"skip", []byte{0x2f, 1, 0, 0x32, 0x36}, exprRegs{}, nil, 6, true},
		{"deref outside the copy", []byte{0x77, 64, 0x06}, exprRegs{sp: 0x7000}, nil, 0, false},
		{"unknown register", []byte{0x73, 0}, exprRegs{}, nil, 0, false},
		{"addr", []byte{0x03, 0, 0, 0, 0, 0, 0, 0, 0}, exprRegs{}, nil, 0, false},
		{"empty", nil, exprRegs{}, nil, 0, false},
		{"stack underflow", []byte{0x22}, exprRegs{}, nil, 0, false},
		{"division unsupported", []byte{0x31, 0x31, 0x1b}, exprRegs{}, nil, 0, false},
		{"infinite loop is bounded", []byte{0x2f, 0xfd, 0xff}, exprRegs{}, nil, 0, false},
		{"jump out of range", []byte{0x2f, 0x10, 0}, exprRegs{}, nil, 0, false},
		{"truncated", []byte{0x77}, exprRegs{}, nil, 0, false},
	}
	for _, tc := range cases {
		got, ok := evalExpr(tc.expr, &tc.regs, st, tc.initial...)
		if ok != tc.ok || (ok && got != tc.want) {
			t.Errorf("%s: got %#x %v, want %#x %v", tc.name, got, ok, tc.want, tc.ok)
		}
	}
	// Stack overflow is refused.
	deep := bytes.Repeat([]byte{0x30}, maxExprStack+1)
	if _, ok := evalExpr(deep, &exprRegs{}, st); ok {
		t.Error("stack overflow accepted")
	}
}
