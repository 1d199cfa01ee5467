//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/kubectl-pixie/kubectl-pixie/probes/api"
)

func TestDoctorPasses(t *testing.T) {
	e := setup(t)
	ns := e.namespace(t, nil)
	r := e.pixie(t, time.Minute, append([]string{"doctor"}, e.probeFlags(ns)...)...)
	if r.err != nil {
		t.Fatalf("doctor failed on the test cluster:\n%s", r)
	}
	for _, want := range []string{"rbac: create pods", "rbac: get pods/log", "node " + e.node + ": kernel", "node " + e.node + ": probe image", "probe pod admission (server dry run)"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("doctor output lacks %q:\n%s", want, r.stdout)
		}
	}
	if strings.Contains(r.stdout, "FAIL") || !strings.Contains(r.stderr, "checks passed") {
		t.Errorf("doctor:\n%s", r)
	}
}

// TestDoctorRestrictedUser impersonates a user who may only read pods in
// one namespace: the missing permissions fail, each with a remedy.
func TestDoctorRestrictedUser(t *testing.T) {
	e := setup(t)
	ns := e.namespace(t, nil)
	ctx := context.Background()
	_, err := e.client.RbacV1().Roles(ns).Create(ctx, &rbacv1.Role{
		ObjectMeta: metav1.ObjectMeta{Name: "pod-reader"},
		Rules:      []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"get", "list", "watch"}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.client.RbacV1().RoleBindings(ns).Create(ctx, &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "pod-reader"},
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: "pod-reader"},
		Subjects:   []rbacv1.Subject{{APIGroup: "rbac.authorization.k8s.io", Kind: "User", Name: "restricted"}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	r := e.pixie(t, time.Minute, append([]string{"doctor", "--as", "restricted"}, e.probeFlags(ns)...)...)
	if r.err == nil {
		t.Fatalf("doctor passed for a restricted user:\n%s", r)
	}
	for _, re := range []string{
		`rbac: create pods\s+FAIL\s+denied in namespace ` + ns,
		`rbac: delete pods\s+FAIL`,
		`rbac: get pods/log\s+FAIL`,
		`rbac: get nodes\s+FAIL\s+denied cluster-wide`,
		`rbac: get pods\s+ok`,
		`rbac: watch pods\s+ok`,
		`nodes\s+FAIL\s+cannot list nodes`,
	} {
		if !regexp.MustCompile(re).MatchString(r.stdout) {
			t.Errorf("doctor output does not match %q:\n%s", re, r.stdout)
		}
	}
	for _, want := range []string{`ask an admin for a Role in namespace ` + ns + ` granting "create" on "pods"`, "checks failed"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
		}
	}
}

