package session

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	kfake "k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

// A target node that cannot run privileged pods (here a Fargate node) is
// refused with the reason before any pod is created on it; the others run.
func TestRunRefusesUnfitNode(t *testing.T) {
	fargate := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n2", Labels: map[string]string{"eks.amazonaws.com/compute-type": "fargate"}}}
	linux := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1", Labels: map[string]string{"kubernetes.io/os": "linux"}}}
	client := kfake.NewClientset(fargate, linux)
	var createdOn []string
	client.PrependReactor("create", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
		createdOn = append(createdOn, a.(k8stesting.CreateAction).GetObject().(*corev1.Pod).Spec.NodeName)
		return false, nil, nil
	})
	k := &fakeKubelet{client: client, conns: map[string]int{}, records: 2, final: true, steady: true}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go k.run(ctx, t)
	var errOut bytes.Buffer
	o := testOptions(client, k, &syncWriter{w: &errOut})
	res, err := Run(context.Background(), o, func(Line) {})
	var ue *UnfitError
	if !errors.As(err, &ue) || ue.Node != "n2" || !strings.Contains(err.Error(), "EKS Fargate") {
		t.Fatalf("err %v: want n2 refused as a Fargate node", err)
	}
	if res.Failed() != 1 || res.Nodes[0].Records != 3 {
		t.Errorf("nodes %+v: want n1 read, n2 failed", res.Nodes)
	}
	if strings.Join(createdOn, ",") != "n1" {
		t.Errorf("probe pods created on %v, want only n1", createdOn)
	}
	if !strings.Contains(errOut.String(), "n2  failed: cannot run probe pods") {
		t.Errorf("progress does not show the refusal:\n%s", errOut.String())
	}
}
