//go:build linux

// Package attach holds the attach steps several probes share: a software
// perf event on every CPU running a BPF program, and tracefs.
package attach

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"
)

// PerCPU is one perf event per online CPU, each running a BPF program on
// every sample. Software events work where no hardware PMU is exposed
// (VMs, these test machines).
type PerCPU struct{ fds []int }

// OpenPerCPU opens attr (Size is filled in) on every online CPU for every
// process, attaches progFD and enables the events. what names the event
// in errors ("cpu-clock").
func OpenPerCPU(attr unix.PerfEventAttr, progFD int, what string) (*PerCPU, error) {
	cpus, err := OnlineCPUs()
	if err != nil {
		return nil, err
	}
	attr.Size = uint32(unsafe.Sizeof(unix.PerfEventAttr{}))
	attr.Bits |= unix.PerfBitDisabled
	pe := &PerCPU{}
	for _, cpu := range cpus {
		fd, err := unix.PerfEventOpen(&attr, -1, cpu, -1, unix.PERF_FLAG_FD_CLOEXEC)
		if err != nil {
			pe.Close()
			if errors.Is(err, unix.EACCES) || errors.Is(err, unix.EPERM) {
				return nil, fmt.Errorf("opening %s perf event on CPU %d: %w (run as root, or with CAP_PERFMON and CAP_BPF)", what, cpu, err)
			}
			return nil, fmt.Errorf("opening %s perf event on CPU %d: %w", what, cpu, err)
		}
		pe.fds = append(pe.fds, fd)
		if err := unix.IoctlSetInt(fd, unix.PERF_EVENT_IOC_SET_BPF, progFD); err != nil {
			pe.Close()
			return nil, fmt.Errorf("attaching BPF program to %s perf event on CPU %d: %w", what, cpu, err)
		}
	}
	for _, fd := range pe.fds {
		if err := unix.IoctlSetInt(fd, unix.PERF_EVENT_IOC_ENABLE, 0); err != nil {
			pe.Close()
			return nil, fmt.Errorf("enabling %s perf event: %w", what, err)
		}
	}
	return pe, nil
}

// SetPeriod changes the sample period of every event (not for
// frequency-based events).
func (pe *PerCPU) SetPeriod(period uint64) error {
	for _, fd := range pe.fds {
		if _, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.PERF_EVENT_IOC_PERIOD, uintptr(unsafe.Pointer(&period))); errno != 0 {
			return fmt.Errorf("setting the perf event period: %w", errno)
		}
	}
	return nil
}

// Close disables and closes every event.
func (pe *PerCPU) Close() {
	for _, fd := range pe.fds {
		_ = unix.IoctlSetInt(fd, unix.PERF_EVENT_IOC_DISABLE, 0)
		_ = unix.Close(fd)
	}
	pe.fds = nil
}

// OnlineCPUs parses /sys/devices/system/cpu/online ("0-3,5").
func OnlineCPUs() ([]int, error) {
	data, err := os.ReadFile("/sys/devices/system/cpu/online")
	if err != nil {
		return nil, fmt.Errorf("listing CPUs: %w", err)
	}
	return ParseCPUList(strings.TrimSpace(string(data)))
}

// ParseCPUList parses the kernel's CPU list format ("0-3,5").
func ParseCPUList(s string) ([]int, error) {
	var cpus []int
	for _, part := range strings.Split(s, ",") {
		if part == "" {
			continue
		}
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.Atoi(lo)
		if err != nil {
			return nil, fmt.Errorf("parsing CPU list %q: %w", s, err)
		}
		b := a
		if isRange {
			if b, err = strconv.Atoi(hi); err != nil {
				return nil, fmt.Errorf("parsing CPU list %q: %w", s, err)
			}
		}
		for c := a; c <= b; c++ {
			cpus = append(cpus, c)
		}
	}
	if len(cpus) == 0 {
		return nil, fmt.Errorf("no online CPUs in %q", s)
	}
	return cpus, nil
}

// EnsureTracefs mounts tracefs when neither it nor debugfs's tracing
// directory is available; tracepoint attach needs it (probe pods and some
// hosts do not mount it).
func EnsureTracefs() error {
	for _, p := range []string{"/sys/kernel/tracing/events", "/sys/kernel/debug/tracing/events"} {
		if _, err := os.Stat(p); err == nil {
			return nil
		}
	}
	if err := unix.Mount("nodev", "/sys/kernel/tracing", "tracefs", 0, ""); err != nil {
		return fmt.Errorf("tracefs is not mounted and mounting it failed (run `mount -t tracefs nodev /sys/kernel/tracing`, or mount it into the probe pod): %w", err)
	}
	return nil
}
