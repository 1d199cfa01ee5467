// Package target turns command-line targets (NAME, TYPE/NAME, node/NAME,
// -l, -A, -c) into the set of nodes to probe, with the pods and containers
// to trace on each. It resolves arguments with the cli-runtime resource
// builder, as kubectl logs and kubectl debug do, so every TYPE/NAME kubectl
// understands works the same here.
package target

import (
	"context"
	"fmt"
	"reflect"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/cli-runtime/pkg/resource"
	"k8s.io/client-go/kubernetes"
	"k8s.io/kubectl/pkg/polymorphichelpers"
	"k8s.io/kubectl/pkg/scheme"
)

// Options narrow the targets, with kubectl's flag meanings.
type Options struct {
	Namespace     string // -n, or the kubeconfig's namespace
	AllNamespaces bool   // -A: the -l selector spans all namespaces
	Selector      string // -l
	Container     string // -c: only this container of each pod
}

// Container is one running container to trace.
type Container struct {
	Name string
	ID   string // runtime ID without the "containerd://" style prefix
}

// Pod is one running pod to trace.
type Pod struct {
	Namespace string
	Name      string
	UID       string
	Node      string
	IP        string
	// Workload is the owning workload, "deployment/api" (see Workload).
	Workload string
	// Containers are the running containers selected (all, or -c).
	Containers []Container
	// AllContainers is true without -c: the probe may follow the pod by
	// UID, so containers that restart during the window stay traced.
	AllContainers bool
}

// Skipped is a target that is not probed, with the reason.
type Skipped struct {
	Namespace, Name string
	Reason          string // e.g. "Pending", "Succeeded", `no container "x"`
}

// Node is one node to probe: one probe pod runs there.
type Node struct {
	Name string
	// All is true for node/NAME targets: trace every process on the node.
	All  bool
	Pods []Pod
	// NodePodUIDs, for All, are the UIDs of every pod the API server places
	// on the node: the probe drops other pods' processes, which it sees
	// when nodes share one kernel.
	NodePodUIDs []string
}

// Set is the result of Resolve.
type Set struct {
	Nodes   []Node
	Skipped []Skipped
}

// ContainerIDs returns the runtime IDs of every targeted container on n.
func (n Node) ContainerIDs() []string {
	var ids []string
	for _, p := range n.Pods {
		for _, c := range p.Containers {
			ids = append(ids, c.ID)
		}
	}
	return ids
}

// PodUIDs returns the UIDs of pods targeted as a whole (no -c) on n.
func (n Node) PodUIDs() []string {
	var ids []string
	for _, p := range n.Pods {
		if p.AllContainers {
			ids = append(ids, p.UID)
		}
	}
	return ids
}

// NodeNames lists the nodes of s.
func (s *Set) NodeNames() []string {
	names := make([]string, len(s.Nodes))
	for i, n := range s.Nodes {
		names[i] = n.Name
	}
	return names
}

// Pods counts the pods probed.
func (s *Set) Pods() int {
	n := 0
	for _, nd := range s.Nodes {
		n += len(nd.Pods)
	}
	return n
}

// Warning describes skipped targets for stderr, or "" when none were
// skipped: `2 of 5 pods are not running; probing 3 (shop/web-1: Pending, ...)`.
func (s *Set) Warning() string {
	if len(s.Skipped) == 0 {
		return ""
	}
	var why []string
	for i, sk := range s.Skipped {
		if i == 5 {
			why = append(why, fmt.Sprintf("and %d more", len(s.Skipped)-i))
			break
		}
		why = append(why, fmt.Sprintf("%s/%s: %s", sk.Namespace, sk.Name, sk.Reason))
	}
	total := len(s.Skipped) + s.Pods()
	return fmt.Sprintf("%d of %d pods are not running; probing %d (%s)", len(s.Skipped), total, s.Pods(), strings.Join(why, ", "))
}

