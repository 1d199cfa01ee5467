package session

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	kfake "k8s.io/client-go/kubernetes/fake"

	"github.com/kubectl-pixie/kubectl-pixie/plugin/render/rendertest"
)

// A failed probe's error quotes its log tail: the pod's own lines and its
// probe_log records come from the node and must not reach the terminal raw.
func TestFailedProbeMessageIsSanitized(t *testing.T) {
	client := kfake.NewClientset()
	k := &fakeKubelet{client: client, conns: map[string]int{}, records: 1, exit: 1}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go k.run(ctx, t)
	o := testOptions(client, k, io.Discard)
	o.Targets = o.Targets[:1]
	logLine, _ := json.Marshal(map[string]any{"table": "probe_log", "seq": 100, "level": "error",
		"msg": rendertest.Hostile, "remedy": rendertest.Hostile})
	hostile := "panic: " + rendertest.Hostile + "\n" + string(logLine) + "\n"
	o.logs = func(ctx context.Context, ns, pod string) (io.ReadCloser, error) {
		rc, err := k.logs(ctx, ns, pod)
		return io.NopCloser(io.MultiReader(rc, strings.NewReader(hostile))), err
	}
	_, err := Run(context.Background(), o, func(Line) {})
	if err == nil {
		t.Fatal("Run succeeded with a failing probe")
	}
	rendertest.CheckSafe(t, "failure message", err.Error())
	if !strings.Contains(err.Error(), "probe on node n1 failed: a^[]52;c;cHduZWQ=^G") || !strings.Contains(err.Error(), "    panic: a^[]52") {
		t.Errorf("the hostile log lines are not quoted escaped: %q", err)
	}
}

// The kubelet's reasons and messages for a container that cannot start
// are quoted too.
func TestWaitingMessageIsSanitized(t *testing.T) {
	client := kfake.NewClientset()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		w, _ := client.CoreV1().Pods("pixie").Watch(ctx, metav1.ListOptions{})
		for ev := range w.ResultChan() {
			if p, ok := ev.Object.(*corev1.Pod); ok && ev.Type == watch.Added {
				p = p.DeepCopy() // the session's watch may hold the same object
				p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "probe", State: corev1.ContainerState{
					Waiting: &corev1.ContainerStateWaiting{Reason: "CreateContainerError", Message: rendertest.Hostile}}}}
				_, _ = client.CoreV1().Pods("pixie").UpdateStatus(ctx, p, metav1.UpdateOptions{})
			}
		}
	}()
	o := testOptions(client, &fakeKubelet{client: client, conns: map[string]int{}}, io.Discard)
	o.Targets = o.Targets[:1]
	_, err := Run(context.Background(), o, func(Line) {})
	if err == nil || !strings.Contains(err.Error(), "could not start (CreateContainerError: a^[]52;c;cHduZWQ=^G") {
		t.Fatalf("err = %v", err)
	}
	rendertest.CheckSafe(t, "waiting message", err.Error())
}

type hostileErrReader struct{}

func (hostileErrReader) Read([]byte) (int, error) { return 0, errors.New(rendertest.Hostile) }

// A broken log stream's error comes from the node's kubelet: the warning
// quotes it escaped.
func TestBrokenStreamWarningIsSanitized(t *testing.T) {
	client := kfake.NewClientset()
	k := &fakeKubelet{client: client, conns: map[string]int{}, records: 2}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go k.run(ctx, t)
	var errOut bytes.Buffer
	o := testOptions(client, k, &errOut)
	o.Targets = o.Targets[:1]
	o.logs = func(ctx context.Context, ns, pod string) (io.ReadCloser, error) {
		rc, err := k.logs(ctx, ns, pod)
		k.mu.Lock()
		first := k.conns[pod] == 1
		k.mu.Unlock()
		if first {
			return io.NopCloser(io.MultiReader(strings.NewReader("{\"table\":\"probe_ready\",\"seq\":1}\n"), hostileErrReader{})), err
		}
		return rc, err
	}
	if _, err := Run(context.Background(), o, func(Line) {}); err != nil {
		t.Fatal(err)
	}
	rendertest.CheckSafe(t, "stderr", errOut.String())
	if !strings.Contains(errOut.String(), "broke (a^[]52;c;cHduZWQ=^G") {
		t.Errorf("the stream's error is not quoted escaped: %q", errOut.String())
	}
}
