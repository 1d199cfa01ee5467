package unwind

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sort"
)

// DWARF register numbers on x86-64.
const (
	regRBP = 6
	regRSP = 7
	regRA  = 16
	// numRegs bounds the rules we track; higher registers (vector, segment)
	// are parsed and ignored since unwinding needs only rsp, rbp and the RA.
	numRegs = 17
	// maxStateDepth bounds DW_CFA_remember_state nesting (gcc uses 1 or 2).
	maxStateDepth = 32
)

var (
	errMalformed   = errors.New("malformed call frame information")
	errUnsupported = errors.New("unsupported call frame information")
	errNoFDE       = errors.New("no FDE covers the address")
)

type ruleKind uint8

const (
	ruleUnspecified ruleKind = iota // callee-saved registers keep their value
	ruleUndefined
	ruleSameValue
	ruleOffset        // saved at CFA+off
	ruleValOffset     // value is CFA+off
	ruleRegister      // value is in register reg
	ruleExpression    // saved at the address expr computes (CFA pushed first)
	ruleValExpression // value is what expr computes
)

type rule struct {
	kind ruleKind
	off  int64
	reg  uint64
	expr []byte // aliases the .eh_frame data
}

// row is one row of the CFI table: how to find the CFA and the caller's
// registers at a given PC.
type row struct {
	cfaReg  uint64
	cfaOff  int64
	cfaExpr []byte // DW_CFA_def_cfa_expression, when set
	regs    [numRegs]rule
}

// cie is a parsed Common Information Entry.
type cie struct {
	codeAlign uint64
	dataAlign int64
	raReg     uint64
	fdeEnc    byte
	hasAugLen bool // augmentation "z...": FDEs carry an augmentation length
	signal    bool // "S": signal frame, its FDE covers pc exactly
	initial   []byte
}

// fde is a parsed Frame Description Entry covering [begin, end).
type fde struct {
	begin, end uint64
	cie        *cie
	instr      []byte
}

// ehFrame is the .eh_frame of one module, addressed in link-time virtual
// addresses (the module's load bias is applied by the caller).
type ehFrame struct {
	data []byte
	addr uint64 // vaddr of data[0]

	// Binary-search table from .eh_frame_hdr, when usable.
	table      []byte
	tableCount int
	tableEnc   byte
	tableEntry int // bytes per (initial_loc, fde_address) pair
	hdrAddr    uint64
	tableAddr  uint64

	sorted  []fdeRange // built from a full scan when there is no table
	states  []row      // scratch for remember_state
	scanned bool
	cies    map[uint64]*cie
}

type fdeRange struct {
	begin, end uint64
	off        uint64 // offset of the FDE in data
}

// reader decodes little-endian DWARF data; any overrun sets err and returns zeros.
type reader struct {
	b   []byte
	off int
	err bool
}

func (r *reader) need(n int) bool {
	if r.err || n < 0 || r.off < 0 || r.off > len(r.b) || len(r.b)-r.off < n {
		r.err = true
		return false
	}
	return true
}

func (r *reader) u8() uint8 {
	if !r.need(1) {
		return 0
	}
	v := r.b[r.off]
	r.off++
	return v
}

func (r *reader) u16() uint16 {
	if !r.need(2) {
		return 0
	}
	v := binary.LittleEndian.Uint16(r.b[r.off:])
	r.off += 2
	return v
}

func (r *reader) u32() uint32 {
	if !r.need(4) {
		return 0
	}
	v := binary.LittleEndian.Uint32(r.b[r.off:])
	r.off += 4
	return v
}

func (r *reader) u64() uint64 {
	if !r.need(8) {
		return 0
	}
	v := binary.LittleEndian.Uint64(r.b[r.off:])
	r.off += 8
	return v
}

func (r *reader) uleb() uint64 {
	var v uint64
	var shift uint
	for {
		b := r.u8()
		if r.err {
			return 0
		}
		if shift < 64 {
			v |= uint64(b&0x7f) << shift
		}
		shift += 7
		if b&0x80 == 0 {
			return v
		}
	}
}

func (r *reader) sleb() int64 {
	var v int64
	var shift uint
	var b byte
	for {
		b = r.u8()
		if r.err {
			return 0
		}
		if shift < 64 {
			v |= int64(b&0x7f) << shift
		}
		shift += 7
		if b&0x80 == 0 {
			break
		}
	}
	if shift < 64 && b&0x40 != 0 {
		v |= -1 << shift
	}
	return v
}

