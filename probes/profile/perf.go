//go:build linux

package profile

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"
)

// perfEvents is one software cpu-clock event per CPU, each running the BPF
// program on every sample. Software events work where no hardware PMU is
// exposed (VMs, these test machines).
type perfEvents struct{ fds []int }

func openPerfEvents(progFD, hz int) (*perfEvents, error) {
	cpus, err := onlineCPUs()
	if err != nil {
		return nil, err
	}
	pe := &perfEvents{}
	attr := unix.PerfEventAttr{
		Type:   unix.PERF_TYPE_SOFTWARE,
		Config: unix.PERF_COUNT_SW_CPU_CLOCK,
		Size:   uint32(unsafe.Sizeof(unix.PerfEventAttr{})),
		Sample: uint64(hz),
		Bits:   unix.PerfBitFreq | unix.PerfBitDisabled,
	}
	for _, cpu := range cpus {
		fd, err := unix.PerfEventOpen(&attr, -1, cpu, -1, unix.PERF_FLAG_FD_CLOEXEC)
		if err != nil {
			pe.close()
			if errors.Is(err, unix.EACCES) || errors.Is(err, unix.EPERM) {
				return nil, fmt.Errorf("opening cpu-clock perf event on CPU %d: %w (run as root, or with CAP_PERFMON and CAP_BPF)", cpu, err)
			}
			return nil, fmt.Errorf("opening cpu-clock perf event on CPU %d: %w", cpu, err)
		}
		pe.fds = append(pe.fds, fd)
		if err := unix.IoctlSetInt(fd, unix.PERF_EVENT_IOC_SET_BPF, progFD); err != nil {
			pe.close()
			return nil, fmt.Errorf("attaching BPF program to perf event on CPU %d: %w", cpu, err)
		}
	}
	for _, fd := range pe.fds {
		if err := unix.IoctlSetInt(fd, unix.PERF_EVENT_IOC_ENABLE, 0); err != nil {
			pe.close()
			return nil, fmt.Errorf("enabling perf event: %w", err)
		}
	}
	return pe, nil
}

func (pe *perfEvents) close() {
	for _, fd := range pe.fds {
		_ = unix.IoctlSetInt(fd, unix.PERF_EVENT_IOC_DISABLE, 0)
		_ = unix.Close(fd)
	}
	pe.fds = nil
}

// onlineCPUs parses /sys/devices/system/cpu/online ("0-3,5").
func onlineCPUs() ([]int, error) {
	data, err := os.ReadFile("/sys/devices/system/cpu/online")
	if err != nil {
		return nil, fmt.Errorf("listing CPUs: %w", err)
	}
	return parseCPUList(strings.TrimSpace(string(data)))
}

func parseCPUList(s string) ([]int, error) {
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
