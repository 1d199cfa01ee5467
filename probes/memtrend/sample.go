// Package memtrend samples the memory of processes from /proc and their
// memory cgroup (v1 or v2) and turns the series into verdicts with
// probes/api/trend.
//
// Sampling is cheap and exact for what it reads (RSS and its split, swap,
// fault counters, cgroup usage and limit); what happens between two
// samples is left to the eBPF parts (the allocator uprobes of --alloc).
package memtrend

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/kubectl-pixie/kubectl-pixie/probes/api"
)

// Sampler reads one process at a time. The zero value reads /proc and
// /sys/fs/cgroup.
type Sampler struct {
	ProcRoot   string // default /proc
	CgroupRoot string // default /sys/fs/cgroup

	prev map[uint32]prevSample
}

type prevSample struct {
	t            time.Time
	start        uint64
	minor, major uint64
}

// ErrGone means the process exited (or its PID was reused) between samples.
var ErrGone = errors.New("process exited")

// Page size on every architecture we build for; /proc/PID/stat and statm
// count in pages.
var pageSize = uint64(os.Getpagesize())

// clkTck is USER_HZ, 100 on every Linux ABI we run on.
const clkTck = 100

func (s *Sampler) proc() string {
	if s.ProcRoot == "" {
		return "/proc"
	}
	return s.ProcRoot
}

func (s *Sampler) cgroot() string {
	if s.CgroupRoot == "" {
		return "/sys/fs/cgroup"
	}
	return s.CgroupRoot
}

// Sample reads pid now. withCmd adds the command line (first sample).
func (s *Sampler) Sample(pid uint32, now time.Time, withCmd bool) (api.ProcessStats, error) {
	dir := filepath.Join(s.proc(), strconv.FormatUint(uint64(pid), 10))
	st := api.ProcessStats{Header: api.Header{Table: api.TableProcessStats}, Time: now.UnixNano(), PID: pid}
	raw, err := os.ReadFile(filepath.Join(dir, "stat"))
	if err != nil {
		return st, fmt.Errorf("pid %d: %w", pid, ErrGone)
	}
	ps, err := parseStat(raw)
	if err != nil {
		return st, fmt.Errorf("pid %d: %w", pid, err)
	}
	st.Comm = ps.comm
	st.UPID = fmt.Sprintf("%d:%d", pid, ps.start)
	st.MinorFaults, st.MajorFaults = ps.minor, ps.major
	st.CPUUserNs = ps.utime * uint64(time.Second/clkTck)
	st.CPUKernelNs = ps.stime * uint64(time.Second/clkTck)
	st.NumThreads = ps.threads
	st.VSizeBytes = ps.vsize
	st.RSSBytes = ps.rss * pageSize

	// statm is the kernel's own page counts, read in one go; prefer it
	// over stat's rss when present (both come from the same counters).
	if b, err := os.ReadFile(filepath.Join(dir, "statm")); err == nil {
		if f := strings.Fields(string(b)); len(f) >= 2 {
			if v, err := strconv.ParseUint(f[0], 10, 64); err == nil {
				st.VSizeBytes = v * pageSize
			}
			if v, err := strconv.ParseUint(f[1], 10, 64); err == nil {
				st.RSSBytes = v * pageSize
			}
		}
	}
	if b, err := os.ReadFile(filepath.Join(dir, "status")); err == nil {
		kv := parseKB(b)
		st.RSSAnonBytes = kv["RssAnon"]
		st.RSSFileBytes = kv["RssFile"]
		st.RSSShmemBytes = kv["RssShmem"]
		st.SwapBytes = kv["VmSwap"]
		st.HWMBytes = kv["VmHWM"]
	}
	if b, err := os.ReadFile(filepath.Join(dir, "smaps_rollup")); err == nil {
		st.PSSBytes = parseKB(b)["Pss"]
	}
	if withCmd {
		if b, err := os.ReadFile(filepath.Join(dir, "cmdline")); err == nil {
			st.Cmd = strings.TrimSpace(strings.ReplaceAll(string(b), "\x00", " "))
		}
	}
	if b, err := os.ReadFile(filepath.Join(dir, "cgroup")); err == nil {
		cg := s.memCgroup(b)
		st.Cgroup, st.CgroupUsageBytes, st.CgroupLimitBytes = cg.path, cg.usage, cg.limit
	}

	if s.prev == nil {
		s.prev = map[uint32]prevSample{}
	}
	if p, ok := s.prev[pid]; ok && p.start == ps.start {
		if dt := now.Sub(p.t).Seconds(); dt > 0 {
			st.MinorFaultsPerSec = float64(st.MinorFaults-p.minor) / dt
			st.MajorFaultsPerSec = float64(st.MajorFaults-p.major) / dt
		}
	}
	s.prev[pid] = prevSample{t: now, start: ps.start, minor: ps.minor, major: ps.major}
	return st, nil
}

// Forget drops the fault-rate state of pid (after it exited).
func (s *Sampler) Forget(pid uint32) { delete(s.prev, pid) }