func (r *reader) skip(n uint64) {
	if n > uint64(len(r.b)) || !r.need(int(n)) {
		r.err = true
		return
	}
	r.off += int(n)
}

// block reads a ULEB128 length and that many bytes (nil on overrun).
func (r *reader) block() []byte {
	n := r.uleb()
	start := r.off
	r.skip(n)
	if r.err {
		return nil
	}
	return r.b[start:r.off:r.off]
}

func (r *reader) cstring() []byte {
	for i := r.off; i >= 0 && i < len(r.b); i++ {
		if r.b[i] == 0 {
			s := r.b[r.off:i]
			r.off = i + 1
			return s
		}
	}
	r.err = true
	return nil
}

// Pointer encodings (DW_EH_PE_*).
const (
	peAbsptr   = 0x00
	peOmit     = 0xff
	peIndirect = 0x80
	pePCRel    = 0x10
	peDataRel  = 0x30
)

// readPtr decodes an encoded pointer. sec is the vaddr of r.b[0] (for pcrel),
// dataBase the base for datarel (0: not allowed). Indirect pointers would
// need the module's memory and are rejected.
func readPtr(r *reader, enc byte, sec, dataBase uint64) (uint64, bool) {
	if enc == peOmit {
		return 0, false
	}
	pos := sec + uint64(r.off)
	var v uint64
	switch enc & 0x0f {
	case 0x00, 0x04, 0x0c:
		v = r.u64()
	case 0x01:
		v = r.uleb()
	case 0x02:
		v = uint64(r.u16())
	case 0x03:
		v = uint64(r.u32())
	case 0x09:
		v = uint64(r.sleb())
	case 0x0a:
		v = uint64(int64(int16(r.u16())))
	case 0x0b:
		v = uint64(int64(int32(r.u32())))
	default:
		r.err = true
		return 0, false
	}
	if r.err {
		return 0, false
	}
	switch enc & 0x70 {
	case 0:
	case pePCRel:
		v += pos
	case peDataRel:
		if dataBase == 0 {
			return 0, false
		}
		v += dataBase
	default: // textrel, funcrel, aligned: not emitted for x86-64 .eh_frame
		return 0, false
	}
	if enc&peIndirect != 0 {
		return 0, false
	}
	return v, true
}

// ptrSize is the encoded size of a fixed-size encoding, 0 if variable.
func ptrSize(enc byte) int {
	switch enc & 0x0f {
	case 0x00, 0x04, 0x0c:
		return 8
	case 0x02, 0x0a:
		return 2
	case 0x03, 0x0b:
		return 4
	}
	return 0
}

// newEHFrame wraps .eh_frame (and optionally .eh_frame_hdr) contents.
func newEHFrame(data []byte, addr uint64, hdr []byte, hdrAddr uint64) *ehFrame {
	f := &ehFrame{data: data, addr: addr, hdrAddr: hdrAddr, cies: map[uint64]*cie{}}
	f.parseHdr(hdr)
	return f
}

func (f *ehFrame) parseHdr(hdr []byte) {
	if len(hdr) < 4 || hdr[0] != 1 {
		return
	}
	r := &reader{b: hdr, off: 4}
	if _, ok := readPtr(r, hdr[1], f.hdrAddr, f.hdrAddr); !ok && hdr[1] != peOmit {
		return
	}
	count, ok := readPtr(r, hdr[2], f.hdrAddr, f.hdrAddr)
	if !ok {
		return
	}
	enc := hdr[3]
	size := ptrSize(enc)
	if size == 0 || enc&peIndirect != 0 {
		return
	}
	rest := uint64(len(hdr) - r.off)
	if count > rest/uint64(2*size) {
		return
	}
	f.table = hdr[r.off : r.off+int(count)*2*size]
	f.tableAddr = f.hdrAddr + uint64(r.off)
	f.tableCount = int(count)
	f.tableEnc = enc
	f.tableEntry = 2 * size
}

func (f *ehFrame) tableAt(i int) (loc, fdeAddr uint64, ok bool) {
	r := &reader{b: f.table, off: i * f.tableEntry}
	// pcrel in the table is relative to each field; r.b[0] sits at tableAddr.
	loc, ok1 := readPtr(r, f.tableEnc, f.tableAddr, f.hdrAddr)
	fdeAddr, ok2 := readPtr(r, f.tableEnc, f.tableAddr, f.hdrAddr)
	return loc, fdeAddr, ok1 && ok2 && !r.err
}

