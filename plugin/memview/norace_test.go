//go:build !race

package memview

const raceOn = false
