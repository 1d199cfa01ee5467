//go:build linux

package main

import (
	"context"
	"fmt"
	"os"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"

	"github.com/kubectl-pixie/kubectl-pixie/plugin/podspec"
)

const (
	webNamespace   = "fanin-web"
	probeNamespace = "pixie-probes"
)

func nodeName(i int) string { return fmt.Sprintf("fanin-node-%03d", i) }

// parallel runs f(0..n-1) on workers goroutines, returning the first error.
func parallel(n, workers int, f func(i int) error) error {
	var (
		wg    sync.WaitGroup
		once  sync.Once
		first error
	)
	next := make(chan int)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				if err := f(i); err != nil {
					once.Do(func() { first = err })
				}
			}
		}()
	}
	for i := 0; i < n; i++ {
		next <- i
	}
	close(next)
	wg.Wait()
	return first
}

// registerNodes creates nodes 0..n-1, Ready, whose kubelet is the
// simulator's one server (all at 127.0.0.1, one port).
func registerNodes(ctx context.Context, c kubernetes.Interface, n int) error {
	return parallel(n, 16, func(i int) error {
		node := &corev1.Node{
			ObjectMeta: metav1.ObjectMeta{Name: nodeName(i), Labels: map[string]string{
				"kubernetes.io/os": "linux", "kubernetes.io/hostname": nodeName(i), "pixie.dev/fanin": "true",
			}},
		}
		created, err := c.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{})
		if apierrors.IsAlreadyExists(err) {
			return nil
		}
		if err != nil {
			return err
		}
		now := metav1.Now()
		created.Status = corev1.NodeStatus{
			Conditions:      []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady", LastHeartbeatTime: now, LastTransitionTime: now}},
			Addresses:       []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "127.0.0.1"}, {Type: corev1.NodeHostName, Address: nodeName(i)}},
			DaemonEndpoints: corev1.NodeDaemonEndpoints{KubeletEndpoint: corev1.DaemonEndpoint{Port: kubeletPort}},
			NodeInfo:        corev1.NodeSystemInfo{OperatingSystem: "linux", Architecture: "amd64", KubeletVersion: "v1.34.4"},
			Capacity:        corev1.ResourceList{corev1.ResourcePods: resource.MustParse("110"), corev1.ResourceCPU: resource.MustParse("8"), corev1.ResourceMemory: resource.MustParse("32Gi")},
			Allocatable:     corev1.ResourceList{corev1.ResourcePods: resource.MustParse("110"), corev1.ResourceCPU: resource.MustParse("8"), corev1.ResourceMemory: resource.MustParse("32Gi")},
		}
		_, err = c.CoreV1().Nodes().UpdateStatus(ctx, created, metav1.UpdateOptions{})
		return err
	})
}

// ensureNamespaces creates the workload's namespace and the probe
// namespace (privileged, as the plugin would create it) with their
// default service accounts: there is no controller manager to add them.
func ensureNamespaces(ctx context.Context, c kubernetes.Interface) error {
	for _, ns := range []*corev1.Namespace{
		{ObjectMeta: metav1.ObjectMeta{Name: webNamespace}},
		{ObjectMeta: metav1.ObjectMeta{Name: probeNamespace, Labels: map[string]string{"pod-security.kubernetes.io/enforce": "privileged", "pixie.dev/probe-namespace": "true"}}},
	} {
		if _, err := c.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return err
		}
		sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default"}}
		if _, err := c.CoreV1().ServiceAccounts(ns.Name).Create(ctx, sa, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return err
		}
	}
	return nil
}