// entry decodes the length and id of the entry at off.
// It returns the body reader positioned after the id, the id, its offset and
// the offset of the next entry. end == 0 means the terminator.
func (f *ehFrame) entry(off uint64) (body reader, id uint32, idOff, next uint64, err error) {
	if off >= uint64(len(f.data)) {
		return reader{}, 0, 0, 0, errMalformed
	}
	r := &reader{b: f.data, off: int(off)}
	length := uint64(r.u32())
	if length == 0xffffffff {
		length = r.u64()
	}
	if r.err {
		return reader{}, 0, 0, 0, errMalformed
	}
	if length == 0 {
		return reader{}, 0, 0, 0, nil
	}
	start := uint64(r.off)
	if length > uint64(len(f.data))-start {
		return reader{}, 0, 0, 0, errMalformed
	}
	next = start + length
	idOff = start
	id = r.u32()
	if r.err || next < uint64(r.off) {
		return reader{}, 0, 0, 0, errMalformed
	}
	// Limit the body to this entry; r.b[0] stays at data[0] so offsets are section offsets.
	body = reader{b: f.data[:next], off: r.off}
	return body, id, idOff, next, nil
}

func (f *ehFrame) cieAt(off uint64) (*cie, error) {
	if c, ok := f.cies[off]; ok {
		if c == nil {
			return nil, errMalformed
		}
		return c, nil
	}
	c, err := f.parseCIE(off)
	if len(f.cies) > 4096 { // hostile files with many CIEs
		clear(f.cies)
	}
	f.cies[off] = c
	return c, err
}

func (f *ehFrame) parseCIE(off uint64) (*cie, error) {
	body, id, _, next, err := f.entry(off)
	if err != nil {
		return nil, err
	}
	if body.b == nil || id != 0 {
		return nil, fmt.Errorf("%w: no CIE at offset %#x", errMalformed, off)
	}
	r := &body
	c := &cie{}
	version := r.u8()
	if version != 1 && version != 3 && version != 4 {
		return nil, fmt.Errorf("%w: CIE version %d", errUnsupported, version)
	}
	aug := string(r.cstring())
	if len(aug) >= 2 && aug[:2] == "eh" {
		r.skip(8)
		aug = aug[2:]
	}
	if version == 4 {
		if addrSize := r.u8(); addrSize != 8 {
			return nil, fmt.Errorf("%w: address size %d", errUnsupported, addrSize)
		}
		r.u8() // segment selector size
	}
	c.codeAlign = r.uleb()
	c.dataAlign = r.sleb()
	if version == 1 {
		c.raReg = uint64(r.u8())
	} else {
		c.raReg = r.uleb()
	}
	c.fdeEnc = peAbsptr
	if len(aug) > 0 {
		if aug[0] != 'z' {
			return nil, fmt.Errorf("%w: augmentation %q", errUnsupported, aug)
		}
		c.hasAugLen = true
		augLen := r.uleb()
		augStart := r.off
		if r.err || augLen > uint64(len(r.b)-r.off) {
			return nil, errMalformed
		}
		augEnd := augStart + int(augLen)
		ar := &reader{b: r.b[:augEnd], off: augStart}
	loop:
		for _, ch := range aug[1:] {
			switch ch {
			case 'L':
				ar.u8() // LSDA encoding, used only by FDE augmentation data we skip
			case 'P':
				enc := ar.u8()
				// Skip the personality pointer; indirect is fine, we never follow it.
				readPtr(ar, enc&^peIndirect&0x0f, 0, 0)
			case 'R':
				c.fdeEnc = ar.u8()
			case 'S':
				c.signal = true
			case 'B', 'G': // aarch64 BTI / MTE markers, no data
			default:
				break loop // unknown: the 'z' length lets us skip the rest
			}
		}
		if ar.err {
			return nil, errMalformed
		}
		r.off = augEnd
	}
	if r.err || uint64(r.off) > next {
		return nil, errMalformed
	}
	if c.codeAlign == 0 {
		return nil, fmt.Errorf("%w: zero code alignment", errMalformed)
	}
	c.initial = f.data[r.off:next]
	return c, nil
}

