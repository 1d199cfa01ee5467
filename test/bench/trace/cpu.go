//go:build linux

package main

import (
	"os"
	"strconv"
	"strings"
)

// ticksNs is one USER_HZ clock tick of /proc/stat and /proc/PID/stat
// (100 Hz on every Linux architecture the agent runs on).
const ticksNs = 1e7

// machineBusyNs is the CPU time all CPUs spent not idle since boot, from
// /proc/stat's "cpu" line: user, nice, system, irq, softirq (guest time is
// inside user; iowait and steal are not work done here).
func machineBusyNs() float64 {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		fatal(err.Error())
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 8 || f[0] != "cpu" {
		fatal("unexpected /proc/stat: " + line)
	}
	var busy float64
	for _, i := range []int{1, 2, 3, 6, 7} {
		v, _ := strconv.ParseFloat(f[i], 64)
		busy += v
	}
	return busy * ticksNs
}

// procCPUNs is a process's user+system CPU time (all its threads), 0 when
// it is gone.
func procCPUNs(pid int) float64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	// The command name may hold spaces: fields count from after its ')'.
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return (u + st) * ticksNs
}

// loadAvg is the 1-minute load average, to label figures with the load
// they ran under.
func loadAvg() float64 {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0
	}
	v, _ := strconv.ParseFloat(f[0], 64)
	return v
}
