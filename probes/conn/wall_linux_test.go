package conn

import (
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestWallOffset(t *testing.T) {
	off, err := WallOffsetNs()
	if err != nil {
		t.Fatal(err)
	}
	var m unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &m); err != nil {
		t.Fatal(err)
	}
	wall := time.Unix(0, m.Nano()+off)
	if d := time.Since(wall); d < -time.Second || d > time.Second {
		t.Errorf("monotonic now + offset is %v away from the wall clock", d)
	}
}
