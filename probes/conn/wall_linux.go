package conn

import "golang.org/x/sys/unix"

// WallOffsetNs returns the wall clock minus CLOCK_MONOTONIC, in ns, for
// Options.WallOffsetNs: BPF timestamps (bpf_ktime_get_ns) count
// CLOCK_MONOTONIC. The wall clock is read between two monotonic reads and
// compared with their midpoint. Take it again if the wall clock may have
// been stepped.
func WallOffsetNs() (int64, error) {
	var m1, w, m2 unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &m1); err != nil {
		return 0, err
	}
	if err := unix.ClockGettime(unix.CLOCK_REALTIME, &w); err != nil {
		return 0, err
	}
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &m2); err != nil {
		return 0, err
	}
	return w.Nano() - (m1.Nano()+m2.Nano())/2, nil
}
