//go:build race

package memview

// raceOn: the race detector slows these single-goroutine, CPU-bound
// simulations ~8x and finds nothing in them; they run smaller.
const raceOn = true