// placeTargets makes nodes 0..n-1 run one Running pod labelled app=web
// each, and no other node: the plugin then starts n probe pods.
func placeTargets(ctx context.Context, c kubernetes.Interface, n, total int) error {
	return parallel(total, 16, func(i int) error {
		name := fmt.Sprintf("web-%03d", i)
		if i >= n {
			err := c.CoreV1().Pods(webNamespace).Delete(ctx, name, metav1.DeleteOptions{GracePeriodSeconds: new(int64)})
			if apierrors.IsNotFound(err) {
				return nil
			}
			return err
		}
		p := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"app": "web"}},
			Spec: corev1.PodSpec{NodeName: nodeName(i), Containers: []corev1.Container{{Name: "web", Image: "nginx"}},
				AutomountServiceAccountToken: new(bool)},
		}
		created, err := c.CoreV1().Pods(webNamespace).Create(ctx, p, metav1.CreateOptions{})
		if apierrors.IsAlreadyExists(err) {
			return nil
		}
		if err != nil {
			return err
		}
		now := metav1.Now()
		created.Status = corev1.PodStatus{
			Phase: corev1.PodRunning, PodIP: fmt.Sprintf("10.244.%d.%d", i/250, 2+i%250), StartTime: &now,
			Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}},
			ContainerStatuses: []corev1.ContainerStatus{{Name: "web", Ready: true, Image: "nginx",
				ContainerID: fmt.Sprintf("containerd://%064x", i+1), State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: now}}}},
		}
		_, err = c.CoreV1().Pods(webNamespace).UpdateStatus(ctx, created, metav1.UpdateOptions{})
		return err
	})
}

// runProbePods is the kubelets' side of the probe pods: it starts each new
// one (status Running, and the replay of its log, kubelet.go), and removes
// the deleted ones at once, as a kubelet confirms a stopped pod. The watch
// is reopened whenever it ends (a fresh API server answers "too large
// resource version" until its cache is warm).
func runProbePods(ctx context.Context, c kubernetes.Interface, k *kubelet) {
	work := make(chan watch.Event, 1024)
	for range 16 { // kubelets work in parallel, one per node
		go func() {
			for ev := range work {
				handleProbePod(ctx, c, k, ev)
			}
		}()
	}
	go func() {
		defer close(work)
		opts := metav1.ListOptions{LabelSelector: podspec.LabelManagedBy + "=" + podspec.ManagedByValue}
		for ctx.Err() == nil {
			w, err := c.CoreV1().Pods(probeNamespace).Watch(ctx, opts)
			if err != nil {
				time.Sleep(500 * time.Millisecond)
				continue
			}
			for ev := range w.ResultChan() {
				if ev.Type == watch.Error {
					break
				}
				work <- ev
			}
			w.Stop()
		}
	}()
}

func handleProbePod(ctx context.Context, c kubernetes.Interface, k *kubelet, ev watch.Event) {
	p, ok := ev.Object.(*corev1.Pod)
	if !ok || ev.Type == watch.Deleted {
		return
	}
	if p.DeletionTimestamp != nil {
		if err := c.CoreV1().Pods(p.Namespace).Delete(ctx, p.Name, metav1.DeleteOptions{GracePeriodSeconds: new(int64)}); err != nil && !apierrors.IsNotFound(err) {
			fmt.Fprintf(os.Stderr, "fanin: removing probe pod %s: %v\n", p.Name, err)
		}
		return
	}
	if ev.Type != watch.Added || len(p.Status.ContainerStatuses) > 0 {
		return
	}
	now := metav1.Now()
	p.Status = corev1.PodStatus{
		Phase: corev1.PodRunning, StartTime: &now, PodIP: "127.0.0.1",
		Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}},
		ContainerStatuses: []corev1.ContainerStatus{{Name: podspec.ContainerName, Ready: true, Image: p.Spec.Containers[0].Image,
			ContainerID: "containerd://" + string(p.UID), State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: now}}}},
	}
	k.started(p.Name, time.Now()) // before the plugin can see it run
	if _, err := c.CoreV1().Pods(p.Namespace).UpdateStatus(ctx, p, metav1.UpdateOptions{}); err != nil {
		fmt.Fprintf(os.Stderr, "fanin: starting probe pod %s: %v\n", p.Name, err)
	}
}
