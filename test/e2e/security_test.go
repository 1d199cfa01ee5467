//go:build e2e

package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/kubectl-pixie/kubectl-pixie/plugin/podspec"
	"github.com/kubectl-pixie/kubectl-pixie/plugin/session"
)

// The default probe namespace is a dedicated one, created privileged; full
// data access there needs the admin's annotation; and a second agent
// started in a running probe pod with `kubectl exec` is refused: the agent
// takes its configuration once, from the pod spec.
func TestProbePodAsATarget(t *testing.T) {
	e := setup(t)
	ns := session.DefaultNamespace
	grace := int64(0)
	_ = e.client.CoreV1().Namespaces().Delete(context.Background(), ns, metav1.DeleteOptions{GracePeriodSeconds: &grace})
	e.waitNamespaceGone(t, ns)
	t.Cleanup(func() {
		_ = e.client.CoreV1().Namespaces().Delete(context.Background(), ns, metav1.DeleteOptions{GracePeriodSeconds: &grace})
	})
	flags := []string{"--image", e.image, "--image-pull-policy", string(pullPolicy(e.image))}

	r := e.pixie(t, time.Minute, append([]string{"trace", "node/" + e.node, "--duration", "3s", "--data-access", "full"}, flags...)...)
	if r.err == nil || !strings.Contains(r.stderr, "kubectl annotate namespace pixie-probes pixie.dev/allow-full-data-access=true") {
		t.Fatalf("full data access without the namespace's annotation:\n%s", r)
	}
	if n := len(e.managedPods(t, "")); n != 0 {
		t.Fatalf("%d probe pods created though full data access was refused", n)
	}
	got, err := e.client.CoreV1().Namespaces().Get(context.Background(), ns, metav1.GetOptions{})
	if err != nil || got.Labels["pod-security.kubernetes.io/enforce"] != "privileged" {
		t.Fatalf("namespace %s not created privileged: %v %v", ns, err, got.Labels)
	}

	s := e.start(t, append([]string{"trace", "node/" + e.node, "--duration", "60s", "-o", "json"}, flags...)...)
	s.waitStderr(t, " ready (", 90*time.Second)
	pods := e.managedPods(t, ns)
	if len(pods) != 1 {
		t.Fatalf("want one probe pod in %s, got %d", ns, len(pods))
	}
	p := pods[0]
	for _, k := range []string{podspec.AnnotationUser, podspec.AnnotationCmd, podspec.AnnotationSession, podspec.AnnotationDataAccess} {
		if p.Annotations[k] == "" {
			t.Errorf("probe pod lacks the audit annotation %s: %v", k, p.Annotations)
		}
	}
	if p.Annotations[podspec.AnnotationDataAccess] != "restricted" {
		t.Errorf("data-access annotation %q, want restricted", p.Annotations[podspec.AnnotationDataAccess])
	}
	out, err := exec.Command(e.kubectl, "exec", "-n", ns, p.Name, "-c", podspec.ContainerName, "--",
		podspec.AgentPath, "trace", "--config", `{"all":true,"data_access":"full","duration_ns":5000000000}`).CombinedOutput()
	t.Logf("kubectl exec: err=%v\n%s", err, out)
	if err == nil || !strings.Contains(string(out), "an agent already runs in this probe pod") {
		t.Errorf("a second agent in the probe pod was not refused (err %v):\n%s", err, out)
	}
	if strings.Contains(string(out), `"table":"http_stats"`) {
		t.Errorf("the exec'd agent traced:\n%s", out)
	}
	list := e.pixie(t, time.Minute, "sessions")
	if !strings.Contains(list.stdout, p.Labels[podspec.LabelSession]) || !strings.Contains(list.stdout, p.Annotations[podspec.AnnotationUser]) {
		t.Errorf("sessions does not list the running session:\n%s", list)
	}
	_ = s.cmd.Process.Signal(os.Interrupt)
	if err := s.wait(t, 60*time.Second); err != nil {
		t.Logf("trace after Ctrl-C: %v", err)
	}
}

