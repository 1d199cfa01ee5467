// Command gofp is the Go test workload for probes/unwind: Go binaries have
// frame pointers and no .eh_frame, so the unwinder must walk them through
// the copied stack and then splice into a sample-time frame-pointer walk.
// It prints its registers, a stack copy, the FP walk and runtime.Callers
// (the oracle), then sleeps until killed.
package main

import (
	"fmt"
	"os"
	"runtime"
	"time"
	"unsafe"
)

// callerRegs returns the pc, sp and bp its caller has right after the call.
func callerRegs() (pc, sp, bp uintptr)

const copyLen = 2048

var stackCopy [copyLen]byte

//go:noinline
func capture() {
	pc, sp, bp := callerRegs()
	// No call between here and the copy can grow (move) the stack.
	copy(stackCopy[:], unsafe.Slice((*byte)(unsafe.Pointer(sp)), copyLen))
	var fp [][2]uintptr
	for b := bp; b != 0 && len(fp) < 64; {
		next := *(*uintptr)(unsafe.Pointer(b))
		fp = append(fp, [2]uintptr{b, *(*uintptr)(unsafe.Pointer(b + 8))})
		if next <= b {
			break
		}
		b = next
	}
	var pcs [128]uintptr
	n := runtime.Callers(1, pcs[:])
	fmt.Printf("regs %x %x %x\n", pc, sp, bp)
	fmt.Printf("stack %x\n", stackCopy[:])
	for _, f := range fp {
		fmt.Printf("fp %x %x\n", f[0], f[1])
	}
	for _, p := range pcs[:n] {
		fmt.Printf("bt %x\n", p)
	}
	fmt.Println("ready")
}

//go:noinline
func chain3() { capture() }

//go:noinline
func chain2() { chain3() }

//go:noinline
func chain1() { chain2() }

// recurse makes the stack deeper than the copy, so the walk must splice.
//
//go:noinline
func recurse(n int) int {
	var pad [256]byte
	pad[n%256] = byte(n)
	if n == 0 {
		chain1()
		return int(pad[0])
	}
	return recurse(n-1) + int(pad[n%256])
}

func main() {
	recurse(12)
	os.Stdout.Sync()
	for {
		time.Sleep(time.Hour)
	}
}
