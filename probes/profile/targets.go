//go:build linux

package profile

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/kubectl-pixie/kubectl-pixie/probes/api"
	"github.com/kubectl-pixie/kubectl-pixie/probes/procs"
)

// procInfo is what the agent reports about a profiled process.
type procInfo struct {
	comm        string
	containerID string
}

func readProcInfo(procRoot string, pid uint32) procInfo {
	dir := filepath.Join(procRoot, strconv.Itoa(int(pid)))
	var pi procInfo
	if b, err := os.ReadFile(filepath.Join(dir, "comm")); err == nil {
		pi.comm = strings.TrimSpace(string(b))
	}
	if b, err := os.ReadFile(filepath.Join(dir, "cgroup")); err == nil {
		pi.containerID, _ = procs.ParseCgroup(b)
	}
	return pi
}

func selector(cfg *api.ProfileConfig) procs.Selector {
	return procs.Selector{PIDs: cfg.PIDs, Comms: cfg.Comms, ContainerIDs: cfg.ContainerIDs, PodUIDs: cfg.PodUIDs}
}

// resolveTargets lists the tgids the config selects now. PIDs are kept even
// if not seen, so a PID given by the user is always filtered in.
func resolveTargets(procRoot string, cfg *api.ProfileConfig) map[uint32]bool {
	out := map[uint32]bool{}
	for _, p := range cfg.PIDs {
		out[p] = true
	}
	if len(cfg.Comms) == 0 && len(cfg.ContainerIDs) == 0 && len(cfg.PodUIDs) == 0 {
		return out
	}
	found, err := procs.Finder{Root: procRoot}.Find(selector(cfg))
	if err != nil {
		return out
	}
	for _, p := range found {
		out[p.PID] = true
	}
	return out
}
