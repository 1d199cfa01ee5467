// Command gogc churns a Go heap: a fixed live set of 16 x 1 MiB buffers,
// each replaced RATE times per second, so the GC collects garbage in a
// steady cycle. It must not look like a leak. Usage: gogc [RATE_MIB_PER_SEC]
package main

import (
	"fmt"
	"os"
	"strconv"
	"time"
)

var live [16][]byte

//go:noinline
func churn(i int) {
	b := make([]byte, 1<<20)
	for j := 0; j < len(b); j += 4096 {
		b[j] = byte(i)
	}
	live[i%len(live)] = b
}

var hist []int

// settled reports whether RSS grew by less than 64 KiB over the last 3 s
// (sampled every 0.5 s): the heap has reached its steady GC cycle. Go's
// RSS creeps for ~10 s after start-up; the test watches what comes after.
func settled() bool {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return true
	}
	var size, rss int
	fmt.Sscan(string(b), &size, &rss)
	if len(hist) > 0 && time.Since(lastCheck) < 500*time.Millisecond {
		return false
	}
	lastCheck = time.Now()
	hist = append(hist, rss*os.Getpagesize())
	if len(hist) < 7 {
		return false
	}
	return hist[len(hist)-1]-hist[len(hist)-7] < 64<<10 || len(hist) > 60
}

var lastCheck time.Time

func main() {
	rate := 40
	if len(os.Args) > 1 {
		rate, _ = strconv.Atoi(os.Args[1])
	}
	start := time.Now()
	n := 0
	warm := false
	for {
		want := int(time.Since(start).Seconds() * float64(rate))
		for ; n < want; n++ {
			churn(n)
		}
		if !warm && settled() {
			fmt.Println("ready")
			warm = true
		}
		time.Sleep(5 * time.Millisecond)
	}
}