// TestDryRunApplies: the YAML of --dry-run applies with kubectl, and the
// pod it creates runs the real agent to completion.
func TestDryRunApplies(t *testing.T) {
	e := setup(t)
	ns := e.namespace(t, nil)
	r := e.pixie(t, time.Minute, append([]string{"trace", "node/" + e.node, "--dry-run", "-o", "yaml", "--duration", "3s"}, e.probeFlags(ns)...)...)
	if r.err != nil {
		t.Fatalf("dry run:\n%s", r)
	}
	var pod corev1.Pod
	if err := yaml.Unmarshal([]byte(r.stdout), &pod); err != nil {
		t.Fatalf("dry-run output is not a pod: %v\n%s", err, r.stdout)
	}
	if pod.Spec.NodeName != e.node || pod.Namespace != ns || len(e.managedPods(t, "")) != 0 {
		t.Fatalf("dry run: node %q ns %q, or it created pods", pod.Spec.NodeName, pod.Namespace)
	}
	out := e.kubectlApply(t, r.stdout)
	t.Logf("kubectl apply: %s", strings.TrimSpace(out))
	deadline := time.Now().Add(90 * time.Second)
	for {
		p, err := e.client.CoreV1().Pods(ns).Get(context.Background(), pod.Name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if p.Status.Phase == corev1.PodSucceeded {
			break
		}
		if p.Status.Phase == corev1.PodFailed || time.Now().After(deadline) {
			t.Fatalf("applied probe pod: phase %s\n%s", p.Status.Phase, e.podLogs(t, ns, pod.Name))
		}
		time.Sleep(200 * time.Millisecond)
	}
	logs := e.podLogs(t, ns, pod.Name)
	if !strings.Contains(logs, `"table":"probe_stats"`) {
		t.Errorf("the agent did not write its final stats:\n%s", logs)
	}
	r = e.pixie(t, time.Minute, "cleanup", "--probe-namespace", ns)
	if r.err != nil || !strings.Contains(r.stdout, "pod/"+pod.Name+" deleted") {
		t.Fatalf("cleanup:\n%s", r)
	}
}

type record struct {
	api.Header
	ReqPath string `json:"req_path"`
}

// TestTracePodStreams traces a server pod with the real agent: the probe
// pod starts on the node, records stream back stamped with the node, every
// request of a client inside the window is traced once and counted once in
// the summaries, and the pod is gone afterwards.
func TestTracePodStreams(t *testing.T) {
	e := setup(t)
	r := e.traceServerExactly(t)
	m := nodeReadyRE(e.node).FindStringSubmatch(r.stderr)
	if m == nil {
		t.Errorf("no status line on stderr:\n%s", r.stderr)
	} else {
		t.Logf("TIMING probe pod create -> running: %ss; whole run %.1fs", m[1], r.dur.Seconds())
	}
}

// traceServerExactly traces pod/server (with extra flags) while a client
// pod makes 10 requests inside the window: exactly those are traced, once
// each, stamped with the node, and the server's summaries count 10.
func (e *env) traceServerExactly(t *testing.T, extra ...string) result {
	t.Helper()
	const n = 10
	ns := e.namespace(t, nil)
	server := e.runPod(t, ns, "server", map[string]string{"app": "server"}, "serve", ":8080")
	args := append([]string{"trace", "pod/server", "-n", ns, "--duration", "12s", "-o", "json"}, extra...)
	s := e.start(t, append(args, e.probeFlags(ns)...)...)
	s.waitReady(t, []string{e.node}, 90*time.Second)
	id := strings.ToLower(randID())
	e.client1(t, ns, "c-"+id, server.Status.PodIP, "/traced-"+id, n, "0s")
	made := e.clientDone(t, ns, "c-"+id)
	err := s.wait(t, 90*time.Second)
	r := result{stdout: s.stdout.String(), stderr: s.stderr.String(), err: err}
	if err != nil {
		t.Fatalf("trace %s:\n%s", strings.Join(extra, " "), r)
	}
	tables := map[string]int{}
	traced, summed := 0, 0
	for _, l := range lines(r.stdout) {
		var rec struct {
			record
			TraceRole string `json:"trace_role"`
			Count     int    `json:"count"`
		}
		if err := json.Unmarshal([]byte(l), &rec); err != nil {
			t.Fatalf("stdout line is not JSON: %q", l)
		}
		tables[rec.Table]++
		switch {
		case rec.Table == api.TableHTTPEvents:
			if rec.Node != e.node {
				t.Errorf("record without its node: %s", l)
			}
			if rec.ReqPath == "/traced-"+id && rec.TraceRole == "server" {
				traced++
			}
		case rec.Table == api.TableHTTPSummary && rec.TraceRole == "server":
			summed += rec.Count
		}
	}
	t.Logf("records by table: %v; the client made %d requests, %d traced, summaries count %d", tables, made, traced, summed)
	if made != n || traced != n || summed != n {
		t.Errorf("the client made %d of %d requests; traced %d, summaries count %d (want each exactly %d)", made, n, traced, summed, n)
	}
	if tables[api.TableProbeStats] == 0 {
		t.Errorf("no probe_stats footer streamed:\n%s", r)
	}
	return r
}

// TestInterruptLeavesNoPod: SIGINT in the middle of a run stops it, and the
// probe pod is deleted (the post-condition checks there is none left).
func TestInterruptLeavesNoPod(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			e := setup(t)
			ns := e.namespace(t, nil)
			s := e.start(t, append([]string{"trace", "node/" + e.node, "--duration", "5m", "-o", "json"}, e.probeFlags(ns)...)...)
			s.waitStderr(t, " ready (", 90*time.Second)
			if n := len(e.managedPods(t, ns)); n != 1 {
				t.Fatalf("%d probe pods while running, want 1", n)
			}
			time.Sleep(time.Second)
			start := time.Now()
			_ = s.cmd.Process.Signal(sig)
			time.Sleep(100 * time.Millisecond)
			_ = s.cmd.Process.Signal(sig) // a second signal must not skip the cleanup
			err := s.wait(t, 30*time.Second)
			t.Logf("exit after %s: %v", time.Since(start).Round(time.Millisecond), err)
			if strings.Contains(s.stderr.String(), "kubectl delete pod") {
				t.Errorf("cleanup failed:\n%s", s.stderr.String())
			}
			if !strings.Contains(s.stdout.String(), `"table":"probe_stats"`) {
				t.Errorf("no final probe_stats after %s:\nstdout: %s\nstderr: %s", sig, s.stdout.String(), s.stderr.String())
			}
		})
	}
}

