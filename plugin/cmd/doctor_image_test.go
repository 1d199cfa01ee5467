package cmd

import (
	"bytes"
	"context"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	authv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	kfake "k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/kubectl-pixie/kubectl-pixie/internal/version"
	"github.com/kubectl-pixie/kubectl-pixie/plugin/session"
	"github.com/kubectl-pixie/kubectl-pixie/probes/api"
)

const goodDigest = "sha256:5f2b9c0e8d7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c"

func testNode(name, arch string, labels map[string]string) *corev1.Node {
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}
	n.Status.NodeInfo = corev1.NodeSystemInfo{OperatingSystem: "linux", Architecture: arch, KernelVersion: "6.18.0"}
	n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}
	return n
}

// doctorKubelet plays the kubelets of a fake cluster for doctor's image
// pods: a good image runs `pixie-agent version` and exits; a missing tag
// fails to pull, with the kubelet's events in both cases.
type doctorKubelet struct {
	client  *kfake.Clientset
	missing bool
	down    bool // the registry does not answer
	mu      sync.Mutex
	nodes   []string // where image pods were created
	images  []string // the images they ran
}

func (k *doctorKubelet) run(ctx context.Context, t *testing.T) {
	w, err := k.client.CoreV1().Pods("pixie-probes").Watch(ctx, metav1.ListOptions{})
	if err != nil {
		t.Error(err)
		return
	}
	for ev := range w.ResultChan() {
		p, ok := ev.Object.(*corev1.Pod)
		if !ok || ev.Type != watch.Added {
			continue
		}
		p = p.DeepCopy()
		k.mu.Lock()
		img := p.Spec.Containers[0].Image
		k.nodes = append(k.nodes, p.Spec.NodeName)
		k.images = append(k.images, img)
		k.mu.Unlock()
		event := func(reason, typ, msg string) {
			_, _ = k.client.CoreV1().Events("pixie-probes").Create(ctx, &corev1.Event{
				ObjectMeta:     metav1.ObjectMeta{Name: p.Name + "." + strings.ToLower(reason), Namespace: "pixie-probes"},
				InvolvedObject: corev1.ObjectReference{Kind: "Pod", Namespace: "pixie-probes", Name: p.Name},
				Reason:         reason, Type: typ, Message: msg}, metav1.CreateOptions{})
		}
		event("Pulling", corev1.EventTypeNormal, fmt.Sprintf("Pulling image %q", img))
		state := corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 0, Reason: "Completed"}}
		switch {
		case k.down:
			event("Failed", corev1.EventTypeWarning, fmt.Sprintf("Failed to pull image %q: failed to resolve reference %q: failed to do request: Head \"https://%s\": dial tcp 127.0.0.1:1: connect: connection refused", img, img, img))
			state = corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ErrImagePull", Message: "rpc error: code = Unknown"}}
		case k.missing:
			event("Failed", corev1.EventTypeWarning, fmt.Sprintf("Failed to pull image %q: rpc error: code = NotFound desc = %s: not found", img, img))
			state = corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ErrImagePull", Message: "rpc error: code = NotFound"}}
		default:
			event("Pulled", corev1.EventTypeNormal, fmt.Sprintf("Successfully pulled image %q in 1.532s (1.532s including waiting). Image size: 9123840 bytes.", img))
		}
		p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "probe", Image: img, ImageID: "registry.example.com/pixie/probe@" + goodDigest, State: state}}
		if k.missing || k.down {
			p.Status.ContainerStatuses[0].ImageID = ""
		}
		_, _ = k.client.CoreV1().Pods("pixie-probes").UpdateStatus(ctx, p, metav1.UpdateOptions{})
	}
}

