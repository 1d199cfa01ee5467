package session

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	authnv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
	kfake "k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/kubectl-pixie/kubectl-pixie/plugin/podspec"
)

// runWithKubelet runs a session of o against client with a fake kubelet
// that starts every pod and serves records.
func runWithKubelet(t *testing.T, client *kfake.Clientset, mutate func(*Options)) (*Result, error, string) {
	t.Helper()
	k := &fakeKubelet{client: client, conns: map[string]int{}, records: 2, final: true}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go k.run(ctx, t)
	var errOut bytes.Buffer
	o := testOptions(client, k, &errOut)
	o.Targets = o.Targets[:1]
	if mutate != nil {
		mutate(&o)
	}
	res, err := Run(context.Background(), o, func(Line) {})
	return res, err, errOut.String()
}

func probePods(t *testing.T, client *kfake.Clientset, ns string) []corev1.Pod {
	t.Helper()
	l, err := client.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{LabelSelector: podspec.ManagedSelector})
	if err != nil {
		t.Fatal(err)
	}
	return l.Items
}

// A Create cut off by Ctrl-C can have created the pod on the server though
// the client saw an error: the cleanup finds it by the session's label.
func TestCleanupDeletesPodOfCutCreate(t *testing.T) {
	client := kfake.NewClientset()
	client.PrependReactor("create", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
		p := a.(k8stesting.CreateAction).GetObject().(*corev1.Pod)
		if err := client.Tracker().Create(schema.GroupVersionResource{Version: "v1", Resource: "pods"}, p, p.Namespace); err != nil {
			t.Error(err)
		}
		return true, nil, context.Canceled
	})
	_, err, _ := runWithKubelet(t, client, nil)
	if err == nil {
		t.Error("Run succeeded though the Create failed")
	}
	if left := probePods(t, client, "pixie"); len(left) != 0 {
		t.Errorf("%d probe pod(s) left behind by a cut Create: %s", len(left), left[0].Name)
	}
}

// A watch that cannot be opened is retried with backoff; the nodes start
// instead of failing at the start timeout.
func TestWatchReopensWithBackoff(t *testing.T) {
	client := kfake.NewClientset()
	var mu sync.Mutex
	fails := 0
	client.PrependWatchReactor("pods", func(a k8stesting.Action) (bool, watch.Interface, error) {
		if !strings.Contains(a.(k8stesting.WatchAction).GetWatchRestrictions().Labels.String(), podspec.LabelSession) {
			return false, nil, nil // the fake kubelet's own watch
		}
		mu.Lock()
		defer mu.Unlock()
		if fails < 3 {
			fails++
			return true, nil, errors.New("connection refused")
		}
		return false, nil, nil
	})
	res, err, errOut := runWithKubelet(t, client, func(o *Options) { o.PodRunningTimeout = 20 * time.Second })
	if err != nil {
		t.Fatalf("Run: %v\n%s", err, errOut)
	}
	if res.Failed() != 0 || res.Nodes[0].Records != 3 {
		t.Errorf("result %+v", res.Nodes)
	}
	if !strings.Contains(errOut, "warning: watching probe pods: connection refused (retrying)") {
		t.Errorf("no retry warning: %q", errOut)
	}
}

// Expired probe pods of any session are reaped by the next run.
func TestRunReapsExpiredPods(t *testing.T) {
	expired := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "pixie-trace-old", Namespace: "pixie",
		Labels:      map[string]string{podspec.LabelManagedBy: podspec.ManagedByValue, podspec.LabelSession: "old"},
		Annotations: map[string]string{podspec.AnnotationExpiry: time.Now().Add(-time.Minute).UTC().Format(time.RFC3339)}}}
	live := expired.DeepCopy()
	live.Name, live.Labels[podspec.LabelSession] = "pixie-trace-live", "live"
	live.Annotations[podspec.AnnotationExpiry] = time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	client := kfake.NewClientset(expired, live)
	_, err, errOut := runWithKubelet(t, client, nil)
	if err != nil {
		t.Fatal(err)
	}
	left := probePods(t, client, "pixie")
	if len(left) != 1 || left[0].Name != "pixie-trace-live" {
		t.Errorf("left %v, want only the live pod of the other session", left)
	}
	if !strings.Contains(errOut, "removed 1 expired probe pod(s) of earlier sessions") {
		t.Errorf("stderr %q", errOut)
	}
}

