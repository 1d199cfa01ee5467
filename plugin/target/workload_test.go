package target

import (
	"context"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	kfake "k8s.io/client-go/kubernetes/fake"
)

func controlledBy(p *corev1.Pod, kind, name string) *corev1.Pod {
	yes := true
	p.OwnerReferences = []metav1.OwnerReference{{Kind: kind, Name: name, Controller: &yes}}
	return p
}

// TestFromObjectsNamesWorkloads resolves each pod's owner through the API
// (client-go's fake): ReplicaSet -> Deployment, Job -> CronJob, the others
// as they are; a ReplicaSet that cannot be read names the pod by it.
func TestFromObjectsNamesWorkloads(t *testing.T) {
	yes := true
	owner := func(kind, name string) []metav1.OwnerReference {
		return []metav1.OwnerReference{{Kind: kind, Name: name, Controller: &yes}}
	}
	pods := []*corev1.Pod{
		controlledBy(pod("shop", "api-7d9-a", "n1", corev1.PodRunning, nil, "app"), "ReplicaSet", "api-7d9"),
		controlledBy(pod("shop", "api-7d9-b", "n2", corev1.PodRunning, nil, "app"), "ReplicaSet", "api-7d9"),
		controlledBy(pod("shop", "db-0", "n1", corev1.PodRunning, nil, "app"), "StatefulSet", "db"),
		controlledBy(pod("shop", "agent-x", "n1", corev1.PodRunning, nil, "app"), "DaemonSet", "agent"),
		controlledBy(pod("shop", "report-1-q", "n2", corev1.PodRunning, nil, "app"), "Job", "report-1"),
		controlledBy(pod("shop", "once-q", "n2", corev1.PodRunning, nil, "app"), "Job", "once"),
		controlledBy(pod("shop", "lost-q", "n2", corev1.PodRunning, nil, "app"), "ReplicaSet", "lost"),
		pod("shop", "debug", "n1", corev1.PodRunning, nil, "app"),
	}
	objs := []runtime.Object{
		&appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "api-7d9", OwnerReferences: owner("Deployment", "api")}},
		&batchv1.Job{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "report-1", OwnerReferences: owner("CronJob", "report")}},
		&batchv1.Job{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "once"}},
	}
	var args []runtime.Object
	for _, p := range pods {
		objs = append(objs, p)
		args = append(args, p)
	}
	client := kfake.NewClientset(objs...)
	set, err := FromObjects(context.Background(), client, args, "")
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, n := range set.Nodes {
		for _, p := range n.Pods {
			got[p.Name] = p.Workload
		}
	}
	want := map[string]string{
		"api-7d9-a": "deployment/api", "api-7d9-b": "deployment/api", "db-0": "statefulset/db",
		"agent-x": "daemonset/agent", "report-1-q": "cronjob/report", "once-q": "job/once",
		"lost-q": "replicaset/lost", "debug": "pod/debug",
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("workloads (-want +got):\n%s", d)
	}
	gets := 0
	for _, a := range client.Actions() {
		if a.GetVerb() == "get" {
			gets++
		}
	}
	if gets != 4 { // api-7d9 once for both replicas, report-1, once, lost
		t.Errorf("%d gets of owners, want 4 (one per ReplicaSet or Job)", gets)
	}
}

func TestGroupBy(t *testing.T) {
	p := Pod{Namespace: "shop", Name: "api-7d9-a", Workload: "deployment/api"}
	for spec, want := range map[string]struct {
		g       GroupBy
		service string
	}{
		"workload":      {GroupBy{}, "shop/api"},
		"pod":           {GroupBy{Pod: true}, "shop/api-7d9-a"},
		"node":          {GroupBy{Node: true}, "shop/api"},
		"workload,node": {GroupBy{Node: true}, "shop/api"},
		" pod , node ":  {GroupBy{Pod: true, Node: true}, "shop/api-7d9-a"},
	} {
		g, err := ParseGroupBy(spec)
		if err != nil || g != want.g || g.Service(p) != want.service {
			t.Errorf("ParseGroupBy(%q) = %+v, %v, service %q; want %+v, %q", spec, g, err, g.Service(p), want.g, want.service)
		}
	}
	for spec, msg := range map[string]string{
		"namespace":    `unknown key "namespace"`,
		"workload,pod": "a workload or a pod, not both",
		"":             `unknown key ""`,
	} {
		if _, err := ParseGroupBy(spec); err == nil || !strings.Contains(err.Error(), msg) {
			t.Errorf("ParseGroupBy(%q) err = %v, want %q", spec, err, msg)
		}
	}
	if s := (GroupBy{}).Service(Pod{Namespace: "a", Name: "b"}); s != "a/b" {
		t.Errorf("a pod without a workload is named %q, want a/b", s)
	}
}
