// Package procs finds the processes a probe targets: by PID, by command
// name, by container ID or pod UID (read from /proc/PID/cgroup, so it works
// on cgroup v1, hybrid and v2 nodes alike), or all of them.
package procs

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
)

// Selector says which processes to target. An empty selector matches none.
type Selector struct {
	PIDs         []uint32
	Comms        []string
	All          bool
	ContainerIDs []string
	PodUIDs      []string
	// Exclude is never matched (the agent itself, the plugin that runs it).
	Exclude []uint32
	// PodIDs reads every match's container ID and pod UID, also when the
	// selection does not need them (node/NAME places processes by pod).
	PodIDs bool
}

// Empty reports whether the selector can match nothing.
func (s Selector) Empty() bool {
	return !s.All && len(s.PIDs) == 0 && len(s.Comms) == 0 && len(s.ContainerIDs) == 0 && len(s.PodUIDs) == 0
}

// Proc is one matched process.
type Proc struct {
	PID         uint32
	Comm        string
	ContainerID string
	PodUID      string
}

// Finder scans a proc filesystem.
type Finder struct {
	Root string // "/proc" unless testing
}

// Find returns the processes the selector matches now.
func (f Finder) Find(s Selector) ([]Proc, error) {
	root := f.Root
	if root == "" {
		root = "/proc"
	}
	ents, err := os.ReadDir(root)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", root, err)
	}
	excluded := map[uint32]bool{}
	for _, p := range s.Exclude {
		excluded[p] = true
	}
	pids := map[uint32]bool{}
	for _, p := range s.PIDs {
		pids[p] = true
	}
	comms := map[string]bool{}
	for _, c := range s.Comms {
		comms[truncComm(c)] = true
	}
	cids := map[string]bool{}
	for _, c := range s.ContainerIDs {
		cids[c] = true
	}
	pods := map[string]bool{}
	for _, u := range s.PodUIDs {
		pods[strings.ReplaceAll(u, "_", "-")] = true
	}
	needCgroup := len(cids) > 0 || len(pods) > 0 || s.PodIDs
	// PIDs select their descendants too (an nginx master and its workers),
	// so remember every parent and resolve ancestry after the scan.
	parents := map[uint32]uint32{}
	var rest []Proc
	var out []Proc
	for _, e := range ents {
		n, err := strconv.ParseUint(e.Name(), 10, 32)
		if err != nil {
			continue
		}
		pid := uint32(n)
		if excluded[pid] {
			continue
		}
		p := Proc{PID: pid, Comm: Comm(root, pid)}
		if p.Comm == "" { // exited, or a kernel race
			continue
		}
		if needCgroup {
			p.ContainerID, p.PodUID = readCgroupIDs(root, pid)
		}
		if s.All || pids[pid] || comms[p.Comm] || (p.ContainerID != "" && cids[p.ContainerID]) || (p.PodUID != "" && pods[p.PodUID]) {
			out = append(out, p)
		} else if len(pids) > 0 {
			parents[pid] = readPPID(root, pid)
			rest = append(rest, p)
		}
	}
	for _, p := range rest {
		for a, hops := parents[p.PID], 0; a > 1 && hops < 64; a, hops = parents[a], hops+1 {
			if pids[a] {
				out = append(out, p)
				break
			}
			if _, known := parents[a]; !known {
				break // an ancestor that is selected itself, or gone
			}
		}
	}
	return out, nil
}

// readPPID returns the parent PID from /proc/PID/stat (0 if unknown). The
// comm field may hold spaces and parentheses: parse after the last ')'.
func readPPID(root string, pid uint32) uint32 {
	b, err := os.ReadFile(filepath.Join(root, strconv.FormatUint(uint64(pid), 10), "stat"))
	if err != nil {
		return 0
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 2 {
		return 0
	}
	n, _ := strconv.ParseUint(f[1], 10, 32)
	return uint32(n)
}

// CheckPIDs returns an error naming the first requested PID that does not exist.
func (f Finder) CheckPIDs(pids []uint32) error {
	root := f.Root
	if root == "" {
		root = "/proc"
	}
	for _, p := range pids {
		if _, err := os.Stat(filepath.Join(root, strconv.FormatUint(uint64(p), 10))); err != nil {
			return fmt.Errorf("no process with PID %d: check it with `ps -p %d`", p, p)
		}
	}
	return nil
}

// truncComm cuts a name to what the kernel keeps in comm (15 bytes).
func truncComm(c string) string {
	if len(c) > 15 {
		return c[:15]
	}
	return c
}

// Comm is pid's command name under the proc root root ("" once it has
// exited).
func Comm(root string, pid uint32) string {
	b, err := os.ReadFile(filepath.Join(root, strconv.FormatUint(uint64(pid), 10), "comm"))
	if err != nil {
		return ""
	}
	return string(bytes.TrimRight(b, "\n"))
}

var (
	// 64 hex characters: containerd, CRI-O and Docker container IDs.
	containerIDRe = regexp.MustCompile(`([0-9a-f]{64})`)
	// pod<uid> with dashes (cgroupfs driver) or underscores (systemd driver).
	podUIDRe = regexp.MustCompile(`pod([0-9a-f]{8}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{12})`)
)

// readCgroupIDs reads the container ID and pod UID from /proc/PID/cgroup.
// Every hierarchy line is looked at, v1 and v2, since on hybrid nodes the
// v2 line may be "/" while the v1 lines carry the pod path.
func readCgroupIDs(root string, pid uint32) (containerID, podUID string) {
	b, err := os.ReadFile(filepath.Join(root, strconv.FormatUint(uint64(pid), 10), "cgroup"))
	if err != nil {
		return "", ""
	}
	return ParseCgroup(b)
}

// ParseCgroup extracts the container ID and pod UID from the contents of a
// /proc/PID/cgroup file.
func ParseCgroup(b []byte) (containerID, podUID string) {
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := sc.Text()
		i := strings.LastIndexByte(line, ':')
		if i < 0 {
			continue
		}
		path := line[i+1:]
		if podUID == "" {
			if m := podUIDRe.FindStringSubmatch(path); m != nil {
				podUID = strings.ReplaceAll(m[1], "_", "-")
			}
		}
		if containerID == "" {
			// The container ID is the last path element that holds one.
			if ms := containerIDRe.FindAllString(path, -1); len(ms) > 0 {
				containerID = ms[len(ms)-1]
			}
		}
		if containerID != "" && podUID != "" {
			break
		}
	}
	return containerID, podUID
}
