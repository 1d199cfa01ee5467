package unwind

import (
	"bytes"
	"testing"
)

// FuzzEHFrame feeds arbitrary .eh_frame and .eh_frame_hdr bytes to the
// parser and evaluator: they may fail, never panic or loop.
func FuzzEHFrame(f *testing.F) {
	e := &ehBuilder{addr: 0x5000}
	c := e.cie("zR", []byte{0x1b}, initX86)
	e.fdePCRel(c, 0x1000, 0x100, []byte{0x41, 0x0e, 16, 0x86, 2, 0x43, 0x0d, regRBP, 0x0a, 0x41, 0x0b})
	e.fdePCRel(c, 0x1100, 0x100, []byte{0x0f, 3, 0x77, 0x08, 0x06, 0x2e, 8})
	f.Add(e.buf.Bytes(), []byte(nil), uint64(0x1004))
	f.Add(e.buf.Bytes(), []byte{1, 0x1b, 0x03, 0x3b, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, uint64(0x1100))
	f.Fuzz(func(t *testing.T, data, hdr []byte, pc uint64) {
		evalExpr(data, &exprRegs{pc: pc, sp: 0x7000, bp: 0x7010}, stack{sp: 0x7000, mem: hdr}, pc)
		eh := newEHFrame(data, 0x5000, hdr, 0x4000)
		n := 0
		_ = eh.forEach(func(off uint64, d *fde, err error) bool {
			if err == nil {
				eh.rowAt(d, d.begin+(d.end-d.begin)/2)
			}
			n++
			return n < 1000
		})
		for _, p := range []uint64{pc, pc - 1, 0x1000, 0x1104} {
			d, err := eh.lookup(p)
			if err != nil {
				continue
			}
			if p < d.begin || p >= d.end {
				t.Fatalf("lookup(%#x) returned FDE [%#x,%#x)", p, d.begin, d.end)
			}
			r, err := eh.rowAt(d, p)
			if err == nil {
				st := stack{sp: 0x7000, mem: data}
				applyRow(&r, d.cie.raReg, st, p, 0x7000, 0x7010)
			}
		}
	})
}

// FuzzLoadModule feeds arbitrary bytes as an ELF file.
func FuzzLoadModule(f *testing.F) {
	f.Add([]byte("\x7fELF\x02\x01\x01"))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := loadModule(bytes.NewReader(data))
		if err != nil {
			return
		}
		m.bias(0x400000, 0x1000, 0, 4096)
		if m.eh != nil {
			if d, err := m.eh.lookup(0x1000); err == nil {
				m.eh.rowAt(d, 0x1000)
			}
		}
	})
}
