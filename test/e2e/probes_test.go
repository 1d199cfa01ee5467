//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubectl-pixie/kubectl-pixie/probes/api"
	"github.com/kubectl-pixie/kubectl-pixie/probes/api/vocab"
)

// deployArgs creates a one-replica deployment of the test image running
// args and returns its running pod.
func (e *env) deployArgs(t *testing.T, ns, name string, args ...string) corev1.Pod {
	t.Helper()
	one, grace := int32(1), int64(1)
	labels := map[string]string{"app": name}
	_, err := e.client.AppsV1().Deployments(ns).Create(context.Background(), &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: appsv1.DeploymentSpec{
			Replicas: &one,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{TerminationGracePeriodSeconds: &grace, Containers: []corev1.Container{e.app(args...)}},
			},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// before the namespace goes, or the controller recreates the pod
	t.Cleanup(func() {
		_ = e.client.AppsV1().Deployments(ns).Delete(context.Background(), name, metav1.DeleteOptions{})
	})
	deadline := time.Now().Add(90 * time.Second)
	for {
		list, err := e.client.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{LabelSelector: "app=" + name})
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range list.Items {
			if p.Status.Phase == corev1.PodRunning && len(p.Status.ContainerStatuses) == 1 && p.Status.ContainerStatuses[0].ContainerID != "" {
				return p
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("deployment %s: no running pod", name)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestProfileDeployment profiles a CPU-burning deployment: the function
// it spins in is named in the folded stacks, under the workload's root
// frame, and holds most samples.
func TestProfileDeployment(t *testing.T) {
	e := setup(t)
	ns := e.namespace(t, nil)
	e.deployArgs(t, ns, "burner", "burn")

	args := append([]string{"profile", "deploy/burner", "-n", ns, "--duration", "6s", "-o", "folded"}, e.probeFlags(ns)...)
	r := e.pixie(t, 2*time.Minute, args...)
	if r.err != nil {
		t.Fatalf("profile failed:\n%s", r)
	}
	var hot, total int
	for _, l := range lines(r.stdout) {
		i := strings.LastIndexByte(l, ' ')
		if i < 0 {
			t.Fatalf("folded line without a count: %q", l)
		}
		n, err := strconv.Atoi(l[i+1:])
		if err != nil {
			t.Fatalf("folded line %q: %v", l, err)
		}
		total += n
		if !strings.HasPrefix(l, ns+"/burner;testapp;") { // the workload, then the process
			t.Errorf("a stack of another process than the target: %q", l)
		}
		if strings.HasSuffix(l[:i], ";main.pixieHotSpin") {
			hot += n
		}
	}
	t.Logf("main.pixieHotSpin: %d of %d samples", hot, total)
	// the burner spins about half of each 40 ms in the function, the rest
	// is sleep (not sampled): nearly every sample is in it
	if total < 50 || hot*10 < total*8 {
		t.Fatalf("main.pixieHotSpin holds %d of %d samples, want >= 80%% of >= 50:\n%s", hot, total, r)
	}
	if !strings.Contains(r.stderr, "samples ") || !strings.Contains(r.stderr, "lost 0") {
		t.Errorf("no summary line on stderr:\n%s", r.stderr)
	}
}

// cgroupSample is the container's cgroup v1 memory usage at one time.
type cgroupSample struct {
	at    time.Time
	usage float64
}

// containerCgroup finds the container's cgroup in a v1 controller's
// hierarchy on this host (cgroupfs driver: [ROOT/]kubepods[/QOS]/pod<UID>/<container ID>;
// the e2e cluster's kubelets have the cgroup root /NODE).
func containerCgroup(t *testing.T, controller string, p corev1.Pod) string {
	t.Helper()
	id := containerID(p)
	base := "/sys/fs/cgroup/" + controller
	for _, pat := range []string{"/kubepods/pod%s/%s", "/kubepods/*/pod%s/%s", "/*/kubepods/pod%s/%s", "/*/kubepods/*/pod%s/%s"} {
		pat = base + strings.Replace(strings.Replace(pat, "%s", string(p.UID), 1), "%s", id, 1)
		if m, _ := filepath.Glob(pat); len(m) == 1 {
			return m[0]
		}
	}
	t.Fatalf("no %s cgroup of pod %s container %s under %s/[ROOT/]kubepods", controller, p.UID, id, base)
	return ""
}

// containerID is the runtime's ID of the pod's first container, without
// the "containerd://" prefix (as probe records carry it).
func containerID(p corev1.Pod) string {
	id := p.Status.ContainerStatuses[0].ContainerID
	if i := strings.Index(id, "://"); i >= 0 {
		id = id[i+3:]
	}
	return id
}

func readUint(t *testing.T, path string) float64 {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	v, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return float64(v)
}

// slope is the least-squares growth of usage in bytes per second.
func slope(s []cgroupSample) float64 {
	var sx, sy, sxx, sxy float64
	t0 := s[0].at
	for _, p := range s {
		x := p.at.Sub(t0).Seconds()
		sx, sy, sxx, sxy = sx+x, sy+p.usage, sxx+x*x, sxy+x*p.usage
	}
	n := float64(len(s))
	return (n*sxy - sx*sy) / (n*sxx - sx*sx)
}

// TestMemoryPodLeak watches a pod that leaks 2 MiB/s under a 256 MiB
// limit: the verdict is leak, and the share of the limit and the time to
// OOM agree with the container's own cgroup files on this host. With
// --alloc, the probe pod's page-fault engine names the leaking function.
func TestMemoryPodLeak(t *testing.T) {
	const rate = 2 << 20
	e := setup(t)
	ns := e.namespace(t, nil)
	grace := int64(1)
	limit := resource.MustParse("256Mi")
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "leaky", Namespace: ns},
		Spec: corev1.PodSpec{
			TerminationGracePeriodSeconds: &grace,
			Containers: []corev1.Container{{
				Name: "app", Image: e.testapp, ImagePullPolicy: pullPolicy(e.testapp),
				Args: []string{"leak", strconv.Itoa(rate)},
				Resources: corev1.ResourceRequirements{
					Requests: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("32Mi")},
					Limits:   corev1.ResourceList{corev1.ResourceMemory: limit},
				},
			}},
		},
	}
	if _, err := e.client.CoreV1().Pods(ns).Create(context.Background(), pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	p := e.waitRunning(t, ns, "leaky")
	for len(p.Status.ContainerStatuses) == 0 || p.Status.ContainerStatuses[0].ContainerID == "" {
		time.Sleep(100 * time.Millisecond)
		p = e.waitRunning(t, ns, "leaky")
	}
	cg := containerCgroup(t, "memory", *p)
	hostLimit := readUint(t, filepath.Join(cg, "memory.limit_in_bytes"))
	if hostLimit != float64(limit.Value()) {
		t.Fatalf("%s/memory.limit_in_bytes = %.0f, want the pod's limit %d", cg, hostLimit, limit.Value())
	}

	// The host's view, sampled while the probe runs.
	var (
		mu      sync.Mutex
		samples []cgroupSample
	)
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		tk := time.NewTicker(200 * time.Millisecond)
		defer tk.Stop()
		for {
			select {
			case <-stop:
				return
			case now := <-tk.C:
				b, err := os.ReadFile(filepath.Join(cg, "memory.usage_in_bytes"))
				if err != nil {
					continue
				}
				v, _ := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
				mu.Lock()
				samples = append(samples, cgroupSample{now, float64(v)})
				mu.Unlock()
			}
		}
	}()

	args := append([]string{"memory", "pod/leaky", "-n", ns, "--duration", "15s", "--interval", "500ms", "--alloc", "-o", "json"}, e.probeFlags(ns)...)
	r := e.pixie(t, 2*time.Minute, args...)
	close(stop)
	<-done
	if r.err != nil {
		t.Fatalf("memory failed:\n%s", r)
	}

	var sum *api.MemorySummary
	var top *api.AllocStack
	for _, l := range lines(r.stdout) {
		var h api.Header
		if json.Unmarshal([]byte(l), &h) == nil && h.Table == api.TableAllocStacks {
			var a api.AllocStack
			if err := json.Unmarshal([]byte(l), &a); err != nil {
				t.Fatal(err)
			}
			if a.Comm == "testapp" && a.Rank == 1 {
				top = &a
			}
			continue
		}
		if json.Unmarshal([]byte(l), &h) != nil || h.Table != api.TableMemorySummary {
			continue
		}
		var s api.MemorySummary
		if err := json.Unmarshal([]byte(l), &s); err != nil {
			t.Fatal(err)
		}
		if s.PodUID != string(p.UID) {
			t.Errorf("a summary of a process outside the target pod: %s", l)
			continue
		}
		if s.Node != e.node {
			t.Errorf("summary node %q, want %q", s.Node, e.node)
		}
		if s.Comm != "testapp" {
			// the pod's sandbox (pause) is not the user's process
			t.Errorf("a summary of %q in the pod, want only the container's testapp", s.Comm)
			continue
		}
		if sum != nil {
			t.Errorf("two summaries of testapp:\n%s", r.stdout)
		}
		sum = &s
	}
	if sum == nil {
		t.Fatalf("no memory_summary of the pod:\n%s", r)
	}
	if top == nil {
		t.Errorf("no alloc_stacks record of testapp:\n%s", r)
	} else {
		t.Logf("top stack: %d B resident of %d B faulted: %s", top.OutstandingBytes, top.AllocatedBytes, strings.Join(top.Frames, ";"))
		if top.Source != api.AllocSourceFaults || !slices.Contains(top.Frames, "main.leak") {
			t.Errorf("top stack %+v, want page-faults through main.leak", *top)
		}
		// The window is 15 s; the probe attaches within it.
		if got := float64(top.OutstandingBytes); got < 0.5*rate*15 || got > 1.2*rate*15 {
			t.Errorf("main.leak holds %.0f B, want about %d B", got, rate*15)
		}
	}
	t.Logf("summary: verdict %s (%s), growth %.0f B/s, usage %d of %d (%s) = %.2f%%, OOM in %s",
		sum.Verdict, sum.Reason, sum.GrowthBytesPerSec, sum.UsageBytes, sum.LimitBytes, sum.LimitSource,
		sum.PercentOfLimit, time.Duration(sum.TimeToOOMNs))

	if sum.Verdict != vocab.VerdictLeak {
		t.Errorf("verdict %q (%s), want leak", sum.Verdict, sum.Reason)
	}
	if sum.LimitBytes != uint64(hostLimit) {
		t.Errorf("limit %d, host cgroup says %.0f", sum.LimitBytes, hostLimit)
	}

	mu.Lock()
	defer mu.Unlock()
	if len(samples) < 20 {
		t.Fatalf("only %d host samples of %s", len(samples), cg)
	}
	// The host's usage when the agent took its last sample.
	at := time.Unix(0, sum.Time)
	near := samples[0]
	for _, s := range samples {
		if math.Abs(s.at.Sub(at).Seconds()) < math.Abs(near.at.Sub(at).Seconds()) {
			near = s
		}
	}
	// one interval of growth (the agent's last sample precedes its
	// summary) plus a MiB of slack for the runtime
	tol := float64(rate)*0.5 + 1<<20 + float64(rate)*math.Abs(near.at.Sub(at).Seconds())
	if d := math.Abs(float64(sum.UsageBytes) - near.usage); d > tol {
		t.Errorf("usage %d, host cgroup %.0f at %s: off by %.0f > %.0f", sum.UsageBytes, near.usage, near.at.Format(time.RFC3339Nano), d, tol)
	}
	hostPct := 100 * near.usage / hostLimit
	if d := math.Abs(sum.PercentOfLimit - hostPct); d > 100*tol/hostLimit {
		t.Errorf("%% of limit %.2f, host cgroup %.2f", sum.PercentOfLimit, hostPct)
	}
	hostRate := slope(samples)
	if math.Abs(hostRate-rate) > 0.15*rate {
		t.Errorf("the workload grew its cgroup by %.0f B/s, not %d: the test's premise is off", hostRate, rate)
	}
	if math.Abs(sum.GrowthBytesPerSec-hostRate) > 0.15*hostRate {
		t.Errorf("growth %.0f B/s, host cgroup %.0f B/s", sum.GrowthBytesPerSec, hostRate)
	}
	hostOOM := (hostLimit - near.usage) / hostRate
	gotOOM := time.Duration(sum.TimeToOOMNs).Seconds()
	t.Logf("host cgroup: usage %.0f of %.0f = %.2f%%, growth %.0f B/s, OOM in %.1fs", near.usage, hostLimit, hostPct, hostRate, hostOOM)
	if math.Abs(gotOOM-hostOOM) > 0.15*hostOOM {
		t.Errorf("time to OOM %.1fs, host cgroup projects %.1fs ((%.0f - %.0f) / %.0f B/s)", gotOOM, hostOOM, hostLimit, near.usage, hostRate)
	}
}
