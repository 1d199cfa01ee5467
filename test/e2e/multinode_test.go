//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubectl-pixie/kubectl-pixie/probes/api"
	"github.com/kubectl-pixie/kubectl-pixie/probes/api/stats"
)

// The e2e cluster's nodes share one kernel: every probe pod sees every
// node's processes, so only the targeting keeps a node's probe on its own
// pods. These tests make that sharp.

// threeNodes returns the untainted node and two tainted ones.
func (e *env) threeNodes(t *testing.T) (n1, n2, n3 string) {
	t.Helper()
	var others []string
	for _, n := range e.nodes {
		if n != e.node {
			others = append(others, n)
		}
	}
	if len(others) < 2 {
		t.Fatalf("multi-node test needs 3 nodes, the cluster has %v (make e2e starts 3)", e.nodes)
	}
	return e.node, others[0], others[1]
}

// event is the part of an http_events record these tests check.
type event struct {
	Table     string `json:"table"`
	Node      string `json:"node"`
	TraceRole string `json:"trace_role"`
	ReqPath   string `json:"req_path"`
	PodUID    string `json:"pod_uid"`
	Service   string `json:"service"`
	Count     int    `json:"count"`
}

func events(t *testing.T, ndjson string) []event {
	t.Helper()
	var out []event
	for _, l := range lines(ndjson) {
		var ev event
		if err := json.Unmarshal([]byte(l), &ev); err != nil {
			t.Fatalf("not JSON: %q", l)
		}
		out = append(out, ev)
	}
	return out
}

// waitReady waits until the status line says every node in want is ready.
func (s *started) waitReady(t *testing.T, want []string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok := true
		for _, n := range want {
			if !nodeReadyRE(n).MatchString(s.stderr.String()) {
				ok = false
			}
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("probe pods on %v not ready after %s:\n%s", want, timeout, s.stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// spreadOn edits a deployment's pod spec so that its pods run one per node,
// on the given nodes only (tolerating the extra nodes' taint).
func spreadOn(labels map[string]string, nodes ...string) func(*corev1.PodSpec) {
	return func(s *corev1.PodSpec) {
		s.Tolerations = []corev1.Toleration{{Key: extraTaint, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}}
		s.Affinity = &corev1.Affinity{
			NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{
				NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchExpressions: []corev1.NodeSelectorRequirement{{
					Key: "kubernetes.io/hostname", Operator: corev1.NodeSelectorOpIn, Values: nodes}}}}}},
			PodAntiAffinity: &corev1.PodAntiAffinity{RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{{
				LabelSelector: &metav1.LabelSelector{MatchLabels: labels}, TopologyKey: "kubernetes.io/hostname"}}},
		}
	}
}