type statFields struct {
	comm           string
	minor, major   uint64
	utime, stime   uint64
	threads, start uint64
	vsize, rss     uint64
}

// parseStat reads /proc/PID/stat. comm is in parentheses and may itself
// hold spaces and parentheses, so fields are counted from the last ')'.
func parseStat(b []byte) (statFields, error) {
	var s statFields
	open := bytes.IndexByte(b, '(')
	closing := bytes.LastIndexByte(b, ')')
	if open < 0 || closing < open {
		return s, errors.New("malformed /proc stat")
	}
	s.comm = string(b[open+1 : closing])
	f := strings.Fields(string(b[closing+1:]))
	// f[0] is field 3 (state); field n is f[n-3].
	if len(f) < 22 {
		return s, errors.New("short /proc stat")
	}
	u := func(n int) uint64 { v, _ := strconv.ParseUint(f[n-3], 10, 64); return v }
	s.minor, s.major = u(10), u(12)
	s.utime, s.stime = u(14), u(15)
	s.threads, s.start = u(20), u(22)
	s.vsize, s.rss = u(23), u(24)
	return s, nil
}

// parseKB reads "Key:   123 kB" lines (status, smaps_rollup, meminfo) into bytes.
func parseKB(b []byte) map[string]uint64 {
	out := map[string]uint64{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		f := strings.Fields(v)
		if len(f) == 0 {
			continue
		}
		n, err := strconv.ParseUint(f[0], 10, 64)
		if err != nil {
			continue
		}
		if len(f) > 1 && f[1] == "kB" {
			n <<= 10
		}
		out[k] = n
	}
	return out
}

type cgroupMem struct {
	path         string
	usage, limit uint64 // limit 0: none
}

// unlimited: v1 reports "no limit" as a huge page-aligned number, v2 as "max".
const unlimited = 1 << 62

// memCgroup finds the memory cgroup in /proc/PID/cgroup content and reads
// its usage and effective limit (the smallest limit up the tree). The v1
// memory controller wins when mounted: on hybrid nodes it is the one that
// accounts and limits, while the v2 tree has no memory controller.
func (s *Sampler) memCgroup(procCgroup []byte) cgroupMem {
	var v1, v2 string
	haveV1, haveV2 := false, false
	for _, line := range strings.Split(string(procCgroup), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		if parts[0] == "0" && parts[1] == "" {
			v2, haveV2 = parts[2], true
			continue
		}
		for _, c := range strings.Split(parts[1], ",") {
			if c == "memory" {
				v1, haveV1 = parts[2], true
			}
		}
	}
	root := s.cgroot()
	if haveV1 {
		dir := filepath.Join(root, "memory", v1)
		if usage, ok := readUint(filepath.Join(dir, "memory.usage_in_bytes")); ok {
			cg := cgroupMem{path: v1, usage: usage}
			// hierarchical_memory_limit already takes the ancestors into account.
			if b, err := os.ReadFile(filepath.Join(dir, "memory.stat")); err == nil {
				if l, ok := statValue(b, "hierarchical_memory_limit"); ok && l < unlimited {
					cg.limit = l
				}
			}
			if cg.limit == 0 {
				if l, ok := readUint(filepath.Join(dir, "memory.limit_in_bytes")); ok && l < unlimited {
					cg.limit = l
				}
			}
			return cg
		}
	}
	if haveV2 {
		for _, base := range []string{root, filepath.Join(root, "unified")} {
			dir := filepath.Join(base, v2)
			usage, ok := readUint(filepath.Join(dir, "memory.current"))
			if !ok {
				continue
			}
			cg := cgroupMem{path: v2, usage: usage}
			for d := dir; strings.HasPrefix(d, base) && len(d) > len(base); d = filepath.Dir(d) {
				if l, ok := readUint(filepath.Join(d, "memory.max")); ok && l < unlimited && (cg.limit == 0 || l < cg.limit) {
					cg.limit = l
				}
			}
			return cg
		}
	}
	return cgroupMem{path: firstNonEmpty(v1, v2)}
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func statValue(b []byte, key string) (uint64, bool) {
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, " "); ok && k == key {
			n, err := strconv.ParseUint(strings.TrimSpace(v), 10, 64)
			return n, err == nil
		}
	}
	return 0, false
}

// readUint reads a one-number file; "max" is unlimited.
func readUint(path string) (uint64, bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, false
	}
	s := strings.TrimSpace(string(b))
	if s == "max" {
		return unlimited, true
	}
	n, err := strconv.ParseUint(s, 10, 64)
	return n, err == nil
}

// HostMemory returns MemTotal and MemAvailable from meminfo, in bytes.
func (s *Sampler) HostMemory() (total, available uint64) {
	b, err := os.ReadFile(filepath.Join(s.proc(), "meminfo"))
	if err != nil {
		return 0, 0
	}
	kv := parseKB(b)
	return kv["MemTotal"], kv["MemAvailable"]
}
