package target

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/cli-runtime/pkg/resource"
	kfake "k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/rest/fake"
	ktesting "k8s.io/client-go/testing"
	cmdtesting "k8s.io/kubectl/pkg/cmd/testing"
	"k8s.io/kubectl/pkg/scheme"
)

func pod(ns, name, node string, phase corev1.PodPhase, labels map[string]string, containers ...string) *corev1.Pod {
	p := &corev1.Pod{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, UID: types.UID("uid-" + name), Labels: labels},
		Spec:       corev1.PodSpec{NodeName: node},
		Status:     corev1.PodStatus{Phase: phase, PodIP: "10.0.0.1"},
	}
	for _, c := range containers {
		p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: c})
		cs := corev1.ContainerStatus{Name: c}
		if phase == corev1.PodRunning {
			cs.ContainerID = "containerd://" + name + "-" + c
			cs.State.Running = &corev1.ContainerStateRunning{}
		}
		p.Status.ContainerStatuses = append(p.Status.ContainerStatuses, cs)
	}
	return p
}

func TestGroup(t *testing.T) {
	web0 := pod("shop", "web-0", "n1", corev1.PodRunning, nil, "app", "sidecar")
	web1 := pod("shop", "web-1", "n2", corev1.PodRunning, nil, "app")
	api0 := pod("shop", "api-0", "n1", corev1.PodRunning, nil, "app")
	pending := pod("shop", "web-2", "", corev1.PodPending, nil, "app")
	done := pod("shop", "job-1", "n2", corev1.PodSucceeded, nil, "app")
	crashed := pod("shop", "crash-0", "n2", corev1.PodRunning, nil, "app")
	crashed.Status.ContainerStatuses[0].State = corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}}

	t.Run("all containers, grouped by node, deduplicated", func(t *testing.T) {
		got := Group([]*corev1.Pod{web1, web0, api0, pending, done, crashed, web0}, map[string]bool{"n3": true}, "")
		want := &Set{
			Nodes: []Node{
				{Name: "n1", Pods: []Pod{
					{Namespace: "shop", Name: "api-0", UID: "uid-api-0", Workload: "pod/api-0", Node: "n1", IP: "10.0.0.1", AllContainers: true,
						Containers: []Container{{Name: "app", ID: "api-0-app"}}},
					{Namespace: "shop", Name: "web-0", UID: "uid-web-0", Workload: "pod/web-0", Node: "n1", IP: "10.0.0.1", AllContainers: true,
						Containers: []Container{{Name: "app", ID: "web-0-app"}, {Name: "sidecar", ID: "web-0-sidecar"}}},
				}},
				{Name: "n2", Pods: []Pod{
					{Namespace: "shop", Name: "web-1", UID: "uid-web-1", Workload: "pod/web-1", Node: "n2", IP: "10.0.0.1", AllContainers: true,
						Containers: []Container{{Name: "app", ID: "web-1-app"}}},
				}},
				{Name: "n3", All: true},
			},
			Skipped: []Skipped{
				{Namespace: "shop", Name: "crash-0", Reason: "no running container"},
				{Namespace: "shop", Name: "job-1", Reason: "Succeeded"},
				{Namespace: "shop", Name: "web-2", Reason: "Pending, not scheduled"},
			},
		}
		if d := cmp.Diff(want, got); d != "" {
			t.Fatalf("(-want +got):\n%s", d)
		}
		if d := cmp.Diff([]string{"api-0-app", "web-0-app", "web-0-sidecar"}, got.Nodes[0].ContainerIDs()); d != "" {
			t.Error(d)
		}
		if d := cmp.Diff([]string{"uid-api-0", "uid-web-0"}, got.Nodes[0].PodUIDs()); d != "" {
			t.Error(d)
		}
		w := got.Warning()
		if !strings.HasPrefix(w, "3 of 6 pods are not running; probing 3 (shop/crash-0: no running container") {
			t.Errorf("warning = %q", w)
		}
	})

	t.Run("-c selects one container, pods without it are skipped", func(t *testing.T) {
		got := Group([]*corev1.Pod{web0, api0}, nil, "sidecar")
		if len(got.Nodes) != 1 || len(got.Nodes[0].Pods) != 1 {
			t.Fatalf("got %+v", got)
		}
		p := got.Nodes[0].Pods[0]
		if p.AllContainers || len(p.Containers) != 1 || p.Containers[0].ID != "web-0-sidecar" {
			t.Errorf("pod = %+v", p)
		}
		if len(got.Nodes[0].PodUIDs()) != 0 {
			t.Errorf("PodUIDs with -c = %v, want none (only the container)", got.Nodes[0].PodUIDs())
		}
		if d := cmp.Diff([]Skipped{{Namespace: "shop", Name: "api-0", Reason: `no container "sidecar"`}}, got.Skipped); d != "" {
			t.Error(d)
		}
	})
}

