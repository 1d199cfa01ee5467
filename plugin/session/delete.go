package session

import (
	"context"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/kubectl-pixie/kubectl-pixie/plugin/podspec"
)

// PodRef names a probe pod and the node it was pinned to.
type PodRef struct{ Namespace, Name, Node string }

// RefOf returns the PodRef of p.
func RefOf(p *corev1.Pod) PodRef {
	return PodRef{Namespace: p.Namespace, Name: p.Name, Node: p.Spec.NodeName}
}

// DeletePods deletes pods with grace, and at once (grace 0) those on a node
// that is not Ready: its kubelet cannot confirm a graceful stop, so the pod
// would stay Terminating for as long as the node is gone (the agent ends
// itself at its deadline there). The deletions run createWorkers at a
// time. It returns the pods it could not delete and the last error.
func DeletePods(ctx context.Context, c kubernetes.Interface, pods []PodRef, grace time.Duration) (failed []PodRef, lastErr error) {
	dead := goneNodes(ctx, c, pods)
	var mu sync.Mutex
	forEach(len(pods), createWorkers, func(i int) {
		p := pods[i]
		secs := int64(grace / time.Second)
		if dead[p.Node] {
			secs = 0
		}
		err := c.CoreV1().Pods(p.Namespace).Delete(ctx, p.Name, metav1.DeleteOptions{GracePeriodSeconds: &secs})
		if err != nil && !apierrors.IsNotFound(err) {
			mu.Lock()
			failed, lastErr = append(failed, p), err
			mu.Unlock()
		}
	})
	return failed, lastErr
}

// goneNodes returns the nodes of pods that do not exist or are not Ready:
// one list for many nodes (from the API server's cache), a get for a few.
// A node we may not read counts as alive: the graceful path is the safe
// default.
func goneNodes(ctx context.Context, c kubernetes.Interface, pods []PodRef) map[string]bool {
	want := map[string]bool{}
	for _, p := range pods {
		if p.Node != "" {
			want[p.Node] = true
		}
	}
	dead := map[string]bool{}
	if len(want) > listNodesAbove {
		list, err := c.CoreV1().Nodes().List(ctx, metav1.ListOptions{ResourceVersion: "0"})
		if err == nil {
			seen := map[string]bool{}
			for i := range list.Items {
				n := &list.Items[i]
				seen[n.Name] = true
				dead[n.Name] = want[n.Name] && !nodeReady(n)
			}
			for name := range want {
				dead[name] = dead[name] || !seen[name]
			}
			return dead
		}
	}
	for name := range want {
		dead[name] = nodeGone(ctx, c, name)
	}
	return dead
}

// listNodesAbove is where one list of every node beats a get per node.
const listNodesAbove = 10

// nodeGone reports whether node exists and is not Ready.
func nodeGone(ctx context.Context, c kubernetes.Interface, node string) bool {
	n, err := c.CoreV1().Nodes().Get(ctx, node, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return true
	}
	if err != nil {
		return false
	}
	return !nodeReady(n)
}

// nodeReady is false only when the node reports Ready other than True.
func nodeReady(n *corev1.Node) bool {
	for _, cond := range n.Status.Conditions {
		if cond.Type == corev1.NodeReady {
			return cond.Status == corev1.ConditionTrue
		}
	}
	return true
}

// Expired reports whether a probe pod is past the deadline recorded in its
// pixie.dev/expires annotation: its agent has ended (activeDeadlineSeconds,
// or the agent's own deadline), so deleting it loses nothing.
func Expired(p *corev1.Pod, now time.Time) bool {
	t, err := time.Parse(time.RFC3339, p.Annotations[podspec.AnnotationExpiry])
	return err == nil && now.After(t)
}

// Reap deletes the expired probe pods in namespace, of any session: the
// pods a killed plugin left behind go away at the next run of anyone
// allowed to run probes there, with no controller, TTL or extra RBAC in the
// cluster. It returns how many it deleted.
func Reap(ctx context.Context, c kubernetes.Interface, namespace string, now time.Time) (int, error) {
	list, err := c.CoreV1().Pods(namespace).List(ctx, metav1.ListOptions{LabelSelector: podspec.ManagedSelector})
	if err != nil {
		return 0, fmt.Errorf("listing probe pods: %w", err)
	}
	var expired []PodRef
	for i := range list.Items {
		if Expired(&list.Items[i], now) {
			expired = append(expired, RefOf(&list.Items[i]))
		}
	}
	failed, err := DeletePods(ctx, c, expired, time.Second)
	return len(expired) - len(failed), err
}