// tainted reports whether node has a NoSchedule taint.
func (e *env) tainted(t *testing.T, node string) bool {
	t.Helper()
	n, err := e.client.CoreV1().Nodes().Get(context.Background(), node, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, taint := range n.Spec.Taints {
		if taint.Effect == corev1.TaintEffectNoSchedule {
			return true
		}
	}
	return false
}

// probeNodes is the node of each probe pod in ns.
func (e *env) probeNodes(t *testing.T, ns string) map[string]int {
	t.Helper()
	got := map[string]int{}
	for _, p := range e.managedPods(t, ns) {
		got[p.Spec.NodeName]++
	}
	return got
}

// TestMultiNodeTraceDeployment: web's two pods run on nodes 1 and 2 (node 2
// is tainted), an untargeted copy of web on node 3. `trace deploy/web`
// starts exactly one probe pod on nodes 1 and 2 and none on node 3, and
// each request a client made is counted exactly once, by the probe of the
// server's node, per pod and in the summaries; each pod's rows have the
// percentiles of its node's records. A second trace, a row per workload,
// merges one endpoint's latencies of both nodes (the pod on node 2 answers
// 5 ms later): its percentiles are those of all the records, within the
// sketch's error. Both end with every node's final stats, nothing partial.
func TestMultiNodeTraceDeployment(t *testing.T) {
	e := setup(t)
	n1, n2, n3 := e.threeNodes(t)
	ns := e.namespace(t, nil)
	labels := map[string]string{"app": "web"}
	web := e.deploymentSpec(t, ns, "web", 2, labels, spreadOn(labels, n1, n2))
	if !e.tainted(t, n2) {
		t.Fatalf("node %s has no taint: the taint case is not tested", n2)
	}
	copyPod := e.runPodOn(t, ns, "web-copy", n3, map[string]string{"app": "web-copy"}, "serve", ":8080")
	onNode := map[string]string{}
	for _, p := range web {
		onNode[p.Spec.NodeName] = p.Name
	}
	if onNode[n1] == "" || onNode[n2] == "" {
		t.Fatalf("web's pods are not on %s and %s: %v", n1, n2, onNode)
	}

	// one summary row per pod (rows are per workload by default)
	s := e.start(t, append([]string{"trace", "deploy/web", "-n", ns, "--duration", "14s", "-o", "json", "--group-by", "pod"}, e.probeFlags(ns)...)...)
	s.waitReady(t, []string{n1, n2}, 90*time.Second)
	if got := e.probeNodes(t, ns); len(got) != 2 || got[n1] != 1 || got[n2] != 1 {
		t.Errorf("probe pods per node %v, want one on %s and one on %s, none on %s", got, n1, n2, n3)
	}
	const n = 10
	id := strings.ToLower(randID())
	paths := map[string]string{} // path -> the web pod it calls
	// clients on the other nodes: requests cross the nodes' bridges
	for i, p := range web {
		path := fmt.Sprintf("/w%d-%s", i, id)
		paths[path] = p.Name
		e.clientOn(t, ns, fmt.Sprintf("c%d-%s", i, id), n3, p.Status.PodIP, path, n, "0s")
	}
	e.clientOn(t, ns, "cc-"+id, n1, copyPod.Status.PodIP, "/copy-"+id, n, "0s")
	made := map[string]int{}
	for i := range web {
		made[fmt.Sprintf("/w%d-%s", i, id)] = e.clientDone(t, ns, fmt.Sprintf("c%d-%s", i, id))
	}
	e.clientDone(t, ns, "cc-"+id)
	if err := s.wait(t, 90*time.Second); err != nil {
		t.Fatalf("trace: %v\n%s", err, s.stderr.String())
	}

	byUID := map[string]corev1.Pod{}
	for _, p := range web {
		byUID[string(p.UID)] = p
	}
	counted := map[string]int{}
	summed := map[string]int{} // pod name -> server requests in http_summary
	for _, ev := range events(t, s.stdout.String()) {
		switch {
		case ev.Table == "http_events" && ev.TraceRole == "server":
			if ev.ReqPath == "/copy-"+id {
				t.Errorf("a request to the untargeted copy on %s was traced (node %s)", n3, ev.Node)
				continue
			}
			want, ok := paths[ev.ReqPath]
			if !ok {
				continue
			}
			counted[ev.ReqPath]++
			p, known := byUID[ev.PodUID]
			if !known || p.Name != want || p.Spec.NodeName != ev.Node {
				t.Errorf("request %s to %s reported by node %s for pod uid %s", ev.ReqPath, want, ev.Node, ev.PodUID)
			}
		case ev.Table == "http_summary" && ev.TraceRole == "server":
			summed[strings.TrimPrefix(ev.Service, ns+"/")] += ev.Count
			if ev.Node == n3 {
				t.Errorf("a summary from %s, which runs no target: %+v", n3, ev)
			}
		}
	}
	t.Logf("client counts %v, traced %v, summaries per pod %v", made, counted, summed)
	total, totalSummed := 0, 0
	for path, pod := range paths {
		if made[path] != n || counted[path] != made[path] {
			t.Errorf("%s on %s: traced %d requests, its client made %d (want %d, each once)", pod, path, counted[path], made[path], n)
		}
		if summed[pod] != made[path] {
			t.Errorf("summary of %s counts %d requests, its client made %d", pod, summed[pod], made[path])
		}
		total += made[path]
		totalSummed += summed[pod]
	}
	if totalSummed != total {
		t.Errorf("merged: summaries count %d requests, the clients made %d", totalSummed, total)
	}
	out := parseTrace(t, s.stdout.String())
	podRows := checkServerRows(t, out, func(r httpRecord) string {
		if p, ok := byUID[r.PodUID]; ok {
			return ns + "/" + p.Name
		}
		return ""
	})
	if podRows != len(web) {
		t.Errorf("%d pod rows of web checked, want one per pod (%d)", podRows, len(web))
	}
	checkComplete(t, out, s.stderr.String(), n1, n2)

	t.Run("merged across nodes", func(t *testing.T) {
		s := e.start(t, append([]string{"trace", "deploy/web", "-n", ns, "--duration", "14s", "-o", "json"}, e.probeFlags(ns)...)...)
		s.waitReady(t, []string{n1, n2}, 90*time.Second)
		const rounds = 40
		path := "/m-" + id
		e.clientURLsOn(t, ns, "cm-"+id, n3, []string{
			"http://" + web[0].Status.PodIP + ":8080" + path,
			"http://" + web[1].Status.PodIP + ":8080" + path + "?delay=5ms",
		}, rounds, "0s")
		if made := e.clientDone(t, ns, "cm-"+id); made != 2*rounds {
			t.Errorf("the client made %d of its %d requests", made, 2*rounds)
		}
		if err := s.wait(t, 90*time.Second); err != nil {
			t.Fatalf("trace: %v\n%s", err, s.stderr.String())
		}
		out := parseTrace(t, s.stdout.String())
		perNode := map[string]int{}
		unnamed := 0 // the client's requests before the watch had its IP: their rows are named late
		for _, r := range out.events {
			if r.Table == api.TableHTTPEvents && r.TraceRole == "server" && stats.Template(r.ReqPath) == stats.Template(path) {
				perNode[r.Node]++
				if r.RemotePod == "" {
					unnamed++
				}
			}
		}
		t.Logf("%d of the %d requests came before the plugin's watch had the client pod's IP", unnamed, 2*rounds)
		if perNode[n1] != rounds || perNode[n2] != rounds || len(perNode) != 2 {
			t.Errorf("records of %s per node %v, want %d on each of %s and %s", path, perNode, rounds, n1, n2)
		}
		rows := checkServerRows(t, out, func(r httpRecord) string {
			if _, ok := byUID[r.PodUID]; ok {
				return ns + "/web"
			}
			return ""
		})
		if rows != 1 {
			t.Errorf("%d rows of %s/web checked, want 1 (GET %s, both nodes merged)", rows, ns, path)
		}
		checkComplete(t, out, s.stderr.String(), n1, n2)
	})
}

// httpRecord is the part of an http_events record the percentile checks read.
type httpRecord struct {
	api.Header
	api.ConnColumns
	api.RemoteNames
	ReqMethod  string `json:"req_method"`
	ReqPath    string `json:"req_path"`
	RespStatus int    `json:"resp_status"`
}

// traceOutput is what `trace -o json` wrote: the per-request records as
// they came, then the merged summaries and the probes' stats.
type traceOutput struct {
	events    []httpRecord
	summaries []api.HTTPSummary
	probe     []api.ProbeStats
}

func parseTrace(t *testing.T, ndjson string) traceOutput {
	t.Helper()
	var out traceOutput
	for _, l := range lines(ndjson) {
		var h api.Header
		if err := json.Unmarshal([]byte(l), &h); err != nil {
			t.Fatalf("not JSON: %q", l)
		}
		var err error
		switch h.Table {
		case api.TableHTTPEvents:
			var r httpRecord
			err = json.Unmarshal([]byte(l), &r)
			out.events = append(out.events, r)
		case api.TableHTTPSummary:
			var s api.HTTPSummary
			err = json.Unmarshal([]byte(l), &s)
			out.summaries = append(out.summaries, s)
		case api.TableProbeStats:
			var p api.ProbeStats
			err = json.Unmarshal([]byte(l), &p)
			out.probe = append(out.probe, p)
		}
		if err != nil {
			t.Fatalf("%s: %v", l, err)
		}
	}
	return out
}

// rowKey is a server row's key as a record has it (the peer aside: each
// endpoint here has one caller).
type rowKey struct{ service, method, path, class string }

// checkServerRows checks the server-side http_summary rows of the services
// that service names ("namespace/name" of a record, "" for other records)
// against the records each row counts (checkSummary: exact count and max,
// percentiles within the sketch's error), and returns how many rows it
// checked. A row without records, or records without their row, fail.
func checkServerRows(t *testing.T, out traceOutput, service func(httpRecord) string) int {
	t.Helper()
	lat := map[rowKey][]int64{}
	ours := map[string]bool{}
	for _, r := range out.events {
		svc := service(r)
		if r.TraceRole != "server" || svc == "" {
			continue
		}
		ours[svc] = true
		k := rowKey{svc, r.ReqMethod, stats.Template(r.ReqPath), stats.StatusClass(r.RespStatus)}
		lat[k] = append(lat[k], r.Latency)
	}
	checked := map[rowKey]bool{}
	for _, s := range out.summaries {
		k := rowKey{s.Service, s.ReqMethod, s.ReqPath, s.StatusClass}
		if s.TraceRole != "server" || !ours[s.Service] {
			continue
		}
		if checked[k] {
			t.Errorf("two rows of %+v (peers?): the records cannot be told apart", k)
			continue
		}
		checked[k] = true
		if err := checkSummary(s, lat[k]); err != nil {
			t.Errorf("row %s %s %s %s of %d records:\n%v", k.service, k.method, k.path, k.class, len(lat[k]), err)
		} else {
			t.Logf("row %s %s %s: %d requests, p50 %s p99 %s (records: %s, %s)", k.service, k.method, k.path, s.Count,
				time.Duration(s.LatencyP50), time.Duration(s.LatencyP99),
				time.Duration(rankQuantile(lat[k], 0.5)), time.Duration(rankQuantile(lat[k], 0.99)))
		}
	}
	for k, l := range lat {
		if !checked[k] {
			t.Errorf("%d records of %+v have no summary row", len(l), k)
		}
	}
	return len(checked)
}

// checkComplete: the run ended with every node's final probe_stats and the
// merged one after them, final, and stderr calls nothing partial.
func checkComplete(t *testing.T, out traceOutput, stderr string, nodes ...string) {
	t.Helper()
	final := map[string]bool{}
	merged := 0
	for _, p := range out.probe {
		if p.Node == "" {
			merged++
			if !p.Final {
				t.Errorf("the merged probe_stats is not final (a node's last stats missing): %+v", p)
			}
			continue
		}
		final[p.Node] = p.Final
	}
	if merged != 1 {
		t.Errorf("%d merged probe_stats records, want 1", merged)
	}
	for _, n := range nodes {
		if f, ok := final[n]; !ok || !f {
			t.Errorf("node %s: final probe_stats %v (sent %v), want its final one merged", n, f, ok)
		}
	}
	if len(final) != len(nodes) {
		t.Errorf("probe_stats of nodes %v, want %v", final, nodes)
	}
	if strings.Contains(stderr, "partial") {
		t.Errorf("the run says its results are partial:\n%s", stderr)
	}
}

// TestMultiNodeNodeLost stops one node's kubelet in the middle of a run
// (its containers keep running, its log stream breaks for good): the plugin
// names the node that stopped streaming and why, keeps the other node's
// records, reports the results as partial, and still deletes every probe
// pod (forced after the grace, since that node does not answer).
func TestMultiNodeNodeLost(t *testing.T) {
	e := setup(t)
	n1, _, n3 := e.threeNodes(t)
	restart := e.restartScript(t, n3)
	ns := e.namespace(t, nil)
	srv := map[string]*corev1.Pod{
		n1: e.runPodOn(t, ns, "srv-a", n1, map[string]string{"app": "srv"}, "serve", ":8080"),
		n3: e.runPodOn(t, ns, "srv-b", n3, map[string]string{"app": "srv"}, "serve", ":8080"),
	}
	s := e.start(t, append([]string{"trace", "-l", "app=srv", "-n", ns, "--duration", "20s", "-o", "json"}, e.probeFlags(ns)...)...)
	s.waitReady(t, []string{n1, n3}, 90*time.Second)
	id := strings.ToLower(randID())
	// clients on n1, whose kubelet stays: their logs stay readable
	e.clientOn(t, ns, "cb-"+id, n1, srv[n3].Status.PodIP, "/b-"+id, 10, "0s")
	e.clientDone(t, ns, "cb-"+id)
	kubeletBack := make(chan error, 1)
	go func() {
		out, err := exec.Command("bash", restart, "45", n3).CombinedOutput()
		t.Logf("kubelet of %s stopped for 45s: %s", n3, strings.TrimSpace(string(out)))
		kubeletBack <- err
	}()
	t.Cleanup(func() {
		if err := <-kubeletBack; err != nil {
			t.Errorf("restarting the kubelet of %s: %v", n3, err)
		}
		e.waitNodeReadyNamed(t, n3, 90*time.Second)
	})
	time.Sleep(2 * time.Second)
	e.clientOn(t, ns, "ca-"+id, n1, srv[n1].Status.PodIP, "/a-"+id, 30, "0s")
	made := e.clientDone(t, ns, "ca-"+id)
	err := s.wait(t, 120*time.Second)
	stderr := s.stderr.String()
	t.Logf("trace ended: %v\n%s", err, stderr)
	if err == nil {
		t.Errorf("trace succeeded though node %s stopped streaming", n3)
	}
	for _, want := range []string{
		"node " + n3 + " stopped streaming at ",
		"the other 1 of 2 nodes were probed; results are partial",
		"force-deleted the probe pod(s) on " + n3,
	} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q", want)
		}
	}
	if strings.Contains(stderr, "node "+n1+" stopped streaming") {
		t.Errorf("node %s, whose kubelet ran, reported as lost", n1)
	}
	got := countEvents(t, s.stdout.String(), "server")
	t.Logf("server-side events by path: %v (client of %s made %d)", got, n1, made)
	if got["/a-"+id] != made || made != 30 {
		t.Errorf("the records of %s: %d of the client's %d requests (want 30)", n1, got["/a-"+id], made)
	}
	if n := len(e.managedPods(t, ns)); n != 0 {
		t.Errorf("%d probe pod(s) left after the run", n)
	}
}

