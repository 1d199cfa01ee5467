//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubectl-pixie/kubectl-pixie/probes/api"
	"github.com/kubectl-pixie/kubectl-pixie/probes/api/vocab"
)

// burnerPort is where `testapp burner` listens for /burn?for=D.
const burnerPort = "8081"

// burnAll asks every pod's burner to burn for d, all at once, and waits
// for each to answer (the burn is over when it answers).
func burnAll(t *testing.T, pods []corev1.Pod, d time.Duration) {
	t.Helper()
	c := &http.Client{Timeout: d + 30*time.Second}
	var wg sync.WaitGroup
	errs := make(chan error, len(pods))
	for _, p := range pods {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := c.Get(fmt.Sprintf("http://%s:%s/burn?for=%s", p.Status.PodIP, burnerPort, d))
			if err != nil {
				errs <- fmt.Errorf("%s: %w", p.Name, err)
				return
			}
			b, _ := io.ReadAll(resp.Body)
			_ = resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				errs <- fmt.Errorf("%s: %s %s", p.Name, resp.Status, b)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("burn: %v", err)
	}
}

// cpuNs is the CPU time the pod's container has used, from its cgroup
// (cpuacct.usage, ns, cgroup v1 as on this host).
func cpuNs(t *testing.T, p corev1.Pod) float64 {
	t.Helper()
	return readUint(t, filepath.Join(containerCgroup(t, "cpuacct", p), "cpuacct.usage"))
}

// stackSamples sums the samples of stack_traces records per container ID,
// and checks each record's node is that container's pod's node.
func stackSamples(t *testing.T, ndjson string, nodeOf map[string]string) map[string]uint64 {
	t.Helper()
	got := map[string]uint64{}
	for _, l := range lines(ndjson) {
		var st api.StackTrace
		if err := json.Unmarshal([]byte(l), &st); err != nil {
			t.Fatalf("not JSON: %q", l)
		}
		if st.Table != api.TableStackTraces {
			continue
		}
		got[st.ContainerID] += st.Count
		if want, ok := nodeOf[st.ContainerID]; ok && st.Node != want {
			t.Errorf("samples of container %.12s on %s stamped with node %q", st.ContainerID, want, st.Node)
		}
	}
	return got
}