// fdeAt parses the FDE at section offset off.
func (f *ehFrame) fdeAt(off uint64) (*fde, error) {
	body, id, idOff, next, err := f.entry(off)
	if err != nil {
		return nil, err
	}
	r := &body
	if body.b == nil || id == 0 {
		return nil, fmt.Errorf("%w: no FDE at offset %#x", errMalformed, off)
	}
	if uint64(id) > idOff {
		return nil, fmt.Errorf("%w: CIE pointer out of range", errMalformed)
	}
	c, err := f.cieAt(idOff - uint64(id))
	if err != nil {
		return nil, err
	}
	begin, ok := readPtr(r, c.fdeEnc, f.addr, 0)
	if !ok {
		return nil, fmt.Errorf("%w: FDE start encoding %#x", errUnsupported, c.fdeEnc)
	}
	size, ok := readPtr(r, c.fdeEnc&0x0f, 0, 0)
	if !ok {
		return nil, errMalformed
	}
	if c.hasAugLen {
		r.skip(r.uleb())
	}
	if r.err || uint64(r.off) > next {
		return nil, errMalformed
	}
	end := begin + size
	if end < begin {
		return nil, errMalformed
	}
	return &fde{begin: begin, end: end, cie: c, instr: f.data[r.off:next]}, nil
}

// forEach calls fn for every FDE (or the error parsing it) until the
// terminator, the end of data, or a broken length.
func (f *ehFrame) forEach(fn func(off uint64, d *fde, err error) bool) error {
	off := uint64(0)
	for off < uint64(len(f.data)) {
		body, id, _, next, err := f.entry(off)
		if err != nil {
			return err
		}
		if body.b == nil {
			return nil // terminator
		}
		if id != 0 {
			d, err := f.fdeAt(off)
			if !fn(off, d, err) {
				return nil
			}
		}
		off = next
	}
	return nil
}

func (f *ehFrame) scan() {
	f.scanned = true
	_ = f.forEach(func(off uint64, d *fde, err error) bool {
		if err == nil && d.end > d.begin {
			f.sorted = append(f.sorted, fdeRange{d.begin, d.end, off})
		}
		return len(f.sorted) < 1<<22
	})
	sort.Slice(f.sorted, func(i, j int) bool { return f.sorted[i].begin < f.sorted[j].begin })
}

// lookup finds the FDE covering the link-time address pc.
func (f *ehFrame) lookup(pc uint64) (*fde, error) {
	if f.tableCount > 0 {
		// Last entry with initial_loc <= pc.
		i := sort.Search(f.tableCount, func(i int) bool {
			loc, _, ok := f.tableAt(i)
			return !ok || loc > pc
		}) - 1
		if i < 0 {
			return nil, errNoFDE
		}
		_, addr, ok := f.tableAt(i)
		if !ok || addr < f.addr {
			return nil, errMalformed
		}
		d, err := f.fdeAt(addr - f.addr)
		if err != nil {
			return nil, err
		}
		if pc < d.begin || pc >= d.end {
			return nil, errNoFDE
		}
		return d, nil
	}
	if !f.scanned {
		f.scan()
	}
	i := sort.Search(len(f.sorted), func(i int) bool { return f.sorted[i].begin > pc }) - 1
	// Ranges may nest or overlap in odd files; check a few candidates back.
	for j := i; j >= 0 && j > i-4; j-- {
		if pc < f.sorted[j].end {
			return f.fdeAt(f.sorted[j].off)
		}
	}
	return nil, errNoFDE
}

// rowAt evaluates the CFI program of d up to pc.
func (f *ehFrame) rowAt(d *fde, pc uint64) (row, error) {
	var init row
	if _, err := f.exec(d, d.cie.initial, pc, &init, nil); err != nil {
		return row{}, err
	}
	cur := init
	if _, err := f.exec(d, d.instr, pc, &cur, &init); err != nil {
		return row{}, err
	}
	return cur, nil
}

