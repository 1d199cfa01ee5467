//go:build linux

package agent

import (
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"

	"github.com/kubectl-pixie/kubectl-pixie/probes/api"
	"github.com/kubectl-pixie/kubectl-pixie/probes/conn"
	"github.com/kubectl-pixie/kubectl-pixie/probes/protocols"
)

// procRoot writes a proc root with one PID per named cgroup file.
func procRoot(t *testing.T, cgroups map[string]string) (string, map[string]uint32) {
	t.Helper()
	root := t.TempDir()
	pids := map[string]uint32{}
	var pid uint32 = 100
	for name, cg := range cgroups {
		pid++
		pids[name] = pid
		dir := filepath.Join(root, strconv.Itoa(int(pid)))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "cgroup"), []byte(cg), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root, pids
}

// TestNodePodsCgroups: recorded /proc/PID/cgroup contents of the three
// layouts decide whether a process belongs to another node's pod.
func TestNodePodsCgroups(t *testing.T) {
	const own, other = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0", "11111111-2222-3333-4444-555555555555"
	cid := "4c5b1b8f3ad3c3a7f0e3b0a4b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0"
	cgroups := map[string]string{
		// v1 hybrid (as on this host): the v2 line is "/", v1 lines name the pod.
		"hybrid-own":   "12:memory:/kubepods/besteffort/pod" + own + "/" + cid + "\n1:name=systemd:/kubepods/besteffort/pod" + own + "/" + cid + "\n0::/\n",
		"hybrid-other": "12:memory:/kubepods/burstable/pod" + other + "/" + cid + "\n0::/\n",
		// v2 only, cgroupfs driver.
		"v2-own":   "0::/kubepods/pod" + own + "/" + cid + "\n",
		"v2-other": "0::/kubepods/besteffort/pod" + other + "/" + cid + "\n",
		// systemd driver: underscores in the UID; kind nests it under the node's container.
		"systemd-own":   "0::/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-besteffort.slice/kubelet-kubepods-besteffort-pod0f1e2d3c_4b5a_6978_8796_a5b4c3d2e1f0.slice/cri-containerd-" + cid + ".scope\n",
		"systemd-other": "0::/system.slice/docker-" + cid + ".scope/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-pod11111111_2222_3333_4444_555555555555.slice/cri-containerd-" + cid + ".scope\n",
		// Host processes, outside any pod, are the node's.
		"host-v2":     "0::/system.slice/ssh.service\n",
		"host-hybrid": "12:memory:/user.slice\n0::/user.slice/user-0.slice/session-1.scope\n",
	}
	root, pids := procRoot(t, cgroups)
	n := newNodePods(root, true, []string{own}, "")
	for name, want := range map[string]bool{
		"hybrid-own": false, "hybrid-other": true, "v2-own": false, "v2-other": true,
		"systemd-own": false, "systemd-other": true, "host-v2": false, "host-hybrid": false,
	} {
		if got := n.isForeign(pids[name]); got != want {
			t.Errorf("%s: foreign = %v, want %v", name, got, want)
		}
	}
	if n.isForeign(99999) {
		t.Error("a process gone before it is looked at was dropped")
	}
	// The probe pod's own UID counts as the node's, in either spelling.
	if self := newNodePods(root, true, nil, other); self.isForeign(pids["systemd-other"]) {
		t.Error("the probe pod's own processes were dropped")
	}
	// Without node/NAME nothing is dropped.
	var none *nodePods = newNodePods(root, false, []string{own}, "")
	if none.isForeign(pids["v2-other"]) {
		t.Error("a trace without node/NAME dropped a process")
	}
}

// TestNodePodsPipeline: with node/NAME, a request served by another node's
// pod makes no record, one of the node's own pod does.
func TestNodePodsPipeline(t *testing.T) {
	const own, other = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0", "11111111-2222-3333-4444-555555555555"
	root, pids := procRoot(t, map[string]string{
		"own":   "0::/kubepods/besteffort/pod" + own + "/x\n",
		"other": "0::/kubepods/besteffort/pod" + other + "/x\n",
	})
	cfg := api.TraceConfig{All: true, NodeScope: api.NodeScope{NodeOnly: true, NodePodUIDs: []string{own}}, ProcRootDir: root}
	traceDefaults(&cfg)
	p := newPipeline(&cfg, api.DataAccessRestricted, NewEmitter(io.Discard), protocols.All())
	local := netip.MustParseAddrPort("10.0.0.2:8080")
	for _, pid := range []uint32{pids["own"], pids["other"]} {
		id := conn.ID{TGID: pid, FD: 10}
		p.handle(&conn.Event{Kind: conn.KindOpen, ID: id, PID: pid, Comm: "nginx", Role: conn.RoleServer, Transport: conn.TransportTCP,
			Local: local, Remote: netip.MustParseAddrPort("10.0.0.3:40000")})
		p.handle(&conn.Event{Kind: conn.KindData, ID: id, Dir: conn.Ingress, Data: []byte(wrkRequest), Size: uint32(len(wrkRequest)),
			PID: pid, Comm: "nginx", Syscall: "recvfrom", StartNs: 1000, EndNs: 2000, HasOtherPos: true})
		p.handle(&conn.Event{Kind: conn.KindData, ID: id, Dir: conn.Egress, Data: []byte(nginxResponse), Size: uint32(len(nginxResponse)),
			PID: pid, Comm: "nginx", Syscall: "writev", Pos: 0, OtherPos: uint64(len(wrkRequest)), HasOtherPos: true, StartNs: 3000, EndNs: 4000})
	}
	if p.records != 1 {
		t.Errorf("%d records, want 1: the own pod's request only (tracker %+v)", p.records, p.tracker.Stats())
	}
}

// TestNodePodsMemoryTargets: memory node/NAME samples the node's own pod
// and host processes, not another node's pod.
func TestNodePodsMemoryTargets(t *testing.T) {
	const own, other = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0", "11111111-2222-3333-4444-555555555555"
	root, pids := procRoot(t, map[string]string{
		"own":   "0::/kubepods/besteffort/pod" + own + "/x\n",
		"other": "0::/kubepods/besteffort/pod" + other + "/x\n",
		"host":  "0::/system.slice/sshd.service\n",
	})
	for name, pid := range pids {
		if err := os.WriteFile(filepath.Join(root, strconv.Itoa(int(pid)), "comm"), []byte(name+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cfg := api.MemoryConfig{All: true, NodeScope: api.NodeScope{NodeOnly: true, NodePodUIDs: []string{own}}, ProcRootDir: root}
	m, err := newMemSession(cfg, NewEmitter(io.Discard))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range m.targets {
		got = append(got, p.Comm)
		if p.Comm == "own" && p.PodUID != own {
			t.Errorf("the own pod's process has pod UID %q, want %s (its records name the pod)", p.PodUID, own)
		}
	}
	slices.Sort(got)
	if want := []string{"host", "own"}; !slices.Equal(got, want) {
		t.Errorf("targets %v, want %v", got, want)
	}
}