// TestMultiNodeProfile: `profile deploy/burner` with burner's pods on
// nodes 1 and 2 and an untargeted burner on node 3, with the minimal
// capability set. Every pod burns for a known time inside the window; each
// targeted pod's samples come from the probe of its node, none from the
// copy (which the other probes see on this shared kernel), the total is
// within 10% of 99 Hz x the CPU seconds the pods' cgroups used, and the one
// flame graph (--group-by pod,node) roots each pod's samples at its pod
// and node.
func TestMultiNodeProfile(t *testing.T) {
	e := setup(t)
	n1, n2, n3 := e.threeNodes(t)
	ns := e.namespace(t, nil)
	labels := map[string]string{"app": "burner"}
	burners := e.deploymentSpec(t, ns, "burner", 2, labels, func(s *corev1.PodSpec) {
		spreadOn(labels, n1, n2)(s)
		s.Containers = []corev1.Container{e.app("burner", ":"+burnerPort)}
	})
	copyPod := e.runPodOn(t, ns, "burner-copy", n3, map[string]string{"app": "burner-copy"}, "burner", ":"+burnerPort)
	nodeOf := map[string]string{}
	for _, p := range burners {
		nodeOf[containerID(p)] = p.Spec.NodeName
	}

	rec := filepath.Join(t.TempDir(), "profile.pixie.gz")
	s := e.start(t, append([]string{"profile", "deploy/burner", "-n", ns, "--duration", "15s", "-o", "folded", "--group-by", "pod,node",
		"--record", rec, "--profile", "minimal"}, e.probeFlags(ns)...)...)
	s.waitReady(t, []string{n1, n2}, 90*time.Second)
	if got := e.probeNodes(t, ns); len(got) != 2 || got[n1] != 1 || got[n2] != 1 {
		t.Errorf("probe pods per node %v, want one on %s and one on %s, none on %s", got, n1, n2, n3)
	}
	before := map[string]float64{}
	for _, p := range burners {
		before[p.Name] = cpuNs(t, p)
	}
	burnAll(t, append([]corev1.Pod{*copyPod}, burners...), 5*time.Second)
	if err := s.wait(t, 90*time.Second); err != nil {
		t.Fatalf("profile: %v\n%s", err, s.stderr.String())
	}
	// the records behind the flame graph, with their nodes and containers
	r := e.pixie(t, time.Minute, "replay", rec, "-o", "json")
	if r.err != nil {
		t.Fatalf("replay:\n%s", r)
	}
	got := stackSamples(t, r.stdout, nodeOf)
	if n := got[containerID(*copyPod)]; n != 0 {
		t.Errorf("%d samples of the untargeted burner on %s", n, n3)
	}
	var totalCPU, total float64
	for _, p := range burners {
		cpu := (cpuNs(t, p) - before[p.Name]) / 1e9
		n := float64(got[containerID(p)])
		t.Logf("%s on %s: %.0f samples, its cgroup used %.2f CPU-s (%.0f samples at 99 Hz)", p.Name, p.Spec.NodeName, n, cpu, 99*cpu)
		if cpu < 0.5 {
			t.Fatalf("%s used %.2f CPU-s in a 5 s burn: the test's premise is off", p.Name, cpu)
		}
		// each pod alone holds 100-300 samples (3 burners share 2 busy
		// cores): 20% is about 3 standard deviations of a sampled count
		if math.Abs(n-99*cpu) > 0.2*99*cpu {
			t.Errorf("%s: %.0f samples, want %.0f +- 20%% (99 Hz x %.2f CPU-s)", p.Name, n, 99*cpu, cpu)
		}
		totalCPU += cpu
		total += n
	}
	if math.Abs(total-99*totalCPU) > 0.1*99*totalCPU {
		t.Errorf("merged: %.0f samples, want %.0f +- 10%% (99 Hz x %.2f CPU-s)", total, 99*totalCPU, totalCPU)
	}
	perPod := map[string]uint64{}
	for _, p := range burners {
		perPod[ns+"/burner;"+p.Name+";"+p.Spec.NodeName] = got[containerID(p)]
	}
	flameGraphRoots(t, s.stdout.String(), perPod)
	for id := range got {
		if _, ok := nodeOf[id]; !ok && id != containerID(*copyPod) {
			t.Errorf("samples of container %q, no target's", id)
		}
	}
}

// flameGraphRoots: the run's one folded flame graph roots every stack at
// "namespace/workload;pod;node" of its pod, holds exactly the records'
// samples of each pod, and nearly all of them in the burner's function.
func flameGraphRoots(t *testing.T, folded string, want map[string]uint64) {
	t.Helper()
	got := map[string]uint64{}
	var total, hot uint64
	for _, l := range lines(folded) {
		i := strings.LastIndexByte(l, ' ')
		if i < 0 {
			t.Fatalf("folded line without a count: %q", l)
		}
		n, err := strconv.ParseUint(l[i+1:], 10, 64)
		if err != nil {
			t.Fatalf("folded line %q: %v", l, err)
		}
		frames := strings.SplitN(l[:i], ";", 5)
		if len(frames) < 5 || frames[3] != "testapp" {
			t.Errorf("a stack without workload;pod;node;comm roots: %q", l)
			continue
		}
		got[strings.Join(frames[:3], ";")] += n
		total += n
		if strings.HasSuffix(l[:i], ";main.pixieHotSpin") {
			hot += n
		}
	}
	t.Logf("flame graph: %d samples, %d in main.pixieHotSpin, by root %v", total, hot, got)
	for root, n := range want {
		if got[root] != n {
			t.Errorf("flame graph root %s holds %d samples, its pod's records %d", root, got[root], n)
		}
	}
	if len(got) != len(want) || hot*10 < total*8 {
		t.Errorf("flame graph roots %v, want %v; %d of %d samples in main.pixieHotSpin (want >= 80%%)", got, want, hot, total)
	}
}