// TestKillThenCleanup: a plugin killed with SIGKILL leaves its pod, which
// `cleanup -A` deletes.
func TestKillThenCleanup(t *testing.T) {
	e := setup(t)
	ns := e.namespace(t, nil)
	s := e.start(t, append([]string{"trace", "node/" + e.node, "--duration", "5m", "-o", "json"}, e.probeFlags(ns)...)...)
	s.waitStderr(t, " ready (", 90*time.Second)
	_ = s.cmd.Process.Kill()
	_ = s.wait(t, 10*time.Second)
	left := e.managedPods(t, ns)
	if len(left) != 1 {
		t.Fatalf("%d probe pods after SIGKILL, want 1 (left behind)", len(left))
	}
	if left[0].Spec.ActiveDeadlineSeconds == nil || *left[0].Spec.ActiveDeadlineSeconds < 300 {
		t.Errorf("left-behind pod has no deadline backstop: %v", left[0].Spec.ActiveDeadlineSeconds)
	}
	r := e.pixie(t, 2*time.Minute, "cleanup", "-A")
	if r.err != nil || !strings.Contains(r.stdout, left[0].Name+" deleted") {
		t.Fatalf("cleanup -A:\n%s", r)
	}
	if n := len(e.managedPods(t, "")); n != 0 {
		t.Errorf("%d probe pods after cleanup --wait", n)
	}
	r = e.pixie(t, time.Minute, "cleanup", "-A")
	if r.err != nil || !strings.Contains(r.stderr, "no probe pods in any namespace") {
		t.Errorf("second cleanup:\n%s", r)
	}
}

// TestPodSecurityRejection: a namespace enforcing "baseline" rejects the
// probe pod, and the error names the namespace, the level and the remedy.
func TestPodSecurityRejection(t *testing.T) {
	e := setup(t)
	ns := e.namespace(t, map[string]string{"pod-security.kubernetes.io/enforce": "baseline"})
	r := e.pixie(t, time.Minute, append([]string{"trace", "node/" + e.node, "--duration", "5s"}, e.probeFlags(ns)...)...)
	if r.err == nil {
		t.Fatalf("trace passed in a baseline namespace:\n%s", r)
	}
	for _, want := range []string{
		fmt.Sprintf(`Pod Security "baseline" in namespace %q forbids privileged probe pods`, ns),
		"kubectl label ns " + ns + " pod-security.kubernetes.io/enforce=privileged",
	} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
		}
	}
	d := e.pixie(t, time.Minute, append([]string{"doctor"}, e.probeFlags(ns)...)...)
	if d.err == nil || !regexp.MustCompile(`pod security: namespace `+ns+`\s+FAIL\s+enforce=baseline`).MatchString(d.stdout) {
		t.Errorf("doctor in a baseline namespace:\n%s", d)
	}
}

// TestImageNotPresent: an image missing on the node with pull policy Never
// fails at once with the reason, and the pod is deleted.
func TestImageNotPresent(t *testing.T) {
	e := setup(t)
	ns := e.namespace(t, nil)
	start := time.Now()
	r := e.pixie(t, time.Minute, "trace", "node/"+e.node, "--duration", "30s", "--probe-namespace", ns,
		"--image", "localhost/kubectl-pixie/absent:v0", "--image-pull-policy", "Never")
	if r.err == nil {
		t.Fatalf("trace passed without its image:\n%s", r)
	}
	want := "probe image localhost/kubectl-pixie/absent:v0 is not present on node " + e.node
	if !strings.Contains(r.stderr, want) {
		t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
	}
	if d := time.Since(start); d > 20*time.Second {
		t.Errorf("took %s to report a missing image", d)
	}
}

