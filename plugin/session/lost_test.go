package session

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	kfake "k8s.io/client-go/kubernetes/fake"
)

// TestLostNodeNamedAndPartial: a node whose log stream cannot be opened
// (its kubelet is gone) is named with why, the other node's records are
// kept, the run says its results are partial, and every pod is deleted.
func TestLostNodeNamedAndPartial(t *testing.T) {
	client := kfake.NewClientset()
	k := &fakeKubelet{client: client, conns: map[string]int{}, records: 2, final: true, steady: true}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go k.run(ctx, t)
	var errOut bytes.Buffer
	o := testOptions(client, k, &errOut)
	o.StopGrace = 500 * time.Millisecond
	o.logs = func(ctx context.Context, ns, pod string) (io.ReadCloser, error) {
		if strings.Contains(pod, "-n2-") {
			return nil, errors.New("dial tcp 198.51.100.2:10250: connect: connection refused")
		}
		return k.logs(ctx, ns, pod)
	}
	got := map[string]int{}
	res, err := Run(context.Background(), o, func(l Line) { got[l.Node]++ })
	if err == nil {
		t.Fatalf("no error though n2 never streamed; stderr:\n%s", errOut.String())
	}
	for _, want := range []string{"node n2 stopped streaming at ", "connection refused", "the other 1 of 2 nodes were probed; results are partial"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	if strings.Contains(err.Error(), "node n1 stopped") {
		t.Errorf("n1 reported lost: %v", err)
	}
	if got["n1"] != 3 || got["n2"] != 0 {
		t.Errorf("records per node %v, want n1's 3 and none of n2", got)
	}
	if len(res.Nodes) != 2 || res.Nodes[0].Err != nil || res.Nodes[1].Err == nil {
		t.Errorf("node results %+v", res.Nodes)
	}
	if n := len(probePods(t, client, "pixie")); n != 0 {
		t.Errorf("%d probe pods left", n)
	}
}
