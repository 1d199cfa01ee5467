#include "textflag.h"

// func callerRegs() (pc, sp, bp uintptr)
// Frame size 0: no frame pointer of its own, BP is still the caller's.
TEXT ·callerRegs(SB), NOSPLIT, $0-24
	MOVQ 0(SP), AX
	MOVQ AX, pc+0(FP)
	LEAQ 8(SP), AX
	MOVQ AX, sp+8(FP)
	MOVQ BP, bp+16(FP)
	RET