// The agent ends itself at its own deadline (PIXIE_DEADLINE_SECONDS, the
// pod's activeDeadlineSeconds), which matters when the kubelet that would
// enforce activeDeadlineSeconds is gone. Here the deadline is set shorter
// than the window so it, not the window, ends the agent.
func TestAgentEndsAtItsOwnDeadline(t *testing.T) {
	e := setup(t)
	ns := e.namespace(t, nil)
	r := e.pixie(t, time.Minute, append([]string{"trace", "node/" + e.node, "--dry-run", "-o", "yaml", "--duration", "5m"}, e.probeFlags(ns)...)...)
	if r.err != nil {
		t.Fatalf("dry run:\n%s", r)
	}
	var pod corev1.Pod
	if err := yaml.Unmarshal([]byte(r.stdout), &pod); err != nil {
		t.Fatal(err)
	}
	env := pod.Spec.Containers[0].Env
	for i := range env {
		if env[i].Name == "PIXIE_DEADLINE_SECONDS" {
			env[i].Value = "8"
		}
	}
	created, err := e.client.CoreV1().Pods(ns).Create(context.Background(), &pod, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	for {
		p, err := e.client.CoreV1().Pods(ns).Get(context.Background(), created.Name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if cs := p.Status.ContainerStatuses; len(cs) > 0 && cs[0].State.Terminated != nil {
			term := cs[0].State.Terminated
			t.Logf("agent ended after %s with exit code %d", time.Since(start).Round(time.Second), term.ExitCode)
			if term.ExitCode != 124 {
				t.Errorf("exit code %d (%s: %s), want 124 (its own deadline)\n%s", term.ExitCode, term.Reason, term.Message, e.podLogs(t, ns, created.Name))
			}
			break
		}
		if time.Since(start) > 90*time.Second {
			t.Fatalf("the agent still runs after 90s though its deadline is 8s")
		}
		time.Sleep(500 * time.Millisecond)
	}
	r = e.pixie(t, time.Minute, "cleanup", "--probe-namespace", ns)
	if r.err != nil || !strings.Contains(r.stdout, "pod/"+created.Name+" deleted") {
		t.Fatalf("cleanup of the finished pod:\n%s", r)
	}
}

// With the kubelet stopped in the middle of a run the plugin still ends,
// the agent on the node ends by itself, and once the node is NotReady
// `cleanup` deletes the pod that would otherwise stay Terminating.
func TestKubeletStoppedDuringRun(t *testing.T) {
	e := setup(t)
	restart := e.restartScript(t, e.node)
	ns := e.namespace(t, nil)
	s := e.start(t, append([]string{"trace", "node/" + e.node, "--duration", "15s", "-o", "json"}, e.probeFlags(ns)...)...)
	s.waitStderr(t, " ready (", 90*time.Second)
	pods := e.managedPods(t, ns)
	if len(pods) != 1 {
		t.Fatalf("want one probe pod, got %d", len(pods))
	}
	uid := string(pods[0].UID)
	kubeletBack := make(chan error, 1)
	go func() {
		out, err := exec.Command("bash", restart, "100", e.node).CombinedOutput()
		t.Logf("kubelet stopped for 100s: %s", strings.TrimSpace(string(out)))
		kubeletBack <- err
	}()
	stopped := time.Now()
	if err := s.wait(t, 120*time.Second); err != nil {
		t.Logf("trace with the kubelet gone: %v", err)
	}
	t.Logf("plugin ended %s after the kubelet stopped", time.Since(stopped).Round(time.Second))
	for agentRuns(uid) {
		if time.Since(stopped) > 60*time.Second {
			t.Fatalf("the agent of pod UID %s still runs 60s after the kubelet stopped", uid)
		}
		time.Sleep(time.Second)
	}
	t.Logf("agent gone %s after the kubelet stopped", time.Since(stopped).Round(time.Second))
	e.waitNodeNotReady(t, 90*time.Second)
	t.Logf("node NotReady %s after the kubelet stopped", time.Since(stopped).Round(time.Second))
	r := e.pixie(t, time.Minute, "cleanup", "--probe-namespace", ns, "--timeout", "20s")
	if r.err != nil {
		t.Errorf("cleanup with the node NotReady:\n%s", r)
	}
	select {
	case <-kubeletBack:
		t.Errorf("the kubelet came back before the check: the pod may have been deleted by it")
	default:
	}
	if n := len(e.managedPods(t, ns)); n != 0 {
		t.Errorf("%d probe pod(s) left on the NotReady node", n)
	}
	if err := <-kubeletBack; err != nil {
		t.Fatalf("restarting the kubelet: %v", err)
	}
	e.waitNodeReady(t, 90*time.Second)
}

// agentRuns reports whether a pixie-agent of the probe pod with uid runs
// on this machine (the e2e cluster's only node).
func agentRuns(uid string) bool {
	procs, _ := filepath.Glob("/proc/[0-9]*/environ")
	for _, f := range procs {
		b, err := os.ReadFile(f)
		if err == nil && strings.Contains(string(b), "PIXIE_POD_UID="+uid+"\x00") {
			return true
		}
	}
	return false
}

func (e *env) nodeReady(t *testing.T) bool {
	t.Helper()
	return e.nodeReadyNamed(t, e.node)
}

func (e *env) nodeReadyNamed(t *testing.T, node string) bool {
	t.Helper()
	n, err := e.client.CoreV1().Nodes().Get(context.Background(), node, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func (e *env) waitNodeNotReady(t *testing.T, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for e.nodeReady(t) {
		if time.Now().After(deadline) {
			t.Fatalf("node %s still Ready %s after its kubelet stopped", e.node, timeout)
		}
		time.Sleep(time.Second)
	}
}

func (e *env) waitNodeReady(t *testing.T, timeout time.Duration) {
	t.Helper()
	e.waitNodeReadyNamed(t, e.node, timeout)
}

func (e *env) waitNodeReadyNamed(t *testing.T, node string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !e.nodeReadyNamed(t, node) {
		if time.Now().After(deadline) {
			t.Fatalf("node %s not Ready %s after its kubelet restarted", node, timeout)
		}
		time.Sleep(time.Second)
	}
}

func (e *env) waitNamespaceGone(t *testing.T, name string) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for {
		_, err := e.client.CoreV1().Namespaces().Get(context.Background(), name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("namespace %s still exists", name)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// The admission policy of examples/security holds every pod in a probe
// namespace to the data-access cap, including pods the plugin did not
// create (an edited --dry-run -o yaml).
func TestDataAccessAdmissionPolicy(t *testing.T) {
	e := setup(t)
	policy, _ := filepath.Abs("../../examples/security/data-access-policy.yaml")
	manifests, err := os.ReadFile(policy)
	if err != nil {
		t.Fatal(err)
	}
	e.kubectlApply(t, string(manifests))
	t.Cleanup(func() {
		_ = exec.Command(e.kubectl, "delete", "--ignore-not-found", "-f", policy).Run()
	})
	ns := e.namespace(t, map[string]string{session.LabelProbeNamespace: "true"})
	r := e.pixie(t, time.Minute, append([]string{"trace", "node/" + e.node, "--dry-run", "-o", "yaml", "--duration", "5s", "--data-access", "full"}, e.probeFlags(ns)...)...)
	if r.err != nil {
		t.Fatalf("dry run:\n%s", r)
	}
	var pod corev1.Pod
	if err := yaml.Unmarshal([]byte(r.stdout), &pod); err != nil {
		t.Fatal(err)
	}
	if pod.Annotations[podspec.AnnotationDataAccess] != "full" {
		t.Fatalf("dry-run pod annotation %q, want full", pod.Annotations[podspec.AnnotationDataAccess])
	}
	create := func(p *corev1.Pod) error {
		_, err := e.client.CoreV1().Pods(ns).Create(context.Background(), p, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		return err
	}
	// the policy takes effect within seconds of its creation
	deadline := time.Now().Add(60 * time.Second)
	for {
		err := create(pod.DeepCopy())
		if err != nil && strings.Contains(err.Error(), "full data access is not allowed in namespace "+ns) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a full-data-access pod was not denied in %s: %v", ns, err)
		}
		time.Sleep(time.Second)
	}
	forged := pod.DeepCopy()
	forged.Annotations[podspec.AnnotationDataAccess] = "restricted"
	for i := range forged.Spec.Containers[0].Env {
		if env := &forged.Spec.Containers[0].Env[i]; env.Name == "PIXIE_DATA_ACCESS" {
			env.ValueFrom, env.Value = nil, "full"
		}
	}
	if err := create(forged); err == nil || !strings.Contains(err.Error(), "PIXIE_DATA_ACCESS must come from the pod's pixie.dev/data-access annotation") {
		t.Errorf("a pod with a literal PIXIE_DATA_ACCESS=full was not denied: %v", err)
	}
	nsObj, err := e.client.CoreV1().Namespaces().Get(context.Background(), ns, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	nsObj.Annotations = map[string]string{session.AnnotationAllowFull: "true"}
	if _, err := e.client.CoreV1().Namespaces().Update(context.Background(), nsObj, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	deadline = time.Now().Add(30 * time.Second)
	for err := create(pod.DeepCopy()); err != nil; err = create(pod.DeepCopy()) {
		if time.Now().After(deadline) {
			t.Fatalf("full data access still denied in a namespace that allows it: %v", err)
		}
		time.Sleep(time.Second)
	}
}

// allowFullData annotates ns so probes there may run with --data-access full.
func (e *env) allowFullData(t *testing.T, ns string) {
	t.Helper()
	n, err := e.client.CoreV1().Namespaces().Get(context.Background(), ns, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if n.Annotations == nil {
		n.Annotations = map[string]string{}
	}
	n.Annotations[session.AnnotationAllowFull] = "true"
	if _, err := e.client.CoreV1().Namespaces().Update(context.Background(), n, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}