func doctorClient(objs ...runtime.Object) *kfake.Clientset {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "pixie-probes", Labels: map[string]string{session.LabelPodSecurity: "privileged"}}}
	c := kfake.NewClientset(append(objs, ns)...)
	c.PrependReactor("create", "selfsubjectaccessreviews", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, &authv1.SelfSubjectAccessReview{Status: authv1.SubjectAccessReviewStatus{Allowed: true}}, nil
	})
	// The fake stores what a dry run only admits.
	c.PrependReactor("create", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
		ca := a.(k8stesting.CreateActionImpl)
		return len(ca.CreateOptions.DryRun) > 0, ca.GetObject(), nil
	})
	return c
}

func runDoctor(t *testing.T, client *kfake.Clientset, k *doctorKubelet, image string) (stdout, stderr string, err error) {
	t.Helper()
	return runDoctorWith(t, client, k, image, nil)
}

// runDoctorWith runs doctor against the fake cluster; set changes its
// options first.
func runDoctorWith(t *testing.T, client *kfake.Clientset, k *doctorKubelet, image string, set func(*DoctorOptions)) (stdout, stderr string, err error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go k.run(ctx, t)
	var out, errOut bytes.Buffer
	o := &DoctorOptions{Probe: session.NewFlags(), IOStreams: genericiooptions.IOStreams{Out: &out, ErrOut: &errOut}, client: client,
		poll: 10 * time.Millisecond,
		logs: func(context.Context, string, string) ([]byte, error) {
			return []byte(`{"table":"agent_hello","v":1,"seq":1,"agent_version":"` + version.Version + `","arch":"amd64","kernel":"6.18.0","btf":true,"attach":"ok"}` + "\n"), nil
		}}
	o.Probe.Image = image
	o.Probe.PodRunningTimeout = 10 * time.Second
	o.namespace = o.Probe.Namespace()
	if set != nil {
		set(o)
	}
	err = o.Run(ctx)
	return out.String(), errOut.String(), err
}

// A good image: one pod per distinct OS/arch (two amd64 nodes share one),
// none on the Windows node, which is refused with its reason; each row
// gives the pull time, the digest the node ran and the agent's findings;
// every pod is deleted.
func TestDoctorProvesImage(t *testing.T) {
	client := doctorClient(
		testNode("amd-1", "amd64", nil), testNode("amd-2", "amd64", nil), testNode("arm-1", "arm64", nil),
		testNode("win-1", "amd64", map[string]string{"kubernetes.io/os": "windows"}))
	deletes := 0
	client.PrependReactor("delete", "pods", func(k8stesting.Action) (bool, runtime.Object, error) { deletes++; return false, nil, nil })
	k := &doctorKubelet{client: client}
	stdout, stderr, err := runDoctor(t, client, k, version.ProbeImage)
	if err == nil || !strings.Contains(err.Error(), "1 of") {
		t.Errorf("err %v: want exactly the Windows node failed", err)
	}
	for _, re := range []string{
		`node win-1: privileged pods\s+FAIL\s+win-1 is a Windows node`,
		`node amd-1: probe image \(linux/amd64\)\s+ok\s+` + regexp.QuoteMeta(version.ProbeImage) + `, pulled in 1.5s; ran ` + goodDigest,
		`node arm-1: probe image \(linux/arm64\)\s+ok`,
		`node amd-1: probe agent\s+ok\s+` + regexp.QuoteMeta(version.Version) + ` on Linux 6.18.0 \(amd64\), BTF, BPF attach ok`,
	} {
		if !regexp.MustCompile(re).MatchString(stdout) {
			t.Errorf("doctor output does not match %q:\n%s", re, stdout)
		}
	}
	if strings.Contains(stdout, "amd-2: probe image") {
		t.Errorf("a second pod for linux/amd64:\n%s", stdout)
	}
	k.mu.Lock()
	got := strings.Join(k.nodes, ",")
	k.mu.Unlock()
	if got != "amd-1,arm-1" {
		t.Errorf("image pods on %s, want amd-1,arm-1", got)
	}
	if deletes != 2 {
		t.Errorf("%d pods deleted, want 2", deletes)
	}
	if left, _ := client.CoreV1().Pods("pixie-probes").List(context.Background(), metav1.ListOptions{}); len(left.Items) != 0 {
		t.Errorf("%d pods left", len(left.Items))
	}
	if !strings.Contains(stderr, "target pods on Linux nodes") {
		t.Errorf("no remedy for the Windows node:\n%s", stderr)
	}
}

