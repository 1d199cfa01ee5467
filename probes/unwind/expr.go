package unwind

// DWARF expressions appear in x86-64 CFI in two well-known places: PLT
// stubs (CFA = rsp + 8 + 8*(rip&15 >= 11)) and glibc's signal trampoline
// __restore_rt (CFA and registers read from the ucontext on the stack). We
// evaluate the stack-machine subset they and compilers use; anything else,
// or a read outside the copied stack, fails and the caller falls back.

const (
	maxExprSteps = 256
	maxExprStack = 32
)

// exprRegs are the register values an expression may read (DW_OP_breg).
type exprRegs struct{ pc, sp, bp uint64 }

func (r *exprRegs) get(reg uint64) (uint64, bool) {
	switch reg {
	case regRSP:
		return r.sp, true
	case regRBP:
		return r.bp, true
	case regRA: // rip on x86-64
		return r.pc, true
	}
	return 0, false
}

// evalExpr runs expr with initial on the stack (the CFA for register rules)
// and returns the top of the stack.
func evalExpr(expr []byte, regs *exprRegs, st stack, initial ...uint64) (uint64, bool) {
	var s [maxExprStack]uint64
	n := copy(s[:], initial)
	push := func(v uint64) bool {
		if n >= maxExprStack {
			return false
		}
		s[n] = v
		n++
		return true
	}
	r := &reader{b: expr}
	for steps := 0; r.off < len(expr); steps++ {
		if steps >= maxExprSteps {
			return 0, false
		}
		op := r.u8()
		ok := true
		switch {
		case op >= 0x30 && op <= 0x4f: // lit0..31
			ok = push(uint64(op - 0x30))
		case op >= 0x70 && op <= 0x8f: // breg0..31
			v, okr := regs.get(uint64(op - 0x70))
			ok = okr && push(v+uint64(r.sleb()))
		case op == 0x92: // bregx
			v, okr := regs.get(r.uleb())
			ok = okr && push(v+uint64(r.sleb()))
		case op == 0x03: // addr: link-time address, meaningless without the bias
			return 0, false
		case op >= 0x08 && op <= 0x11: // const*
			var v uint64
			switch op {
			case 0x08:
				v = uint64(r.u8())
			case 0x09:
				v = uint64(int64(int8(r.u8())))
			case 0x0a:
				v = uint64(r.u16())
			case 0x0b:
				v = uint64(int64(int16(r.u16())))
			case 0x0c:
				v = uint64(r.u32())
			case 0x0d:
				v = uint64(int64(int32(r.u32())))
			case 0x0e, 0x0f:
				v = r.u64()
			case 0x10:
				v = r.uleb()
			case 0x11:
				v = uint64(r.sleb())
			}
			ok = push(v)
		case op == 0x96: // nop
		case op == 0x2f: // skip
			ok = r.jump(int16(r.u16()))
		default:
			ok = stackOp(op, r, &s, &n, st)
		}
		if !ok || r.err {
			return 0, false
		}
	}
	if n == 0 {
		return 0, false
	}
	return s[n-1], true
}

// jump moves by a relative offset for skip/bra, staying inside the expression.
func (r *reader) jump(d int16) bool {
	to := r.off + int(d)
	if to < 0 || to > len(r.b) {
		return false
	}
	r.off = to
	return true
}

// stackOp runs the operators that only use the expression stack (and deref).
func stackOp(op byte, r *reader, s *[maxExprStack]uint64, n *int, st stack) bool {
	need := func(k int) bool { return *n >= k }
	top := func() *uint64 { return &s[*n-1] }
	pop := func() uint64 { *n--; return s[*n] }
	switch op {
	case 0x06: // deref
		if !need(1) {
			return false
		}
		v, ok := st.read(*top())
		*top() = v
		return ok
	case 0x94: // deref_size
		size := r.u8()
		if !need(1) || size == 0 || size > 8 {
			return false
		}
		v, ok := st.read(*top())
		if size < 8 {
			v &= 1<<(8*uint(size)) - 1
		}
		*top() = v
		return ok
	case 0x12: // dup
		if !need(1) || *n >= maxExprStack {
			return false
		}
		s[*n] = *top()
		*n++
	case 0x13: // drop
		if !need(1) {
			return false
		}
		*n--
	case 0x14: // over
		if !need(2) || *n >= maxExprStack {
			return false
		}
		s[*n] = s[*n-2]
		*n++
	case 0x15: // pick
		i := int(r.u8())
		if i >= *n || *n >= maxExprStack {
			return false
		}
		s[*n] = s[*n-1-i]
		*n++
	case 0x16: // swap
		if !need(2) {
			return false
		}
		s[*n-1], s[*n-2] = s[*n-2], s[*n-1]
	case 0x17: // rot
		if !need(3) {
			return false
		}
		s[*n-1], s[*n-2], s[*n-3] = s[*n-2], s[*n-3], s[*n-1]
	case 0x1f: // neg
		if !need(1) {
			return false
		}
		*top() = -*top()
	case 0x20: // not
		if !need(1) {
			return false
		}
		*top() = ^*top()
	case 0x23: // plus_uconst
		if !need(1) {
			return false
		}
		*top() += r.uleb()
	case 0x28: // bra
		d := int16(r.u16())
		if !need(1) {
			return false
		}
		if pop() != 0 {
			return r.jump(d)
		}
	default:
		if !need(2) {
			return false
		}
		b := pop()
		a := top()
		switch op {
		case 0x1a:
			*a &= b
		case 0x1c:
			*a -= b
		case 0x1e:
			*a *= b
		case 0x21:
			*a |= b
		case 0x22:
			*a += b
		case 0x24:
			*a <<= b & 63
		case 0x25:
			*a >>= b & 63
		case 0x26:
			*a = uint64(int64(*a) >> (b & 63))
		case 0x27:
			*a ^= b
		case 0x29, 0x2a, 0x2b, 0x2c, 0x2d, 0x2e:
			x, y := int64(*a), int64(b)
			var c bool
			switch op {
			case 0x29:
				c = x == y
			case 0x2a:
				c = x >= y
			case 0x2b:
				c = x > y
			case 0x2c:
				c = x <= y
			case 0x2d:
				c = x < y
			case 0x2e:
				c = x != y
			}
			*a = 0
			if c {
				*a = 1
			}
		default: // div, mod, abs, reg*, piece, call*... not emitted in CFI we unwind
			return false
		}
	}
	return true
}
