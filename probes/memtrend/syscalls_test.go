//go:build linux

package memtrend

import (
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
