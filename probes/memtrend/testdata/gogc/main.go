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
		if !warm && time.Since(start) > 2*time.Second { // heap at its steady size
			fmt.Println("ready")
			warm = true
		}
		time.Sleep(5 * time.Millisecond)
	}
}
