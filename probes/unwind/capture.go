package unwind

import "encoding/binary"

// CaptureSize is the size of struct px_user_stack
// (bpf/include/pixie/user_regs.h), what the probes' px_capture_user fills:
// pc, sp, bp, stack_len, nfp, 48 frame-pointer pairs, 4096 stack bytes.
const CaptureSize = 3*8 + 2*4 + captureMaxFP*16 + captureStack

const (
	captureMaxFP = 48
	captureStack = 4096
	captureFPOff = 32
	captureStOff = captureFPOff + captureMaxFP*16
)

// DecodeCapture reads a px_user_stack (little endian, as the probes write
// it). The Sample's Stack aliases b. Counts past their arrays are clamped;
// ok is false when b is too short or there were no user registers (pc 0).
func DecodeCapture(b []byte) (s Sample, ok bool) {
	if len(b) < CaptureSize {
		return Sample{}, false
	}
	le := binary.LittleEndian
	s.Regs = Regs{PC: le.Uint64(b), SP: le.Uint64(b[8:]), BP: le.Uint64(b[16:])}
	stackLen, nfp := min(le.Uint32(b[24:]), captureStack), min(le.Uint32(b[28:]), captureMaxFP)
	s.Stack = b[captureStOff : captureStOff+int(stackLen)]
	if nfp > 0 {
		s.FP = make([]FPFrame, nfp)
		for i := range s.FP {
			o := captureFPOff + 16*i
			s.FP[i] = FPFrame{BP: le.Uint64(b[o:]), RA: le.Uint64(b[o+8:])}
		}
	}
	return s, s.PC != 0
}