// Resolve resolves args (NAME, TYPE/NAME, node/NAME) and o.Selector into the
// nodes to probe. newBuilder is usually cmdutil.Factory.NewBuilder. Pods
// that are not running are listed in Set.Skipped, not errors; no running
// target at all is an error.
func Resolve(ctx context.Context, newBuilder func() *resource.Builder, client kubernetes.Interface, args []string, o Options) (*Set, error) {
	if len(args) == 0 && o.Selector == "" {
		return nil, fmt.Errorf("no target: name a pod, TYPE/NAME (deploy/web, svc/api, node/worker-1) or pass -l SELECTOR")
	}
	var objs []runtime.Object
	visit := func(r *resource.Result) error {
		if err := r.Err(); err != nil {
			return err
		}
		return r.Visit(func(info *resource.Info, err error) error {
			if err != nil {
				return err
			}
			objs = append(objs, info.Object)
			return nil
		})
	}
	if len(args) > 0 {
		r := newBuilder().
			WithScheme(scheme.Scheme, scheme.Scheme.PrioritizedVersionsAllGroups()...).
			NamespaceParam(o.Namespace).DefaultNamespace().
			ResourceNames("pods", args...).
			Flatten().Do()
		if err := visit(r); err != nil {
			return nil, err
		}
	}
	if o.Selector != "" {
		r := newBuilder().
			WithScheme(scheme.Scheme, scheme.Scheme.PrioritizedVersionsAllGroups()...).
			NamespaceParam(o.Namespace).DefaultNamespace().AllNamespaces(o.AllNamespaces).
			ResourceTypes("pods").LabelSelectorParam(o.Selector).
			Flatten().Do()
		if err := visit(r); err != nil {
			return nil, err
		}
	}
	return FromObjects(ctx, client, objs, o.Container)
}

// FromObjects expands resolved objects (pods, nodes, workloads, services)
// into the nodes to probe. Workloads and services select their pods by
// label, listed with client.
func FromObjects(ctx context.Context, client kubernetes.Interface, objs []runtime.Object, container string) (*Set, error) {
	var pods []*corev1.Pod
	nodes := map[string]bool{}
	matchedNothing := 0
	for _, obj := range objs {
		switch t := obj.(type) {
		case *corev1.Node:
			nodes[t.Name] = true
		case *corev1.Pod:
			pods = append(pods, t)
		case *corev1.PodList:
			for i := range t.Items {
				pods = append(pods, &t.Items[i])
			}
		default:
			ns, sel, err := polymorphichelpers.SelectorsForObject(obj)
			if err != nil {
				return nil, fmt.Errorf("cannot trace %s: %w (supported: pods, nodes, deployments, statefulsets, daemonsets, replicasets, jobs, services)", describe(obj), err)
			}
			if sel.Empty() {
				return nil, fmt.Errorf("cannot trace %s: it selects no pods", describe(obj))
			}
			list, err := client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: sel.String()})
			if err != nil {
				return nil, fmt.Errorf("listing pods of %s: %w", describe(obj), err)
			}
			if len(list.Items) == 0 {
				matchedNothing++
			}
			for i := range list.Items {
				pods = append(pods, &list.Items[i])
			}
		}
	}
	set := Group(pods, nodes, container)
	nameWorkloads(set, pods, apiControllerOf(ctx, client))
	if err := listNodePods(ctx, client, set); err != nil {
		return nil, err
	}
	if len(set.Nodes) == 0 {
		if len(set.Skipped) > 0 {
			return set, fmt.Errorf("no running target: %s", set.Warning())
		}
		return set, fmt.Errorf("no pods matched the targets: check the names, the namespace (-n, -A) and the selector")
	}
	return set, nil
}

// nameWorkloads fills the Workload of every pod of set, following
// ReplicaSets and Jobs with up.
func nameWorkloads(set *Set, pods []*corev1.Pod, up ControllerOf) {
	byUID := make(map[string]*corev1.Pod, len(pods))
	for _, p := range pods {
		byUID[string(p.UID)] = p
	}
	for i := range set.Nodes {
		for j := range set.Nodes[i].Pods {
			tp := &set.Nodes[i].Pods[j]
			if p := byUID[tp.UID]; p != nil {
				tp.Workload = Workload(p, up)
			}
		}
	}
}

// listNodePods fills NodePodUIDs of whole-node targets.
func listNodePods(ctx context.Context, client kubernetes.Interface, set *Set) error {
	for i := range set.Nodes {
		n := &set.Nodes[i]
		if !n.All {
			continue
		}
		list, err := client.CoreV1().Pods("").List(ctx, metav1.ListOptions{FieldSelector: "spec.nodeName=" + n.Name})
		if err != nil {
			return fmt.Errorf("listing the pods of node %s: %w (node/NAME needs to list pods in all namespaces)", n.Name, err)
		}
		n.NodePodUIDs = make([]string, 0, len(list.Items))
		for _, p := range list.Items {
			n.NodePodUIDs = append(n.NodePodUIDs, string(p.UID))
		}
	}
	return nil
}