// TestMultiNodeMemory: `memory -l app=mem` over the three replicas of one
// ReplicaSet: a pod leaking 2 MiB/s on node 1 and idle servers on nodes 2
// and 3 (tainted), with an untargeted leaking copy on node 3, with the
// minimal capability set. Each pod's series is its own (its samples read
// its own cgroup, from its node's probe) and so is its verdict: leak for
// the leaking pod at its rate, stable for the others, nothing of the copy.
// The workload's row (--group-by workload, the default) says leak, naming
// the leaking pod among 3, and grows by its rate; replayed by pod, each
// pod's row has its own verdict.
func TestMultiNodeMemory(t *testing.T) {
	const rate = 2 << 20
	e := setup(t)
	n1, n2, n3 := e.threeNodes(t)
	ns := e.namespace(t, nil)
	mem := map[string]string{"app": "mem"}
	leaky := e.runPodOn(t, ns, "leaky", n1, mem, "leak", strconv.Itoa(rate))
	steady := e.runPodOn(t, ns, "steady", n2, mem, "serve", ":8080")
	steady2 := e.runPodOn(t, ns, "steady-2", n3, mem, "serve", ":8080")
	copyPod := e.runPodOn(t, ns, "leaky-copy", n3, map[string]string{"app": "mem-copy"}, "leak", strconv.Itoa(rate))
	e.adopt(t, ns, "mem", mem, 3)
	pods := map[string]*corev1.Pod{string(leaky.UID): leaky, string(steady.UID): steady, string(steady2.UID): steady2}

	rec := filepath.Join(t.TempDir(), "memory.pixie.gz")
	r := e.pixie(t, 2*time.Minute, append([]string{"memory", "-l", "app=mem", "-n", ns, "--duration", "12s", "--interval", "500ms", "-o", "json", "--profile", "minimal", "--record", rec}, e.probeFlags(ns)...)...)
	if r.err != nil {
		t.Fatalf("memory:\n%s", r)
	}
	summaries := map[string]api.MemorySummary{}
	samples := map[string]int{}
	groups := memGroups(t, r.stdout)
	for _, l := range lines(r.stdout) {
		var h api.Header
		if err := json.Unmarshal([]byte(l), &h); err != nil {
			t.Fatalf("not JSON: %q", l)
		}
		var pod, node string
		switch h.Table {
		case api.TableProcessStats:
			var ps api.ProcessStats
			_ = json.Unmarshal([]byte(l), &ps)
			pod, node = ps.PodUID, ps.Node
			if p := pods[pod]; p != nil && !strings.Contains(ps.Cgroup, string(p.UID)) {
				t.Errorf("a sample of %s reads cgroup %q, not its own", p.Name, ps.Cgroup)
			}
			samples[pod]++
		case api.TableMemorySummary:
			var s api.MemorySummary
			_ = json.Unmarshal([]byte(l), &s)
			pod, node = s.PodUID, s.Node
			if s.Comm == "testapp" {
				summaries[pod] = s
			}
		default:
			continue
		}
		switch p := pods[pod]; {
		case pod == string(copyPod.UID):
			t.Errorf("a %s record of the untargeted copy on %s (node %q)", h.Table, n3, node)
		case p == nil:
			t.Errorf("a %s record of pod uid %q, no target's: %s", h.Table, pod, l)
		case node != p.Spec.NodeName:
			t.Errorf("a %s record of %s (on %s) stamped with node %q", h.Table, p.Name, p.Spec.NodeName, node)
		}
	}
	want := map[*corev1.Pod]string{leaky: vocab.VerdictLeak, steady: vocab.VerdictStable, steady2: vocab.VerdictStable}
	for p, verdict := range want {
		s, ok := summaries[string(p.UID)]
		if !ok {
			t.Errorf("no memory_summary of %s's testapp:\n%s", p.Name, r)
			continue
		}
		t.Logf("%s on %s: %d samples, verdict %s (%s), growth %.0f B/s [%.0f, %.0f]", p.Name, p.Spec.NodeName,
			samples[string(p.UID)], s.Verdict, s.Reason, s.GrowthBytesPerSec, s.GrowthLowBytesPerSec, s.GrowthHighBytesPerSec)
		if s.Verdict != verdict {
			t.Errorf("%s: verdict %q (%s), want %s", p.Name, s.Verdict, s.Reason, verdict)
		}
	}
	if g := summaries[string(leaky.UID)].GrowthBytesPerSec; math.Abs(g-rate) > 0.15*rate {
		t.Errorf("leaky grows %.0f B/s, it leaks %d B/s", g, rate)
	}
	for _, p := range []*corev1.Pod{steady, steady2} {
		if g := summaries[string(p.UID)].GrowthBytesPerSec; math.Abs(g) > 0.05*rate {
			t.Errorf("%s grows %.0f B/s: another pod's series mixed in?", p.Name, g)
		}
	}

	// by workload: one row, a leak naming the leaking pod, growing by its rate
	w, ok := groups[ns+"/mem"]
	if !ok || len(groups) != 1 {
		t.Fatalf("memory_group_summary records %v, want one of %s/mem", groups, ns)
	}
	t.Logf("%s/mem: %s; the sum grows %.0f B/s [%.0f, %.0f]", ns, w.Reason, w.GrowthBytesPerSec, w.GrowthLowBytesPerSec, w.GrowthHighBytesPerSec)
	if w.Verdict != vocab.VerdictLeak || w.VerdictCount != 1 || w.Units != 3 || w.Unit != "pods" || w.Culprit == nil ||
		w.Culprit.Pod != ns+"/leaky" || w.Culprit.Node != n1 || !strings.HasPrefix(w.Reason, "leak: 1 of 3 pods, leaky: ") {
		t.Errorf("the workload's row: %+v, want a leak of 1 of 3 pods, leaky on %s", w, n1)
	}
	if math.Abs(w.GrowthBytesPerSec-rate) > 0.15*rate {
		t.Errorf("the workload grows %.0f B/s, its leaking pod %d B/s", w.GrowthBytesPerSec, rate)
	}
	r = e.pixie(t, time.Minute, "replay", rec, "-o", "table")
	if line := ns + "/mem: leak: 1 of 3 pods, leaky: "; r.err != nil || !strings.Contains(r.stdout, line) {
		t.Errorf("replay by workload: no %q:\n%s", line, r)
	}

	// by pod (the recording replayed): each pod's row has its own verdict
	r = e.pixie(t, time.Minute, "replay", rec, "--group-by", "pod", "-o", "json")
	if r.err != nil {
		t.Fatalf("replay --group-by pod:\n%s", r)
	}
	byPod := memGroups(t, r.stdout)
	for p, verdict := range want {
		g := byPod[ns+"/"+p.Name]
		if g.Verdict != verdict || g.Units != 1 || g.Verdict != summaries[string(p.UID)].Verdict {
			t.Errorf("replay by pod: %s's row %+v, want %s as its process's", p.Name, g, verdict)
		}
	}
	if len(byPod) != len(want) {
		t.Errorf("replay by pod: rows %v, want one per pod", byPod)
	}
}

