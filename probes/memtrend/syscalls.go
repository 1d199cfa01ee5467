//go:build linux

package memtrend

import (
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/kubectl-pixie/kubectl-pixie/probes/internal/attach"
	"golang.org/x/sys/unix"
)

// Syscalls counts mmap, munmap and brk of target processes with syscall
// tracepoints: address-space churn that happens between two samples.
type Syscalls struct {
	objs  memtrendObjects
	links []link.Link
	stats io.Closer
}

// SyscallCounts is what one process did since the probe started.
type SyscallCounts struct {
	MmapBytes, MunmapBytes uint64
	MmapCalls, MunmapCalls uint64
	BrkBytes               int64 // net movement of the program break
}

// StartSyscalls loads and attaches the tracepoints. all counts every
// process; otherwise only PIDs added with Add.
func StartSyscalls(all bool) (*Syscalls, error) {
	if err := attach.EnsureTracefs(); err != nil {
		return nil, err
	}
	spec, err := loadMemtrend()
	if err != nil {
		return nil, err
	}
	if all {
		if err := spec.Variables["filter_all"].Set(uint8(1)); err != nil {
			return nil, err
		}
	}
	s := &Syscalls{}
	if err := spec.LoadAndAssign(&s.objs, nil); err != nil {
		var ve *ebpf.VerifierError
		if errors.As(err, &ve) {
			return nil, fmt.Errorf("the kernel rejected the mmap/brk tracer: %w", err)
		}
		return nil, fmt.Errorf("loading the mmap/brk tracer: %w", err)
	}
	if c, err := ebpf.EnableStats(uint32(unix.BPF_STATS_RUN_TIME)); err == nil {
		s.stats = c
	}
	for _, tp := range []struct {
		name string
		prog *ebpf.Program
	}{
		{"sys_enter_mmap", s.objs.PxMtMmap},
		{"sys_enter_munmap", s.objs.PxMtMunmap},
		{"sys_exit_brk", s.objs.PxMtBrk},
		{"sys_exit_munmap", s.objs.PxMtMunmapExit},
		{"sys_exit_madvise", s.objs.PxMtMadviseExit},
	} {
		l, err := link.Tracepoint("syscalls", tp.name, tp.prog, nil)
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("attaching to syscalls/%s: %w", tp.name, err)
		}
		s.links = append(s.links, l)
	}
	return s, nil
}

// Add targets pid.
func (s *Syscalls) Add(pid uint32) error { return s.objs.PxMtTgids.Put(pid, uint8(1)) }

// Remove forgets pid (it exited).
func (s *Syscalls) Remove(pid uint32) {
	_ = s.objs.PxMtTgids.Delete(pid)
	_ = s.objs.PxMtStats.Delete(pid)
	_ = s.objs.PxMtLow.Delete(pid)
}

// Low is the lowest resident set a process had at the return of its own
// munmap, madvise and brk calls, and when (ns since the Unix epoch).
type Low struct {
	Bytes uint64
	Time  int64
}

// TakeLow returns pid's low since the last TakeLow and starts over; ok is
// false when it made none of these calls.
func (s *Syscalls) TakeLow(pid uint32) (low Low, ok bool) {
	var v memtrendMtLow
	if err := s.objs.PxMtLow.LookupAndDelete(pid, &v); err != nil {
		if !errors.Is(err, ebpf.ErrNotSupported) || s.objs.PxMtLow.Lookup(pid, &v) != nil {
			return Low{}, false
		}
		_ = s.objs.PxMtLow.Delete(pid) // before 5.14 hash maps cannot do both at once
	}
	return Low{Bytes: v.Pages * pageSize, Time: wallOfMonotonic(v.AtNs)}, v.Readings > 0
}

// wallOfMonotonic turns a CLOCK_MONOTONIC reading (bpf_ktime_get_ns) into
// ns since the Unix epoch, by the two clocks' offset now.
func wallOfMonotonic(ns uint64) int64 {
	var ts unix.Timespec
	wall := time.Now().UnixNano()
	if unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts) != nil {
		return wall
	}
	return wall - ts.Nano() + int64(ns)
}

// Read returns pid's counts (zero if it made none of these calls).
func (s *Syscalls) Read(pid uint32) SyscallCounts {
	var v memtrendMtStats
	if err := s.objs.PxMtStats.Lookup(pid, &v); err != nil {
		return SyscallCounts{}
	}
	c := SyscallCounts{MmapBytes: v.MmapBytes, MunmapBytes: v.MunmapBytes, MmapCalls: v.MmapCalls, MunmapCalls: v.MunmapCalls}
	if v.BrkFirst != 0 {
		c.BrkBytes = int64(v.BrkLast) - int64(v.BrkFirst)
	}
	return c
}

// Missed returns how many calls were not counted because the per-process
// table was full (summed over CPUs).
func (s *Syscalls) Missed() uint64 {
	var perCPU []uint64
	if err := s.objs.PxMtFull.Lookup(uint32(0), &perCPU); err != nil {
		return 0
	}
	var n uint64
	for _, v := range perCPU {
		n += v
	}
	return n
}

// Stats returns the programs' run time and count (when bpf_stats is on).
func (s *Syscalls) Stats() (runNs, runCount uint64) {
	for _, p := range []*ebpf.Program{s.objs.PxMtMmap, s.objs.PxMtMunmap, s.objs.PxMtBrk, s.objs.PxMtMunmapExit, s.objs.PxMtMadviseExit} {
		if st, err := p.Stats(); err == nil {
			runNs += uint64(st.Runtime)
			runCount += st.RunCount
		}
	}
	return runNs, runCount
}

// Close detaches and unloads.
func (s *Syscalls) Close() error {
	for i := len(s.links) - 1; i >= 0; i-- {
		_ = s.links[i].Close()
	}
	s.links = nil
	if s.stats != nil {
		_ = s.stats.Close()
		s.stats = nil
	}
	return s.objs.Close()
}
