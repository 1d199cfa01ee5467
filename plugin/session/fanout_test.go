package session

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	kfake "k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

// forEach runs every index once, never more than its workers at once.
func TestForEachBounded(t *testing.T) {
	var inFlight, most atomic.Int32
	seen := make([]atomic.Int32, 60)
	forEach(60, createWorkers, func(i int) {
		n := inFlight.Add(1)
		for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
		}
		seen[i].Add(1)
		time.Sleep(5 * time.Millisecond)
		inFlight.Add(-1)
	})
	for i := range seen {
		if seen[i].Load() != 1 {
			t.Fatalf("index %d ran %d times", i, seen[i].Load())
		}
	}
	if m := most.Load(); m > createWorkers || m < 2 {
		t.Errorf("at most %d in flight, want 2..%d", m, createWorkers)
	}
}

// create (through forEach) creates each probe pod exactly once.
func TestCreateEveryPodOnce(t *testing.T) {
	client := kfake.NewClientset()
	var creates atomic.Int32
	client.PrependReactor("create", "pods", func(k8stesting.Action) (bool, runtime.Object, error) {
		creates.Add(1)
		return false, nil, nil // the tracker creates it
	})
	o := testOptions(client, &fakeKubelet{client: client, conns: map[string]int{}}, nil)
	o.Targets = nodeNames(60)
	if err := o.validate(); err != nil {
		t.Fatal(err)
	}
	pods, err := Pods(&o)
	if err != nil {
		t.Fatal(err)
	}
	s := newRunner(&o, &Result{})
	if err := s.create(context.Background(), pods); err != nil {
		t.Fatal(err)
	}
	if creates.Load() != 60 || len(s.created) != 60 || len(s.order) != 60 || len(s.byPod) != 60 {
		t.Fatalf("%d creates, %d created, %d nodes, %d by pod: want 60 each", creates.Load(), len(s.created), len(s.order), len(s.byPod))
	}
}

// A create refused the same way on every node (Pod Security) stops the
// others: the first pod is created alone; nodes never attempted are not in
// the result.
func TestCreateStopsAtSameEverywhereFailure(t *testing.T) {
	client := kfake.NewClientset()
	var creates atomic.Int32
	client.PrependReactor("create", "pods", func(k8stesting.Action) (bool, runtime.Object, error) {
		creates.Add(1)
		time.Sleep(5 * time.Millisecond)
		return true, nil, apierrors.NewForbidden(schema.GroupResource{Resource: "pods"}, "x", errors.New(`violates PodSecurity "baseline:latest": privileged`))
	})
	o := testOptions(client, &fakeKubelet{client: client, conns: map[string]int{}}, nil)
	o.Targets = nodeNames(200)
	if err := o.validate(); err != nil {
		t.Fatal(err)
	}
	pods, _ := Pods(&o)
	s := newRunner(&o, &Result{})
	err := s.create(context.Background(), pods)
	if !isPodSecurity(err) {
		t.Fatalf("err %v, want a PodSecurityError", err)
	}
	if c := int(creates.Load()); c != 1 || len(s.order) != 1 {
		t.Errorf("%d creates sent, %d nodes in the result: want the first only", c, len(s.order))
	}
}

// Deleting the pods of many nodes reads the nodes with one list, not one
// get per node, and deletes a NotReady node's pod at once.
func TestDeletePodsListsNodesOnce(t *testing.T) {
	var objs []runtime.Object
	var pods []PodRef
	for i := range 50 {
		name := fmt.Sprintf("node-%03d", i)
		ready := corev1.ConditionTrue
		if i == 7 {
			ready = corev1.ConditionUnknown
		}
		objs = append(objs,
			&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}, Status: corev1.NodeStatus{Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: ready}}}},
			&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p-" + name, Namespace: "pixie"}})
		pods = append(pods, PodRef{Namespace: "pixie", Name: "p-" + name, Node: name})
	}
	pods = append(pods, PodRef{Namespace: "pixie", Name: "p-gone", Node: "gone"})
	client := kfake.NewClientset(objs...)
	failed, err := DeletePods(context.Background(), client, pods, 5*time.Second)
	if len(failed) != 0 || err != nil {
		t.Fatalf("failed %v: %v", failed, err)
	}
	gets, lists := 0, 0
	grace := map[string]int64{}
	for _, a := range client.Actions() {
		switch {
		case a.GetResource().Resource == "nodes" && a.GetVerb() == "get":
			gets++
		case a.GetResource().Resource == "nodes" && a.GetVerb() == "list":
			lists++
		case a.GetVerb() == "delete":
			d := a.(k8stesting.DeleteAction)
			grace[d.GetName()] = *d.GetDeleteOptions().GracePeriodSeconds
		}
	}
	if gets != 0 || lists != 1 {
		t.Errorf("%d node gets and %d lists, want one list", gets, lists)
	}
	if len(grace) != 51 || grace["p-node-007"] != 0 || grace["p-gone"] != 0 || grace["p-node-000"] != 5 {
		t.Errorf("grace by pod %v: want 51 deletions, 0 s on the NotReady and the missing node, 5 s elsewhere", grace)
	}
}

// With DeferDelete, a run whose agents all sent their last record returns
// before its pods are deleted, and WaitDeleted returns once they are.
func TestDeferDeleteAfterFinishedRun(t *testing.T) {
	client := kfake.NewClientset()
	k := &fakeKubelet{client: client, conns: map[string]int{}, records: 3, final: true, steady: true}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go k.run(ctx, t)
	release := make(chan struct{})
	client.PrependReactor("delete", "pods", func(k8stesting.Action) (bool, runtime.Object, error) {
		// An API server slow to delete. Bounded: if Run deletes before it
		// returns (a run that did not finish by itself), the test fails on
		// the pod count below instead of hanging until go test's timeout.
		select {
		case <-release:
		case <-time.After(30 * time.Second):
		}
		return false, nil, nil
	})
	o := testOptions(client, k, nil)
	o.DeferDelete = true
	res, err := Run(context.Background(), o, func(Line) {})
	if err != nil {
		t.Fatal(err)
	}
	if left, _ := client.CoreV1().Pods("pixie").List(ctx, metav1.ListOptions{}); len(left.Items) != 2 {
		t.Fatalf("%d pods when Run returned, want both still there (deletion deferred)", len(left.Items))
	}
	close(release)
	res.WaitDeleted()
	if left, _ := client.CoreV1().Pods("pixie").List(ctx, metav1.ListOptions{}); len(left.Items) != 0 {
		t.Errorf("%d pods left after WaitDeleted", len(left.Items))
	}
}