// memGroup is the part of a memory_group_summary record the tests check.
type memGroup struct {
	Service               string  `json:"service"`
	Verdict               string  `json:"verdict"`
	VerdictCount          int     `json:"verdict_count"`
	Units                 int     `json:"units"`
	Unit                  string  `json:"unit"`
	Reason                string  `json:"reason"`
	GrowthBytesPerSec     float64 `json:"growth_bytes_per_sec"`
	GrowthLowBytesPerSec  float64 `json:"growth_low_bytes_per_sec"`
	GrowthHighBytesPerSec float64 `json:"growth_high_bytes_per_sec"`
	Culprit               *struct {
		Pod  string `json:"pod"`
		Node string `json:"node"`
	} `json:"culprit"`
}

// memGroups are the memory_group_summary records of -o json, by service.
func memGroups(t *testing.T, ndjson string) map[string]memGroup {
	t.Helper()
	m := map[string]memGroup{}
	for _, l := range lines(ndjson) {
		var g struct {
			Table string `json:"table"`
			memGroup
		}
		if err := json.Unmarshal([]byte(l), &g); err != nil {
			t.Fatalf("not JSON: %q", l)
		}
		if g.Table == "memory_group_summary" {
			m[g.Service] = g.memGroup
		}
	}
	return m
}