// TestMultiNodeNodeTarget: `trace node/NAME` starts one probe pod, on that
// node (tainted: the probe tolerates it), its records are stamped with that
// node, and it reports that node's pods only: on this shared kernel the
// probe sees every node's processes, and the agent drops those of pods the
// API server places on other nodes.
func TestMultiNodeNodeTarget(t *testing.T) {
	e := setup(t)
	_, n2, n3 := e.threeNodes(t)
	ns := e.namespace(t, nil)
	server := e.runPodOn(t, ns, "server", n2, map[string]string{"app": "server"}, "serve", ":8080")
	other := e.runPodOn(t, ns, "server-3", n3, map[string]string{"app": "server-3"}, "serve", ":8080")
	s := e.start(t, append([]string{"trace", "node/" + n2, "--duration", "8s", "-o", "json"}, e.probeFlags(ns)...)...)
	s.waitReady(t, []string{n2}, 90*time.Second)
	if got := e.probeNodes(t, ns); len(got) != 1 || got[n2] != 1 {
		t.Errorf("probe pods per node %v, want exactly one, on %s", got, n2)
	}
	id := strings.ToLower(randID())
	e.clientOn(t, ns, "c-"+id, n2, server.Status.PodIP, "/n-"+id, 10, "0s")
	e.clientOn(t, ns, "o-"+id, n3, other.Status.PodIP, "/o-"+id, 10, "0s")
	made := e.clientDone(t, ns, "c-"+id)
	if madeOther := e.clientDone(t, ns, "o-"+id); madeOther != 10 {
		t.Errorf("the client on %s made %d of its 10 requests", n3, madeOther)
	}
	if err := s.wait(t, 60*time.Second); err != nil {
		t.Fatalf("trace: %v\n%s", err, s.stderr.String())
	}
	seen, foreign := 0, 0
	for _, ev := range events(t, s.stdout.String()) {
		if ev.Table != "http_events" {
			continue // summaries and stats are merged across nodes: no node
		}
		if ev.Node != n2 {
			t.Errorf("an event stamped with node %q from the probe of %s", ev.Node, n2)
		}
		switch {
		case ev.TraceRole == "server" && ev.ReqPath == "/n-"+id:
			seen++
		case ev.ReqPath == "/o-"+id:
			foreign++
		}
	}
	if seen != made || made != 10 {
		t.Errorf("traced %d of the %d requests to %s's server (want 10)", seen, made, n2)
	}
	if foreign != 0 {
		t.Errorf("the probe of %s reported %d requests between pods of %s (want none)", n2, foreign, n3)
	}
}
