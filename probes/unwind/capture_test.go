package unwind

import (
	"encoding/binary"
	"testing"
)

func TestDecodeCapture(t *testing.T) {
	b := make([]byte, CaptureSize)
	le := binary.LittleEndian
	le.PutUint64(b, 0x401000)
	le.PutUint64(b[8:], 0x7ffc0000)
	le.PutUint64(b[16:], 0x7ffc0100)
	le.PutUint32(b[24:], 1<<20) // past the array: clamped
	le.PutUint32(b[28:], 2)
	le.PutUint64(b[captureFPOff:], 0x7ffc0100)
	le.PutUint64(b[captureFPOff+8:], 0x401234)
	b[captureStOff] = 0xaa
	s, ok := DecodeCapture(b)
	if !ok || s.PC != 0x401000 || s.SP != 0x7ffc0000 || s.BP != 0x7ffc0100 || len(s.Stack) != 4096 || s.Stack[0] != 0xaa ||
		len(s.FP) != 2 || s.FP[0] != (FPFrame{0x7ffc0100, 0x401234}) {
		t.Fatalf("%+v %v", s.Regs, ok)
	}
	le.PutUint32(b[28:], 1000)
	if s, _ := DecodeCapture(b); len(s.FP) != captureMaxFP {
		t.Fatalf("nfp not clamped: %d", len(s.FP))
	}
	if _, ok := DecodeCapture(b[:CaptureSize-1]); ok {
		t.Fatal("short record accepted")
	}
	le.PutUint64(b, 0)
	if _, ok := DecodeCapture(b); ok {
		t.Fatal("pc 0 accepted")
	}
}
