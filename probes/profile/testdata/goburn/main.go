// goburn is the Go workload of the profile tests: two leaf functions with
// known CPU shares. It measures the real split itself (thread CPU time
// around each call, the goroutine locked to its thread) and prints it as
// JSON when it exits, so the test compares the profile with the truth.
package main

import (
	"encoding/json"
	"os"
	"runtime"
	"strconv"
	"syscall"
	"time"
	"unsafe"
)

func threadCPU() time.Duration {
	var ts syscall.Timespec
	// CLOCK_THREAD_CPUTIME_ID = 3
	syscall.Syscall(syscall.SYS_CLOCK_GETTIME, 3, uintptr(unsafe.Pointer(&ts)), 0)
	return time.Duration(ts.Nano())
}

func processCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

//go:noinline
func hotAlpha(n int) uint64 {
	var x uint64 = 1
	for i := 0; i < n; i++ {
		x = x*6364136223846793005 + 1442695040888963407
		x ^= x >> 13
	}
	return x
}

//go:noinline
func hotBeta(n int) uint64 {
	var x uint64 = 7
	for i := 0; i < n; i++ {
		x += uint64(i) * (x | 3)
		x ^= x << 7
	}
	return x
}

func main() {
	secs, _ := strconv.ParseFloat(os.Args[1], 64)
	runtime.LockOSThread()
	end := time.Now().Add(time.Duration(secs * float64(time.Second)))
	start := processCPU()
	var a, b time.Duration
	var sink uint64
	for time.Now().Before(end) {
		t0 := threadCPU()
		sink += hotAlpha(2_000_000)
		t1 := threadCPU()
		sink += hotBeta(700_000)
		t2 := threadCPU()
		a += t1 - t0
		b += t2 - t1
	}
	total := processCPU() - start
	_ = json.NewEncoder(os.Stdout).Encode(map[string]any{
		"main.hotAlpha": a.Seconds(), "main.hotBeta": b.Seconds(), "total": total.Seconds(), "sink": sink,
	})
}