// adopt makes the running pods labelled sel the replicas of a new
// ReplicaSet named name: its controller adopts orphans its selector
// matches before it counts them, so it creates and deletes none.
func (e *env) adopt(t *testing.T, ns, name string, sel map[string]string, replicas int32) {
	t.Helper()
	grace := int64(1)
	spec := corev1.PodSpec{TerminationGracePeriodSeconds: &grace, Containers: []corev1.Container{e.app("serve", ":8080")}}
	_, err := e.client.AppsV1().ReplicaSets(ns).Create(context.Background(), &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: appsv1.ReplicaSetSpec{Replicas: &replicas, Selector: &metav1.LabelSelector{MatchLabels: sel},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: sel}, Spec: spec}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = e.client.AppsV1().ReplicaSets(ns).Delete(context.Background(), name, metav1.DeleteOptions{})
	})
	deadline := time.Now().Add(60 * time.Second)
	for {
		list, err := e.client.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{LabelSelector: metav1.FormatLabelSelector(&metav1.LabelSelector{MatchLabels: sel})})
		if err != nil {
			t.Fatal(err)
		}
		owned := 0
		for _, p := range list.Items {
			if ref := metav1.GetControllerOf(&p); ref != nil && ref.Kind == "ReplicaSet" && ref.Name == name && p.DeletionTimestamp == nil {
				owned++
			}
		}
		if owned == int(replicas) && len(list.Items) == int(replicas) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("ReplicaSet %s owns %d of %d pods (%d match)", name, owned, replicas, len(list.Items))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestMultiNodeNodeTargetProfileMemory: `profile node/NAME` and `memory
// node/NAME` (node 2, tainted), run at once, report that node's pods and
// host processes only: on this shared kernel their probes see node 3's
// pods too, and drop them (by the pods the API server places on node 2).
func TestMultiNodeNodeTargetProfileMemory(t *testing.T) {
	e := setup(t)
	_, n2, n3 := e.threeNodes(t)
	ns := e.namespace(t, nil)
	own := e.runPodOn(t, ns, "burner-own", n2, map[string]string{"app": "burner-own"}, "burner", ":"+burnerPort)
	other := e.runPodOn(t, ns, "burner-other", n3, map[string]string{"app": "burner-other"}, "burner", ":"+burnerPort)

	prof := e.start(t, append([]string{"profile", "node/" + n2, "--duration", "12s", "-o", "json"}, e.probeFlags(ns)...)...)
	mem := e.start(t, append([]string{"memory", "node/" + n2, "--duration", "12s", "--interval", "1s", "-o", "json"}, e.probeFlags(ns)...)...)
	prof.waitReady(t, []string{n2}, 90*time.Second)
	mem.waitReady(t, []string{n2}, 90*time.Second)
	if got := e.probeNodes(t, ns); len(got) != 1 || got[n2] != 2 {
		t.Errorf("probe pods per node %v, want two (profile, memory) on %s only", got, n2)
	}
	burnAll(t, []corev1.Pod{*own, *other}, 3*time.Second)
	for name, s := range map[string]*started{"profile": prof, "memory": mem} {
		if err := s.wait(t, 90*time.Second); err != nil {
			t.Fatalf("%s node/%s: %v\n%s", name, n2, err, s.stderr.String())
		}
	}
	got := stackSamples(t, prof.stdout.String(), map[string]string{containerID(*own): n2})
	t.Logf("profile node/%s: %d samples of its pod, %d of %s's pod", n2, got[containerID(*own)], got[containerID(*other)], n3)
	if got[containerID(*own)] == 0 {
		t.Errorf("profile node/%s: no sample of its own burning pod", n2)
	}
	if n := got[containerID(*other)]; n != 0 {
		t.Errorf("profile node/%s: %d samples of a pod on %s", n2, n, n3)
	}
	summaries := map[string]int{}
	for _, l := range lines(mem.stdout.String()) {
		var s api.MemorySummary
		if err := json.Unmarshal([]byte(l), &s); err != nil {
			t.Fatalf("not JSON: %q", l)
		}
		if s.Table == api.TableMemorySummary {
			summaries[s.PodUID]++
		}
	}
	t.Logf("memory node/%s: %d summaries of its pod, %d of %s's pod, %d of host processes", n2,
		summaries[string(own.UID)], summaries[string(other.UID)], n3, summaries[""])
	if summaries[string(own.UID)] == 0 {
		t.Errorf("memory node/%s: no summary of its own pod", n2)
	}
	if n := summaries[string(other.UID)]; n != 0 {
		t.Errorf("memory node/%s: %d summaries of a pod on %s", n2, n, n3)
	}
}