// Group is the pure part of FromObjects: it keeps running pods (and the
// containers named container, if set), groups them by node, and adds the
// whole-node targets. Pods are deduplicated by UID.
func Group(pods []*corev1.Pod, wholeNodes map[string]bool, container string) *Set {
	set := &Set{}
	byNode := map[string]*Node{}
	get := func(name string) *Node {
		n := byNode[name]
		if n == nil {
			n = &Node{Name: name}
			byNode[name] = n
		}
		return n
	}
	for name := range wholeNodes {
		get(name).All = true
	}
	seen := map[string]bool{}
	for _, p := range pods {
		key := string(p.UID)
		if key == "" {
			key = p.Namespace + "/" + p.Name
		}
		if seen[key] {
			continue
		}
		seen[key] = true
		tp, reason := running(p, container)
		if reason != "" {
			set.Skipped = append(set.Skipped, Skipped{Namespace: p.Namespace, Name: p.Name, Reason: reason})
			continue
		}
		n := get(tp.Node)
		n.Pods = append(n.Pods, tp)
	}
	for _, n := range byNode {
		sort.Slice(n.Pods, func(i, j int) bool {
			a, b := n.Pods[i], n.Pods[j]
			return a.Namespace+"/"+a.Name < b.Namespace+"/"+b.Name
		})
		set.Nodes = append(set.Nodes, *n)
	}
	sort.Slice(set.Nodes, func(i, j int) bool { return set.Nodes[i].Name < set.Nodes[j].Name })
	sort.Slice(set.Skipped, func(i, j int) bool {
		a, b := set.Skipped[i], set.Skipped[j]
		return a.Namespace+"/"+a.Name < b.Namespace+"/"+b.Name
	})
	return set
}

// running returns the traceable view of p, or why it is skipped.
func running(p *corev1.Pod, container string) (Pod, string) {
	if p.DeletionTimestamp != nil {
		return Pod{}, "Terminating"
	}
	if p.Status.Phase != corev1.PodRunning {
		phase := string(p.Status.Phase)
		if phase == "" {
			phase = "Pending"
		}
		if p.Spec.NodeName == "" {
			phase += ", not scheduled"
		}
		return Pod{}, phase
	}
	if p.Spec.NodeName == "" {
		return Pod{}, "not scheduled"
	}
	if container != "" && !hasContainer(p, container) {
		return Pod{}, fmt.Sprintf("no container %q", container)
	}
	tp := Pod{
		Namespace:     p.Namespace,
		Name:          p.Name,
		UID:           string(p.UID),
		Node:          p.Spec.NodeName,
		IP:            p.Status.PodIP,
		Workload:      Workload(p, nil),
		AllContainers: container == "",
	}
	for _, cs := range p.Status.ContainerStatuses {
		if container != "" && cs.Name != container {
			continue
		}
		if cs.State.Running == nil || cs.ContainerID == "" {
			continue
		}
		tp.Containers = append(tp.Containers, Container{Name: cs.Name, ID: StripRuntime(cs.ContainerID)})
	}
	if len(tp.Containers) == 0 {
		if container != "" {
			return Pod{}, fmt.Sprintf("container %q not running", container)
		}
		return Pod{}, "no running container"
	}
	return tp, ""
}

func hasContainer(p *corev1.Pod, name string) bool {
	for _, c := range p.Spec.Containers {
		if c.Name == name {
			return true
		}
	}
	return false
}

// StripRuntime turns "containerd://abc" into "abc".
func StripRuntime(id string) string {
	if i := strings.Index(id, "://"); i >= 0 {
		return id[i+3:]
	}
	return id
}

func describe(obj runtime.Object) string {
	kind := obj.GetObjectKind().GroupVersionKind().Kind
	if kind == "" {
		t := reflect.TypeOf(obj)
		for t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		kind = t.Name()
	}
	if m, ok := obj.(metav1.Object); ok {
		return strings.ToLower(kind) + "/" + m.GetName()
	}
	return strings.ToLower(kind)
}
