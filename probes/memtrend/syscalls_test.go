//go:build linux

package memtrend

import (
	"math"
	"testing"
	"time"

	"github.com/kubectl-pixie/kubectl-pixie/probes/internal/probetest"
)

// The sawtooth program maps and unmaps 1 MiB blocks (above glibc's mmap
// threshold): the tracer must count them for its PID and not for others.
func TestSyscallsCountMmap(t *testing.T) {
	probetest.RequirePrivileged(t)
	s, err := StartSyscalls(false)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	bin := buildC(t, "testdata/sawtooth.c")
	cmd := start(t, bin, "16", "0.5")
	pid := uint32(cmd.Process.Pid)
	if err := s.Add(pid); err != nil {
		t.Fatal(err)
	}
	idle := start(t, "/bin/sleep", "30")
	time.Sleep(2 * time.Second)
	c := s.Read(pid)
	t.Logf("sawtooth: %+v", c)
	// The first cycle maps and unmaps 16 x 1 MiB (a few before Add); after
	// it glibc raises its mmap threshold and later cycles move the break.
	if c.MmapCalls < 8 || c.MmapBytes < 8<<20 || c.MunmapBytes < 8<<20 {
		t.Errorf("counts too low for 16 x 1 MiB every 0.5 s: %+v", c)
	}
	if o := s.Read(uint32(idle.Process.Pid)); o != (SyscallCounts{}) {
		t.Errorf("untargeted process counted: %+v", o)
	}
}

// With the per-process table full, a targeted process's calls are not
// counted in silence: Missed says how many went uncounted.
func TestSyscallsTableFullIsCounted(t *testing.T) {
	probetest.RequirePrivileged(t)
	s, err := StartSyscalls(false)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for i := uint32(0); s.objs.PxMtStats.Put(0xf0000000+i, memtrendMtStats{}) == nil; i++ {
	}
	bin := buildC(t, "testdata/sawtooth.c")
	cmd := start(t, bin, "16", "0.2")
	if err := s.Add(uint32(cmd.Process.Pid)); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for s.Missed() == 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if s.Missed() == 0 {
		t.Fatal("mmap calls with a full table were not counted as missed")
	}
	if c := s.Read(uint32(cmd.Process.Pid)); c != (SyscallCounts{}) {
		t.Fatalf("counts without a table slot: %+v", c)
	}
}

// The low is the floor of the sawtooth program (16 x 1 MiB touched over
// 0.5 s, then freed through munmap or a shrinking brk), read at the
// release itself: never above the lowest RSS /proc showed over the same
// time (plus what two CPUs may hold back from the shared counter), and
// not below it by more than the one block /proc may have seen on top of
// the floor. Untargeted processes have none.
func TestSyscallsLowIsTheFloor(t *testing.T) {
	probetest.RequirePrivileged(t)
	s, err := StartSyscalls(false)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	bin := buildC(t, "testdata/sawtooth.c")
	pid := uint32(start(t, bin, "16", "0.5").Process.Pid)
	idle := start(t, "/bin/sleep", "30")
	if err := s.Add(pid); err != nil {
		t.Fatal(err)
	}
	time.Sleep(600 * time.Millisecond) // past glibc's first cycle
	s.TakeLow(pid)
	var sampler Sampler
	seen, peak := uint64(math.MaxUint64), uint64(0)
	for end := time.Now().Add(1500 * time.Millisecond); time.Now().Before(end); time.Sleep(2 * time.Millisecond) {
		st, err := sampler.Sample(pid, time.Now(), false)
		if err != nil {
			t.Fatal(err)
		}
		seen, peak = min(seen, st.RSSBytes), max(peak, st.RSSBytes)
	}
	before := time.Now().UnixNano()
	l, ok := s.TakeLow(pid)
	low := l.Bytes
	if ok && (l.Time < before-int64(1600*time.Millisecond) || l.Time > time.Now().UnixNano()) {
		t.Errorf("low read at %d, want within the last 1.6 s before %d", l.Time, before)
	}
	t.Logf("low %d KiB, /proc lowest %d KiB, peak %d KiB", low>>10, seen>>10, peak>>10)
	const slack = 256 << 10
	if !ok || low > seen+slack || low+(1<<20)+slack < seen || peak < low+12<<20 {
		t.Errorf("low %d (ok %v), want the floor: /proc showed %d..%d", low, ok, seen, peak)
	}
	if _, ok := s.TakeLow(uint32(idle.Process.Pid)); ok {
		t.Error("untargeted process has a low")
	}
}
