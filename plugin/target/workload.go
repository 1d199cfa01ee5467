package target

import (
	"context"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// ControllerOf returns the controller of the ReplicaSet or Job
// namespace/name (kind "ReplicaSet" or "Job"), nil when it has none or is
// unknown.
type ControllerOf func(kind, namespace, name string) *metav1.OwnerReference

// Workload names the workload that owns pod p as "kind/name": a
// Deployment through its ReplicaSet, a CronJob through its Job, a
// StatefulSet, DaemonSet, Job or bare ReplicaSet, or "pod/NAME" for a
// pod without a controller. up follows one level (nil: do not follow).
func Workload(p *corev1.Pod, up ControllerOf) string {
	ref := metav1.GetControllerOf(p)
	if ref == nil {
		return "pod/" + p.Name
	}
	if (ref.Kind == "ReplicaSet" || ref.Kind == "Job") && up != nil {
		if top := up(ref.Kind, p.Namespace, ref.Name); top != nil && (top.Kind == "Deployment" || top.Kind == "CronJob") {
			return strings.ToLower(top.Kind) + "/" + top.Name
		}
	}
	return strings.ToLower(ref.Kind) + "/" + ref.Name
}

// WorkloadName is the name part of a "kind/name" workload.
func WorkloadName(w string) string {
	_, name, ok := strings.Cut(w, "/")
	if !ok {
		return w
	}
	return name
}

// apiControllerOf looks ReplicaSets and Jobs up with client, once each. A
// lookup that fails (no RBAC to get them, deleted) names the pod by its
// direct controller: a name, never an error.
func apiControllerOf(ctx context.Context, client kubernetes.Interface) ControllerOf {
	seen := map[string]*metav1.OwnerReference{}
	return func(kind, ns, name string) *metav1.OwnerReference {
		key := kind + "/" + ns + "/" + name
		if ref, ok := seen[key]; ok {
			return ref
		}
		var ref *metav1.OwnerReference
		switch kind {
		case "ReplicaSet":
			if rs, err := client.AppsV1().ReplicaSets(ns).Get(ctx, name, metav1.GetOptions{}); err == nil {
				ref = metav1.GetControllerOf(rs)
			}
		case "Job":
			if j, err := client.BatchV1().Jobs(ns).Get(ctx, name, metav1.GetOptions{}); err == nil {
				ref = metav1.GetControllerOf(j)
			}
		}
		seen[key] = ref
		return ref
	}
}

// GroupBy is what one row of trace, profile and memory stands for
// (--group-by): a workload (default) or a pod, and per node or not.
type GroupBy struct {
	Pod  bool
	Node bool
}

// GroupByKeys are the values --group-by takes, in a list.
var GroupByKeys = []string{"workload", "pod", "node"}

// ParseGroupBy reads a --group-by list such as "workload,node".
func ParseGroupBy(s string) (GroupBy, error) {
	var g GroupBy
	workload := false
	for k := range strings.SplitSeq(s, ",") {
		switch strings.TrimSpace(k) {
		case "workload":
			workload = true
		case "pod":
			g.Pod = true
		case "node":
			g.Node = true
		default:
			return g, fmt.Errorf("--group-by %q: unknown key %q: use a list of workload, pod and node, e.g. workload,node", s, strings.TrimSpace(k))
		}
	}
	if workload && g.Pod {
		return g, fmt.Errorf("--group-by %q: a row is a workload or a pod, not both: use pod (with node if wanted) or workload", s)
	}
	return g, nil
}

// Service is what a row of p's processes is named: "namespace/workload"
// or, grouped by pod, "namespace/pod".
func (g GroupBy) Service(p Pod) string {
	if g.Pod || p.Workload == "" {
		return p.Namespace + "/" + p.Name
	}
	return p.Namespace + "/" + WorkloadName(p.Workload)
}
