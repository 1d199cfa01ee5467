// goburn is the Go workload of the profile tests: two leaf functions with
// known CPU shares. It measures the real split itself (thread CPU time
// around each call, the goroutine locked to its thread) and prints it as
// JSON when it exits, so the test compares the profile with the truth.
package main

import (
	"bufio"
	"encoding/json"
	"math/rand"
	"os"
	"runtime"
	"strconv"
	"sync/atomic"
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

// threads run the loop at once (each goroutine locked to its thread), so
// a busy machine still gives the profile enough samples.
const threads = 2

type split struct{ a, b time.Duration }

var sink atomic.Uint64

// burn runs the loop on every thread while more() holds.
func burn(more func() bool) split {
	res := make(chan split)
	for range threads {
		go func() {
			runtime.LockOSThread()
			var s split
			// Jittered work sizes: a fixed cycle could alias with the
			// 10 ms sampling period and the scheduler's time slices.
			rng := rand.New(rand.NewSource(time.Now().UnixNano()))
			for more() {
				t0 := threadCPU()
				sink.Add(hotAlpha(1_000_000 + rng.Intn(2_000_000)))
				t1 := threadCPU()
				sink.Add(hotBeta(350_000 + rng.Intn(700_000)))
				t2 := threadCPU()
				s.a += t1 - t0
				s.b += t2 - t1
			}
			res <- s
		}()
	}
	var sum split
	for range threads {
		s := <-res
		sum.a, sum.b = sum.a+s.a, sum.b+s.b
	}
	return sum
}

// held: `goburn held CPUSECS` burns CPUSECS of process CPU time (at most
// a minute of wall time) for each line read on stdin, then prints "burnt"
// and waits, idle, for the next line; it exits at EOF. A test releases it
// once the profiler samples, so all the CPU it used is inside the window.
func held(secs float64) {
	budget := time.Duration(secs * float64(time.Second))
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		start, deadline := processCPU(), time.Now().Add(time.Minute)
		burn(func() bool { return processCPU()-start < budget && time.Now().Before(deadline) })
		os.Stdout.WriteString("burnt\n")
	}
}

func main() {
	if len(os.Args) > 2 && os.Args[1] == "held" {
		secs, _ := strconv.ParseFloat(os.Args[2], 64)
		held(secs)
		return
	}
	secs, _ := strconv.ParseFloat(os.Args[1], 64)
	end := time.Now().Add(time.Duration(secs * float64(time.Second)))
	start := processCPU()
	s := burn(func() bool { return time.Now().Before(end) })
	total := processCPU() - start
	_ = json.NewEncoder(os.Stdout).Encode(map[string]any{
		"main.hotAlpha": s.a.Seconds(), "main.hotBeta": s.b.Seconds(), "total": total.Seconds(), "sink": sink.Load(),
	})
}