// Probe pods carry who started them (SelfSubjectReview), the command line,
// the data-access mode and the session id; the session id is printed.
func TestAuditAnnotations(t *testing.T) {
	client := kfake.NewClientset()
	client.PrependReactor("create", "selfsubjectreviews", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, &authnv1.SelfSubjectReview{Status: authnv1.SelfSubjectReviewStatus{UserInfo: authnv1.UserInfo{Username: "alice@example.com"}}}, nil
	})
	var created *corev1.Pod
	client.PrependReactor("create", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
		created = a.(k8stesting.CreateAction).GetObject().(*corev1.Pod).DeepCopy()
		return false, nil, nil
	})
	res, err, errOut := runWithKubelet(t, client, func(o *Options) {
		o.Pod.Command = CommandLine([]string{"/usr/local/bin/kubectl-pixie", "trace", "deploy/web", "--comm", "a b"})
		o.Pod.DataAccess = "restricted"
	})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		podspec.AnnotationUser:       "alice@example.com",
		podspec.AnnotationSession:    res.SessionID,
		podspec.AnnotationDataAccess: "restricted",
		podspec.AnnotationCmd:        "kubectl-pixie trace deploy/web --comm 'a b'",
	}
	for k, v := range want {
		if created.Annotations[k] != v {
			t.Errorf("annotation %s = %q, want %q", k, created.Annotations[k], v)
		}
	}
	if !strings.Contains(errOut, "session "+res.SessionID+": probe pods in namespace pixie") {
		t.Errorf("session id not printed: %q", errOut)
	}
}

func TestEnsureNamespace(t *testing.T) {
	client := kfake.NewClientset()
	if err := EnsureNamespace(context.Background(), client, "pixie-probes"); err != nil {
		t.Fatal(err)
	}
	ns, err := client.CoreV1().Namespaces().Get(context.Background(), "pixie-probes", metav1.GetOptions{})
	if err != nil || ns.Labels[LabelPodSecurity] != "privileged" || ns.Labels[LabelProbeNamespace] != "true" {
		t.Fatalf("namespace %+v, %v", ns, err)
	}

	denied := kfake.NewClientset()
	denied.PrependReactor("create", "namespaces", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewForbidden(schema.GroupResource{Resource: "namespaces"}, "pixie-probes", errors.New("no"))
	})
	err = EnsureNamespace(context.Background(), denied, "pixie-probes")
	for _, want := range []string{"kubectl create namespace pixie-probes", "kubectl label namespace pixie-probes pod-security.kubernetes.io/enforce=privileged"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("err %v does not say %q", err, want)
		}
	}
}

// --data-access full needs the probe namespace's annotation.
func TestFullDataNeedsNamespaceAnnotation(t *testing.T) {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "pixie"}}
	client := kfake.NewClientset(ns)
	_, err, _ := runWithKubelet(t, client, func(o *Options) { o.Pod.DataAccess = DataAccessFull })
	if err == nil || !strings.Contains(err.Error(), "kubectl annotate namespace pixie pixie.dev/allow-full-data-access=true") {
		t.Fatalf("err = %v", err)
	}
	if n := len(probePods(t, client, "pixie")); n != 0 {
		t.Errorf("%d pods created though full data access is not allowed", n)
	}
	ns.Annotations = map[string]string{AnnotationAllowFull: "true"}
	allowed := kfake.NewClientset(ns)
	if _, err, errOut := runWithKubelet(t, allowed, func(o *Options) { o.Pod.DataAccess = DataAccessFull }); err != nil {
		t.Fatalf("allowed namespace: %v\n%s", err, errOut)
	}
}

// Pods on a node that is not Ready are deleted at once: their kubelet
// cannot confirm a graceful stop, so they would stay Terminating.
func TestDeletePodsForcesOnDeadNode(t *testing.T) {
	node := func(name string, ready corev1.ConditionStatus) *corev1.Node {
		return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name},
			Status: corev1.NodeStatus{Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: ready}}}}
	}
	pod := func(name, node string) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "pixie"}, Spec: corev1.PodSpec{NodeName: node}}
	}
	client := kfake.NewClientset(node("alive", corev1.ConditionTrue), node("dead", corev1.ConditionUnknown), pod("a", "alive"), pod("d", "dead"))
	grace := map[string]int64{}
	client.PrependReactor("delete", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
		d := a.(k8stesting.DeleteAction)
		grace[d.GetName()] = *d.GetDeleteOptions().GracePeriodSeconds
		return false, nil, nil
	})
	failed, err := DeletePods(context.Background(), client, []PodRef{{"pixie", "a", "alive"}, {"pixie", "d", "dead"}}, 5*time.Second)
	if len(failed) > 0 || err != nil {
		t.Fatal(failed, err)
	}
	if grace["a"] != 5 || grace["d"] != 0 {
		t.Errorf("grace periods %v, want a:5 (graceful) d:0 (node not ready)", grace)
	}
}

func TestPodRunningTimeoutBounded(t *testing.T) {
	f := NewFlags()
	f.PodRunningTimeout = 2 * time.Hour
	if err := f.Validate(); err == nil || !strings.Contains(err.Error(), "at most 10m0s") {
		t.Errorf("err = %v", err)
	}
	f.PodRunningTimeout = MaxPodRunningTimeout
	if err := f.Validate(); err != nil {
		t.Error(err)
	}
}
