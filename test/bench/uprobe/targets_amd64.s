#include "textflag.h"

// Three probed functions that differ only in their first instruction,
// which decides how the kernel runs it after the breakpoint trap.

// func plain(x int) int: starts with a load the kernel single-steps out
// of line (a second trap), as most functions' first instruction.
TEXT ·plain(SB), NOSPLIT, $0-16
	MOVQ x+0(FP), AX
	INCQ AX
	MOVQ AX, ret+8(FP)
	RET

// func pushed(x int) int: starts with push %rbp, which the kernel
// emulates (no single step).
TEXT ·pushed(SB), NOSPLIT, $0-16
	PUSHQ BP
	POPQ BP
	MOVQ x+0(FP), AX
	INCQ AX
	MOVQ AX, ret+8(FP)
	RET

// func nop5(x int) int: starts with a 5-byte nop, which kernels from 6.18
// rewrite into a call to a trampoline (no trap at all).
TEXT ·nop5(SB), NOSPLIT, $0-16
	BYTE $0x0f; BYTE $0x1f; BYTE $0x44; BYTE $0x00; BYTE $0x00
	MOVQ x+0(FP), AX
	INCQ AX
	MOVQ AX, ret+8(FP)
	RET
