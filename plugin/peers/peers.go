// Package peers names the addresses a probe reports in a cluster: a pod IP
// becomes its workload (a Deployment through its ReplicaSet, a StatefulSet,
// a DaemonSet, a CronJob through its Job, a Job, or the bare pod), a
// Service's ClusterIP the Service, a node's address the node. Every lookup
// is served from one watch-backed cache (client-go informers): no API call
// per record, and names follow the cluster while the command runs.
package peers

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"

	"github.com/kubectl-pixie/kubectl-pixie/plugin/target"
)

// Kinds of peer.
const (
	KindPod     = "pod"
	KindService = "service"
	KindNode    = "node"
)

// Peer is what an address belongs to.
type Peer struct {
	Kind      string
	Namespace string // pods and services
	Name      string // the pod, service or node
	// Workload is the pod's owning workload as "kind/name" ("deployment/api",
	// "statefulset/db"), or "pod/NAME" for a bare pod.
	Workload string
}

// String is the name a table shows: "shop/api" for a workload or a
// service (as in trace rows), the node's name for a node.
func (p Peer) String() string {
	switch p.Kind {
	case KindPod:
		return p.Namespace + "/" + target.WorkloadName(p.Workload)
	case KindService:
		return p.Namespace + "/" + p.Name
	}
	return p.Name
}

const ipIndex = "ip"

// Cache holds the cluster's pods, services, nodes, replica sets and jobs.
type Cache struct {
	factory               informers.SharedInformerFactory
	pods, services, nodes cache.SharedIndexInformer
	replicaSets, jobs     cache.SharedIndexInformer
	// servicesAsWorkloads names a row's Service by the workload behind it
	// (see NameServicesByWorkload).
	servicesAsWorkloads bool
}

// NameServicesByWorkload makes Annotate name a row's peer that is a
// Service by the one workload its selector picks ("shop/api-svc" becomes
// "shop/api"): the map's nodes are workloads, so a client's row through
// the Service and the server's own rows are one edge. A Service without a
// selector, selecting no pod or pods of several workloads keeps its name.
func (c *Cache) NameServicesByWorkload() { c.servicesAsWorkloads = true }

// Backend is the Peer of the workload behind Service ns/name: its
// selected pods' one workload (Name is one of those pods).
func (c *Cache) Backend(ns, name string) (Peer, bool) {
	obj, ok, err := c.services.GetIndexer().GetByKey(ns + "/" + name)
	if err != nil || !ok {
		return Peer{}, false
	}
	s := obj.(*corev1.Service)
	if len(s.Spec.Selector) == 0 {
		return Peer{}, false
	}
	sel := labels.SelectorFromSet(s.Spec.Selector)
	pods, _ := c.pods.GetIndexer().ByIndex(cache.NamespaceIndex, ns)
	var backend Peer
	for _, o := range pods {
		p := o.(*corev1.Pod)
		if !sel.Matches(labels.Set(p.Labels)) {
			continue
		}
		w := c.workload(p)
		if backend.Workload != "" && backend.Workload != w {
			return Peer{}, false
		}
		backend = Peer{Kind: KindPod, Namespace: ns, Name: p.Name, Workload: w}
	}
	return backend, backend.Workload != ""
}

// New returns a cache over cs; Start fills it.
func New(cs kubernetes.Interface) *Cache {
	f := informers.NewSharedInformerFactory(cs, 0)
	c := &Cache{
		factory:     f,
		pods:        f.Core().V1().Pods().Informer(),
		services:    f.Core().V1().Services().Informer(),
		nodes:       f.Core().V1().Nodes().Informer(),
		replicaSets: f.Apps().V1().ReplicaSets().Informer(),
		jobs:        f.Batch().V1().Jobs().Informer(),
	}
	_ = c.pods.AddIndexers(cache.Indexers{ipIndex: podIPs})
	_ = c.services.AddIndexers(cache.Indexers{ipIndex: serviceIPs})
	_ = c.nodes.AddIndexers(cache.Indexers{ipIndex: nodeIPs})
	return c
}

// Start starts the watches and waits (at most timeout) until the first
// lists are in; the watches run until ctx ends.
func (c *Cache) Start(ctx context.Context, timeout time.Duration) error {
	c.factory.Start(ctx.Done())
	wait, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for typ, ok := range c.factory.WaitForCacheSync(wait.Done()) {
		if !ok {
			return fmt.Errorf("listing %v to name peers did not finish within %s: check that you may list and watch pods, services, nodes, replicasets and jobs (kubectl auth can-i watch pods -A)", typ, timeout)
		}
	}
	return nil
}

