package peers

import (
	"context"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
)

func owned(kind, name string) []metav1.OwnerReference {
	yes := true
	return []metav1.OwnerReference{{Kind: kind, Name: name, Controller: &yes}}
}

func pod(ns, name, ip string, owners []metav1.OwnerReference) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, OwnerReferences: owners},
		Status:     corev1.PodStatus{PodIP: ip, PodIPs: []corev1.PodIP{{IP: ip}}},
	}
}

func TestLookup(t *testing.T) {
	hostNet := pod("kube-system", "proxy-x", "10.0.0.1", owned("DaemonSet", "kube-proxy"))
	hostNet.Spec.HostNetwork = true
	objs := []runtime.Object{
		&appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "api-7d9", OwnerReferences: owned("Deployment", "api")}},
		&batchv1.Job{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "report-1", OwnerReferences: owned("CronJob", "report")}},
		pod("shop", "api-7d9-x2k", "10.244.1.5", owned("ReplicaSet", "api-7d9")),
		pod("shop", "db-0", "10.244.2.7", owned("StatefulSet", "db")),
		pod("shop", "report-1-abc", "10.244.1.9", owned("Job", "report-1")),
		pod("shop", "debug", "10.244.1.10", nil),
		pod("shop", "orphan-rs-pod", "10.244.1.11", owned("ReplicaSet", "gone")),
		hostNet,
		&corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "api"}, Spec: corev1.ServiceSpec{ClusterIP: "10.96.0.20", ClusterIPs: []string{"10.96.0.20"}}},
		&corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "headless"}, Spec: corev1.ServiceSpec{ClusterIP: corev1.ClusterIPNone}},
		&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "worker-1"}, Status: corev1.NodeStatus{Addresses: []corev1.NodeAddress{
			{Type: corev1.NodeInternalIP, Address: "10.0.0.1"}, {Type: corev1.NodeHostName, Address: "worker-1"}}}},
		&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "on-loopback"}, Status: corev1.NodeStatus{Addresses: []corev1.NodeAddress{
			{Type: corev1.NodeInternalIP, Address: "127.0.0.1"}}}},
	}
	cs := fake.NewClientset(objs...)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c := New(cs)
	if err := c.Start(ctx, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	for ip, want := range map[string]Peer{
		"10.244.1.5":  {Kind: KindPod, Namespace: "shop", Name: "api-7d9-x2k", Workload: "deployment/api"},
		"10.244.2.7":  {Kind: KindPod, Namespace: "shop", Name: "db-0", Workload: "statefulset/db"},
		"10.244.1.9":  {Kind: KindPod, Namespace: "shop", Name: "report-1-abc", Workload: "cronjob/report"},
		"10.244.1.10": {Kind: KindPod, Namespace: "shop", Name: "debug", Workload: "pod/debug"},
		"10.244.1.11": {Kind: KindPod, Namespace: "shop", Name: "orphan-rs-pod", Workload: "replicaset/gone"},
		"10.96.0.20":  {Kind: KindService, Namespace: "shop", Name: "api"},
		"10.0.0.1":    {Kind: KindNode, Name: "worker-1"}, // the host-network pod's IP is its node's
	} {
		got, ok := c.Lookup(ip)
		if !ok || got != want {
			t.Errorf("Lookup(%s) = %+v, %v; want %+v", ip, got, ok, want)
		}
	}
	if p, _ := c.Lookup("10.244.1.5"); p.String() != "shop/api" {
		t.Errorf("String() = %q, want shop/api", p.String())
	}
	if p, ok := c.Lookup("192.0.2.1"); ok || p != (Peer{}) {
		t.Errorf("an unknown address named %+v", p)
	}
	// loopback is the probe's own host, whichever node it is on
	for _, ip := range []string{"127.0.0.1", "::1"} {
		if p, ok := c.Lookup(ip); ok {
			t.Errorf("loopback %s named %+v", ip, p)
		}
	}

	// A pod created later is named through the watch, with no new list.
	if _, err := cs.CoreV1().Pods("shop").Create(ctx, pod("shop", "late", "10.244.3.3", nil), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if p, ok := c.Lookup("10.244.3.3"); ok && p.Name == "late" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("a pod created after Start was not named within 10s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	lists := 0
	for _, a := range cs.Actions() {
		if a.GetVerb() == "list" && a.GetResource().Resource == "pods" {
			lists++
		}
	}
	if lists != 1 {
		t.Errorf("pods listed %d times, want 1 (then watched)", lists)
	}
}