// exec runs CFA instructions, updating cur, until the location passes pc.
// init is the row after the CIE's initial instructions (nil while running
// them), used by DW_CFA_restore.
func (f *ehFrame) exec(d *fde, instr []byte, pc uint64, cur, init *row) (stopped bool, err error) {
	c := d.cie
	r := &reader{b: instr}
	loc := d.begin
	stack := f.states[:0] // reused: remember_state is common in glibc
	defer func() { f.states = stack[:0] }()
	advance := func(delta uint64) bool {
		n := loc + delta*c.codeAlign
		if n > pc || n < loc {
			return true
		}
		loc = n
		return false
	}
	set := func(reg uint64, ru rule) {
		if reg < numRegs {
			cur.regs[reg] = ru
		}
	}
	restore := func(reg uint64) {
		if reg >= numRegs {
			return
		}
		if init != nil {
			cur.regs[reg] = init.regs[reg]
		} else {
			cur.regs[reg] = rule{}
		}
	}
	for r.off < len(instr) {
		op := r.u8()
		switch op & 0xc0 {
		case 0x40: // DW_CFA_advance_loc
			if advance(uint64(op & 0x3f)) {
				return true, nil
			}
			continue
		case 0x80: // DW_CFA_offset
			set(uint64(op&0x3f), rule{kind: ruleOffset, off: int64(r.uleb()) * c.dataAlign})
			continue
		case 0xc0: // DW_CFA_restore
			restore(uint64(op & 0x3f))
			continue
		}
		switch op {
		case 0x00: // nop
		case 0x01: // set_loc
			n, ok := readPtr(r, c.fdeEnc, f.addr+uint64(r.off), 0)
			if !ok {
				return false, fmt.Errorf("%w: set_loc", errUnsupported)
			}
			if n > pc {
				return true, nil
			}
			loc = n
		case 0x02:
			if advance(uint64(r.u8())) {
				return true, nil
			}
		case 0x03:
			if advance(uint64(r.u16())) {
				return true, nil
			}
		case 0x04:
			if advance(uint64(r.u32())) {
				return true, nil
			}
		case 0x05: // offset_extended
			reg := r.uleb()
			set(reg, rule{kind: ruleOffset, off: int64(r.uleb()) * c.dataAlign})
		case 0x06: // restore_extended
			restore(r.uleb())
		case 0x07: // undefined
			set(r.uleb(), rule{kind: ruleUndefined})
		case 0x08: // same_value
			set(r.uleb(), rule{kind: ruleSameValue})
		case 0x09: // register
			reg := r.uleb()
			set(reg, rule{kind: ruleRegister, reg: r.uleb()})
		case 0x0a: // remember_state
			if len(stack) >= maxStateDepth {
				return false, fmt.Errorf("%w: remember_state too deep", errMalformed)
			}
			stack = append(stack, *cur)
		case 0x0b: // restore_state
			if len(stack) == 0 {
				return false, fmt.Errorf("%w: restore_state without remember_state", errMalformed)
			}
			*cur = stack[len(stack)-1]
			stack = stack[:len(stack)-1]
		case 0x0c: // def_cfa
			cur.cfaReg = r.uleb()
			cur.cfaOff = int64(r.uleb())
			cur.cfaExpr = nil
		case 0x0d: // def_cfa_register
			cur.cfaReg = r.uleb()
			cur.cfaExpr = nil
		case 0x0e: // def_cfa_offset
			cur.cfaOff = int64(r.uleb())
		case 0x0f: // def_cfa_expression
			if e := r.block(); e != nil {
				cur.cfaExpr = e
			}
		case 0x10: // expression
			reg := r.uleb()
			set(reg, rule{kind: ruleExpression, expr: r.block()})
		case 0x11: // offset_extended_sf
			reg := r.uleb()
			set(reg, rule{kind: ruleOffset, off: r.sleb() * c.dataAlign})
		case 0x12: // def_cfa_sf
			cur.cfaReg = r.uleb()
			cur.cfaOff = r.sleb() * c.dataAlign
			cur.cfaExpr = nil
		case 0x13: // def_cfa_offset_sf
			cur.cfaOff = r.sleb() * c.dataAlign
		case 0x14: // val_offset
			reg := r.uleb()
			set(reg, rule{kind: ruleValOffset, off: int64(r.uleb()) * c.dataAlign})
		case 0x15: // val_offset_sf
			reg := r.uleb()
			set(reg, rule{kind: ruleValOffset, off: r.sleb() * c.dataAlign})
		case 0x16: // val_expression
			reg := r.uleb()
			set(reg, rule{kind: ruleValExpression, expr: r.block()})
		case 0x2d: // GNU_window_save / aarch64 negate_ra_state: no operands
		case 0x2e: // GNU_args_size
			r.uleb()
		case 0x2f: // GNU_negative_offset_extended
			reg := r.uleb()
			set(reg, rule{kind: ruleOffset, off: -int64(r.uleb()) * c.dataAlign})
		default:
			return false, fmt.Errorf("%w: CFA opcode %#x", errUnsupported, op)
		}
		if r.err {
			return false, fmt.Errorf("%w: truncated CFA instruction", errMalformed)
		}
	}
	if r.err {
		return false, fmt.Errorf("%w: truncated CFA instruction", errMalformed)
	}
	return false, nil
}
