// Command goleak keeps RATE bytes per second alive in a global slice, the
// classic Go leak (a cache nobody evicts). Usage: goleak RATE_BYTES_PER_SEC
package main

import (
	"fmt"
	"os"
	"strconv"
	"time"
)

var hoard [][]byte

//go:noinline
func leakChunk(n int) []byte {
	b := make([]byte, n)
	for i := 0; i < n; i += 4096 { // fresh spans are zero pages: touch them
		b[i] = 1
	}
	return b
}

func main() {
	rate := 1 << 20
	if len(os.Args) > 1 {
		rate, _ = strconv.Atoi(os.Args[1])
	}
	const chunk = 32 << 10
	start := time.Now()
	done := 0
	fmt.Println("ready")
	for {
		want := int(time.Since(start).Seconds() * float64(rate))
		for done+chunk <= want {
			hoard = append(hoard, leakChunk(chunk))
			done += chunk
		}
		time.Sleep(5 * time.Millisecond)
	}
}