// TestMinimalProfile runs the real trace with the minimal capability set:
// every request is traced once, as with the default profile. (profile and
// memory run with it in TestMultiNodeProfile and TestMultiNodeMemory.)
func TestMinimalProfile(t *testing.T) {
	e := setup(t)
	e.traceServerExactly(t, "--profile", "minimal")
}

// TestTargets resolves a 2-replica deployment and a label selector through
// the real API server, and checks the container IDs and pod UIDs the probe
// pod is given (from --dry-run).
func TestTargets(t *testing.T) {
	e := setup(t)
	ns := e.namespace(t, nil)
	replicas := int32(2)
	labels := map[string]string{"app": "web", "tier": "backend"}
	grace := int64(1)
	_, err := e.client.AppsV1().Deployments(ns).Create(context.Background(), &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{TerminationGracePeriodSeconds: &grace, Containers: []corev1.Container{e.app("serve", ":8080")}},
			},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// deployments first: their pods would be recreated while the namespace goes
	t.Cleanup(func() {
		_ = e.client.AppsV1().Deployments(ns).Delete(context.Background(), "web", metav1.DeleteOptions{})
	})
	other := e.runPod(t, ns, "other", map[string]string{"app": "other"}, "serve", ":8080")
	var pods []corev1.Pod
	deadline := time.Now().Add(90 * time.Second)
	for {
		list, err := e.client.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{LabelSelector: "app=web"})
		if err != nil {
			t.Fatal(err)
		}
		running := 0
		for _, p := range list.Items {
			if p.Status.Phase == corev1.PodRunning && len(p.Status.ContainerStatuses) == 1 && p.Status.ContainerStatuses[0].ContainerID != "" {
				running++
			}
		}
		if running == 2 {
			pods = list.Items
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("deployment pods not running: %+v", list.Items)
		}
		time.Sleep(200 * time.Millisecond)
	}
	wantIDs := map[string]bool{}
	wantUIDs := map[string]bool{}
	for _, p := range pods {
		wantIDs[strings.TrimPrefix(p.Status.ContainerStatuses[0].ContainerID, "containerd://")] = true
		wantUIDs[string(p.UID)] = true
	}
	for _, args := range [][]string{
		{"deploy/web"},
		{"-l", "tier=backend"},
		{"-l", "tier=backend", "-A"},
		{pods[0].Name, "pod/" + pods[1].Name},
		{"svc/none", "deploy/web"}, // svc/none does not exist: an error
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			full := append(append([]string{"trace"}, args...), "-n", ns, "--dry-run", "-o", "yaml")
			r := e.pixie(t, time.Minute, append(full, e.probeFlags(ns)...)...)
			if args[0] == "svc/none" {
				if r.err == nil || !strings.Contains(r.stderr, `"none" not found`) {
					t.Errorf("missing service:\n%s", r)
				}
				return
			}
			if r.err != nil {
				t.Fatalf("%s", r)
			}
			var pod corev1.Pod
			if err := yaml.Unmarshal([]byte(r.stdout), &pod); err != nil {
				t.Fatal(err)
			}
			a := pod.Spec.Containers[0].Args
			if len(a) != 3 || a[0] != "trace" || a[1] != "--config" {
				t.Fatalf("agent args %q", a)
			}
			var cfg api.TraceConfig
			if err := json.Unmarshal([]byte(a[2]), &cfg); err != nil {
				t.Fatal(err)
			}
			if cfg.All || len(cfg.ContainerIDs) != 2 || len(cfg.PodUIDs) != 2 {
				t.Fatalf("config targets: all=%v ids=%v uids=%v", cfg.All, cfg.ContainerIDs, cfg.PodUIDs)
			}
			for _, id := range cfg.ContainerIDs {
				if !wantIDs[id] {
					t.Errorf("container id %s is not a web pod's (other: %s)", id, other.Status.ContainerStatuses[0].ContainerID)
				}
			}
			for _, uid := range cfg.PodUIDs {
				if !wantUIDs[uid] {
					t.Errorf("pod uid %s is not a web pod's", uid)
				}
			}
		})
	}
}