func TestStripRuntime(t *testing.T) {
	for in, want := range map[string]string{"containerd://abc": "abc", "cri-o://x": "x", "docker://d": "d", "raw": "raw"} {
		if got := StripRuntime(in); got != want {
			t.Errorf("StripRuntime(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestFromObjectsWorkloads(t *testing.T) {
	labels := map[string]string{"app": "web"}
	client := kfake.NewClientset(
		pod("shop", "web-a", "n1", corev1.PodRunning, labels, "app"),
		pod("shop", "web-b", "n2", corev1.PodRunning, labels, "app"),
		pod("shop", "other", "n1", corev1.PodRunning, map[string]string{"app": "other"}, "app"),
		pod("dev", "web-c", "n1", corev1.PodRunning, labels, "app"),
	)
	dep := &appsv1.Deployment{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
		ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web"},
		Spec:       appsv1.DeploymentSpec{Selector: &metav1.LabelSelector{MatchLabels: labels}},
	}
	svc := &corev1.Service{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
		ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web"},
		Spec:       corev1.ServiceSpec{Selector: labels},
	}
	for _, obj := range []runtime.Object{dep, svc} {
		set, err := FromObjects(context.Background(), client, []runtime.Object{obj}, "")
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, n := range set.Nodes {
			for _, p := range n.Pods {
				got = append(got, n.Name+":"+p.Namespace+"/"+p.Name)
			}
		}
		if d := cmp.Diff([]string{"n1:shop/web-a", "n2:shop/web-b"}, got); d != "" {
			t.Errorf("%T: (-want +got):\n%s", obj, d)
		}
	}

	headless := svc.DeepCopy()
	headless.Spec.Selector = nil
	if _, err := FromObjects(context.Background(), client, []runtime.Object{headless}, ""); err == nil || !strings.Contains(err.Error(), "cannot trace service/web") {
		t.Errorf("service without selector: err = %v", err)
	}
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "c"}}
	if _, err := FromObjects(context.Background(), client, []runtime.Object{cm}, ""); err == nil || !strings.Contains(err.Error(), "cannot trace configmap/c") {
		t.Errorf("configmap: err = %v", err)
	}
	stopped := pod("shop", "web-z", "", corev1.PodPending, labels, "app")
	if _, err := FromObjects(context.Background(), client, []runtime.Object{stopped}, ""); err == nil || !strings.Contains(err.Error(), "no running target") {
		t.Errorf("only pending pods: err = %v", err)
	}
}

// TestResolveBuilder drives the real resource builder against a fake API
// server, so NAME, TYPE/NAME and node/NAME parse exactly as in kubectl.
func TestResolveBuilder(t *testing.T) {
	web := pod("shop", "web-0", "n1", corev1.PodRunning, nil, "app")
	node := &corev1.Node{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Node"}, ObjectMeta: metav1.ObjectMeta{Name: "n2"}}
	codec := scheme.Codecs.LegacyCodec(corev1.SchemeGroupVersion)
	var paths []string
	tf := cmdtesting.NewTestFactory().WithNamespace("shop")
	defer tf.Cleanup()
	tf.Client = &fake.RESTClient{
		NegotiatedSerializer: scheme.Codecs.WithoutConversion(),
		Client: fake.CreateHTTPClient(func(req *http.Request) (*http.Response, error) {
			paths = append(paths, req.URL.Path)
			var obj runtime.Object
			switch req.URL.Path {
			case "/namespaces/shop/pods/web-0":
				obj = web
			case "/nodes/n2":
				obj = node
			case "/namespaces/shop/pods":
				obj = &corev1.PodList{Items: []corev1.Pod{*web}}
			default:
				return &http.Response{StatusCode: http.StatusNotFound, Header: cmdtesting.DefaultHeader(),
					Body: cmdtesting.StringBody(`{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"NotFound","code":404}`)}, nil
			}
			return &http.Response{StatusCode: http.StatusOK, Header: cmdtesting.DefaultHeader(), Body: cmdtesting.ObjBody(codec, obj)}, nil
		}),
	}
	newBuilder := func() *resource.Builder { return tf.NewBuilder() }
	client := kfake.NewClientset()

	set, err := Resolve(context.Background(), newBuilder, client, []string{"web-0", "node/n2"}, Options{Namespace: "shop"})
	if err != nil {
		t.Fatalf("Resolve: %v (paths %v)", err, paths)
	}
	if d := cmp.Diff([]string{"n1", "n2"}, set.NodeNames()); d != "" {
		t.Errorf("nodes (-want +got):\n%s", d)
	}
	if !set.Nodes[1].All || set.Nodes[0].All {
		t.Errorf("node/n2 should be a whole-node target: %+v", set.Nodes)
	}

	set, err = Resolve(context.Background(), newBuilder, client, []string{"pod/web-0"}, Options{Namespace: "shop", Selector: "app=web"})
	if err != nil {
		t.Fatal(err)
	}
	if set.Pods() != 1 {
		t.Errorf("pod named and selected twice: %d pods, want 1", set.Pods())
	}

	if _, err := Resolve(context.Background(), newBuilder, client, nil, Options{}); err == nil || !strings.Contains(err.Error(), "no target") {
		t.Errorf("no args: err = %v", err)
	}
	if _, err := Resolve(context.Background(), newBuilder, client, []string{"pod/missing"}, Options{Namespace: "shop"}); err == nil {
		t.Error("missing pod: no error")
	}
}

// TestFromObjectsNodePods: node/NAME carries the UIDs of the pods the API
// server places on that node, asked for by field selector.
func TestFromObjectsNodePods(t *testing.T) {
	client := kfake.NewClientset()
	var asked string
	client.PrependReactor("list", "pods", func(a ktesting.Action) (bool, runtime.Object, error) {
		asked = a.(ktesting.ListAction).GetListRestrictions().Fields.String()
		on := pod("kube-system", "proxy", "n2", corev1.PodRunning, nil, "p")
		done := pod("shop", "job", "n2", corev1.PodSucceeded, nil, "j")
		return true, &corev1.PodList{Items: []corev1.Pod{*on, *done}}, nil
	})
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n2"}}
	set, err := FromObjects(context.Background(), client, []runtime.Object{node}, "")
	if err != nil {
		t.Fatal(err)
	}
	if asked != "spec.nodeName=n2" {
		t.Errorf("field selector %q, want spec.nodeName=n2", asked)
	}
	if d := cmp.Diff([]string{"uid-proxy", "uid-job"}, set.Nodes[0].NodePodUIDs); d != "" {
		t.Errorf("node pod UIDs (-want +got):\n%s", d)
	}
	client.PrependReactor("list", "pods", func(ktesting.Action) (bool, runtime.Object, error) {
		return true, nil, fmt.Errorf("forbidden")
	})
	if _, err := FromObjects(context.Background(), client, []runtime.Object{node}, ""); err == nil || !strings.Contains(err.Error(), "listing the pods of node n2") {
		t.Errorf("list refused: err = %v", err)
	}
}