// CanList fails fast, naming the resource, when the user may not list
// what the cache watches (a watch would retry until its timeout).
func CanList(ctx context.Context, cs kubernetes.Interface) error {
	one := metav1.ListOptions{Limit: 1}
	for name, list := range map[string]func() error{
		"pods":        func() error { _, err := cs.CoreV1().Pods("").List(ctx, one); return err },
		"services":    func() error { _, err := cs.CoreV1().Services("").List(ctx, one); return err },
		"nodes":       func() error { _, err := cs.CoreV1().Nodes().List(ctx, one); return err },
		"replicasets": func() error { _, err := cs.AppsV1().ReplicaSets("").List(ctx, one); return err },
		"jobs":        func() error { _, err := cs.BatchV1().Jobs("").List(ctx, one); return err },
	} {
		if err := list(); err != nil {
			return fmt.Errorf("cannot list %s in all namespaces to name peers (%w): grant list and watch on pods, services, nodes, replicasets and jobs", name, err)
		}
	}
	return nil
}

// Lookup names ip: a Service's ClusterIP first (it is no pod's), then a
// pod that does not share its node's network, then a node.
func (c *Cache) Lookup(ip string) (Peer, bool) {
	if a, err := netip.ParseAddr(ip); err == nil && a.IsLoopback() {
		return Peer{}, false // this host, on whichever node: no cluster peer
	}
	if objs, _ := c.services.GetIndexer().ByIndex(ipIndex, ip); len(objs) > 0 {
		s := objs[0].(*corev1.Service)
		return Peer{Kind: KindService, Namespace: s.Namespace, Name: s.Name}, true
	}
	if objs, _ := c.pods.GetIndexer().ByIndex(ipIndex, ip); len(objs) > 0 {
		p := objs[0].(*corev1.Pod)
		return Peer{Kind: KindPod, Namespace: p.Namespace, Name: p.Name, Workload: c.workload(p)}, true
	}
	if objs, _ := c.nodes.GetIndexer().ByIndex(ipIndex, ip); len(objs) > 0 {
		return Peer{Kind: KindNode, Name: objs[0].(*corev1.Node).Name}, true
	}
	return Peer{}, false
}

// workload follows the pod's controller through the cached ReplicaSets
// and Jobs.
func (c *Cache) workload(p *corev1.Pod) string {
	return target.Workload(p, func(kind, ns, name string) *metav1.OwnerReference {
		inf := c.replicaSets
		if kind == "Job" {
			inf = c.jobs
		}
		obj, ok, err := inf.GetIndexer().GetByKey(ns + "/" + name)
		if err != nil || !ok {
			return nil
		}
		if m, ok := obj.(metav1.Object); ok {
			return metav1.GetControllerOf(m)
		}
		return nil
	})
}

var errNotType = errors.New("unexpected object type")

func podIPs(obj any) ([]string, error) {
	p, ok := obj.(*corev1.Pod)
	if !ok {
		return nil, errNotType
	}
	if p.Spec.HostNetwork { // its IP is the node's
		return nil, nil
	}
	var ips []string
	for _, ip := range p.Status.PodIPs {
		ips = append(ips, ip.IP)
	}
	if len(ips) == 0 && p.Status.PodIP != "" {
		ips = append(ips, p.Status.PodIP)
	}
	return ips, nil
}

func serviceIPs(obj any) ([]string, error) {
	s, ok := obj.(*corev1.Service)
	if !ok {
		return nil, errNotType
	}
	var ips []string
	for _, ip := range append([]string{s.Spec.ClusterIP}, s.Spec.ClusterIPs...) {
		if ip != "" && ip != corev1.ClusterIPNone {
			ips = append(ips, ip)
		}
	}
	return ips, nil
}

func nodeIPs(obj any) ([]string, error) {
	n, ok := obj.(*corev1.Node)
	if !ok {
		return nil, errNotType
	}
	var ips []string
	for _, a := range n.Status.Addresses {
		if a.Type == corev1.NodeInternalIP || a.Type == corev1.NodeExternalIP {
			ips = append(ips, a.Address)
		}
	}
	return ips, nil
}
