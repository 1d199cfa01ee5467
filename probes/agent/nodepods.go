//go:build linux

package agent

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/kubectl-pixie/kubectl-pixie/probes/procs"
)

// nodePods keeps node/NAME to its own node: it tells processes of pods the
// API server places elsewhere (seen when nodes share one kernel) from the
// node's own pods and its host processes. On a real node every pod is in
// the set, so nothing is dropped.
type nodePods struct {
	root    string          // proc root
	own     map[string]bool // pod UIDs with dashes
	foreign map[uint32]bool // per PID, cached: records come by the thousand
}

// maxNodePodsCache bounds the PID cache; clearing it also forgets reused PIDs.
const maxNodePodsCache = 4096

// newNodePods returns nil when the configuration asks for no node filter.
// The probe pod's own UID (selfUID, "" outside a pod) is the node's too.
func newNodePods(root string, on bool, uids []string, selfUID string) *nodePods {
	if !on {
		return nil
	}
	if root == "" {
		root = "/proc"
	}
	n := &nodePods{root: root, own: map[string]bool{}, foreign: map[uint32]bool{}}
	for _, u := range append(uids, selfUID) {
		if u != "" {
			n.own[strings.ReplaceAll(u, "_", "-")] = true
		}
	}
	return n
}

// foreignPod reports whether the pod UID (dashes; "" for a host process)
// is another node's.
func (n *nodePods) foreignPod(uid string) bool {
	return n != nil && uid != "" && !n.own[uid]
}

// isForeign reports whether pid runs in a pod that is not the node's. A
// process gone before it is looked at is kept: it cannot be placed.
func (n *nodePods) isForeign(pid uint32) bool {
	if n == nil {
		return false
	}
	if f, ok := n.foreign[pid]; ok {
		return f
	}
	b, err := os.ReadFile(filepath.Join(n.root, strconv.FormatUint(uint64(pid), 10), "cgroup"))
	if err != nil {
		return false
	}
	_, uid := procs.ParseCgroup(b)
	f := n.foreignPod(uid)
	if len(n.foreign) >= maxNodePodsCache {
		clear(n.foreign)
	}
	n.foreign[pid] = f
	return f
}