// An image that cannot be pulled is a FAIL with the pull's cause and the
// image push remedy, and its pod is deleted too.
func TestDoctorUnpullableImageFails(t *testing.T) {
	client := doctorClient(testNode("amd-1", "amd64", nil))
	k := &doctorKubelet{client: client, missing: true}
	image := "registry.example.com/pixie/probe:v9.9.9"
	stdout, stderr, err := runDoctor(t, client, k, image)
	if err == nil {
		t.Fatalf("doctor passed with an unpullable image:\n%s", stdout)
	}
	re := `node amd-1: probe image \(linux/amd64\)\s+FAIL\s+cannot pull ` + regexp.QuoteMeta(image) + `: ErrImagePull: Failed to pull image`
	if !regexp.MustCompile(re).MatchString(stdout) {
		t.Errorf("doctor output does not match %q:\n%s", re, stdout)
	}
	if strings.Contains(stdout, "probe agent") {
		t.Errorf("an agent row for an image that never ran:\n%s", stdout)
	}
	if !strings.Contains(stderr, "kubectl pixie image push REGISTRY/REPO") {
		t.Errorf("no image push remedy:\n%s", stderr)
	}
	if left, _ := client.CoreV1().Pods("pixie-probes").List(context.Background(), metav1.ListOptions{}); len(left.Items) != 0 {
		t.Errorf("%d pods left", len(left.Items))
	}
}

// A registry that does not answer the node is a FAIL with the runtime's
// error and a remedy about reaching the registry, not about a missing tag.
func TestDoctorRegistryDownFails(t *testing.T) {
	client := doctorClient(testNode("amd-1", "amd64", nil))
	k := &doctorKubelet{client: client, down: true}
	image := "127.0.0.1:1/pixie/probe:v9.9.9"
	stdout, stderr, err := runDoctor(t, client, k, image)
	if err == nil {
		t.Fatalf("doctor passed with a registry that is down:\n%s", stdout)
	}
	re := `node amd-1: probe image \(linux/amd64\)\s+FAIL\s+cannot pull ` + regexp.QuoteMeta(image) + `: ErrImagePull: Failed to pull image .*connection refused`
	if !regexp.MustCompile(re).MatchString(stdout) {
		t.Errorf("doctor output does not match %q:\n%s", re, stdout)
	}
	if !strings.Contains(stderr, "the nodes cannot reach the registry 127.0.0.1:1: check that it is up") || !strings.Contains(stderr, "kubectl pixie image push") {
		t.Errorf("no remedy about the registry:\n%s", stderr)
	}
}

// The agent's findings decide its row: another release, no BTF, no attach.
func TestDoctorAgentCheck(t *testing.T) {
	yes, no := true, false
	cases := []struct {
		name   string
		hello  string
		btf    *bool
		attach string
		ok     bool
		remedy string
	}{
		{"same version", version.Version, &yes, "ok", true, ""},
		{"no BTF", version.Version, &no, "ok", false, "BTF"},
		{"attach denied", version.Version, &yes, "attaching to tracepoint syscalls/sys_enter_getpid: operation not permitted", false, "--profile privileged"},
	}
	for _, c := range cases {
		r := &versionRun{hello: nil}
		if c.hello != "" {
			r.hello = &api.AgentHello{AgentVersion: c.hello, Kernel: "6.1.0", Arch: "amd64", BTF: c.btf, Attach: c.attach}
		}
		got := agentCheck("n", r)
		if got.ok != c.ok || !strings.Contains(got.remedy, c.remedy) {
			t.Errorf("%s: %+v", c.name, got)
		}
	}
	if got := agentCheck("n", &versionRun{exit: 1}); got.ok || !strings.Contains(got.detail, "printed no agent version") {
		t.Errorf("no hello: %+v", got)
	}
}
