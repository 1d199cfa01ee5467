package session

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
	kfake "k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/kubectl-pixie/kubectl-pixie/plugin/podspec"
	"github.com/kubectl-pixie/kubectl-pixie/plugin/target"
)

func TestStreamResume(t *testing.T) {
	s := newStream("n1")
	var got []string
	emit := func(l Line) {
		got = append(got, string(l.Raw))
		if l.Node != "n1" {
			t.Errorf("record of node %q, want n1: %s", l.Node, l.Raw)
		}
	}
	first := "{\"table\":\"a\",\"seq\":1}\nagent: starting\n{\"table\":\"a\",\"seq\":2}\n{\"table\":\"a\",\"se"
	if err := s.read(strings.NewReader(first), emit); err != nil {
		t.Fatal(err)
	}
	// The log API replays from the start on reconnect.
	second := "{\"table\":\"a\",\"seq\":1}\nagent: starting\n{\"table\":\"a\",\"seq\":2}\n{\"table\":\"a\",\"seq\":3}\nagent: done\n{}\n"
	if err := s.read(strings.NewReader(second), emit); err != nil {
		t.Fatal(err)
	}
	want := []string{
		`{"table":"a","seq":1}`,
		`{"table":"a","seq":2}`,
		`{"table":"a","seq":3}`,
		`{}`,
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("(-want +got):\n%s", d)
	}
	for _, l := range got {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Errorf("record %q is not JSON: %v", l, err)
		}
	}
	if d := cmp.Diff([]string{"agent: starting", "agent: done"}, s.tail.lines); d != "" {
		t.Errorf("tail (-want +got):\n%s", d)
	}
}

func TestTailSummary(t *testing.T) {
	tb := tailBuffer{max: 3}
	for _, l := range []string{"a", "b", `{"table":"probe_log","level":"error","msg":"no BTF","remedy":"use a kernel with BTF"}`, "panic: x"} {
		tb.add(l)
	}
	if got, want := tb.summary("  "), "  b\n  error: no BTF (use a kernel with BTF)\n  panic: x"; got != want {
		t.Errorf("summary = %q, want %q", got, want)
	}
	if got, want := tb.probeError(), "no BTF: use a kernel with BTF"; got != want {
		t.Errorf("probeError = %q, want %q", got, want)
	}
}

// fakeKubelet marks created probe pods running and serves their logs; a
// pod's log breaks once in the middle, then replays in full.
type fakeKubelet struct {
	client  *kfake.Clientset
	mu      sync.Mutex
	conns   map[string]int
	exit    int32
	records int
	// final ends the log with the agent's final probe_stats; the pod
	// status then never says terminated (a slow kubelet).
	final bool
	// steady serves every log whole, never broken
	steady bool
	// hello, when set, is the agent version its first record says
	hello string
}

func (k *fakeKubelet) logs(ctx context.Context, ns, pod string) (io.ReadCloser, error) {
	k.mu.Lock()
	k.conns[pod]++
	conn := k.conns[pod]
	k.mu.Unlock()
	var b bytes.Buffer
	if k.hello != "" {
		fmt.Fprintf(&b, "{\"table\":\"agent_hello\",\"agent_version\":%q}\n", k.hello)
	}
	for i := 1; i <= k.records; i++ {
		fmt.Fprintf(&b, "{\"table\":\"http_events\",\"seq\":%d}\n", i)
	}
	if k.final {
		fmt.Fprintf(&b, "{\"table\":\"probe_stats\",\"seq\":%d,\"final\":true}\n", k.records+1)
	}
	if k.exit != 0 {
		b.WriteString(`{"table":"probe_log","seq":99,"level":"error","msg":"BTF missing on node","remedy":"use Linux >= 5.8 with BTF"}` + "\n")
	}
	if conn == 1 && !k.steady {
		cut := b.Bytes()[:b.Len()/2]
		return io.NopCloser(io.MultiReader(bytes.NewReader(cut), errReader{})), nil
	}
	if k.final {
		return io.NopCloser(&b), nil
	}
	// second connection: the container has exited by now
	p, err := k.client.CoreV1().Pods(ns).Get(ctx, pod, metav1.GetOptions{})
	if err == nil {
		p.Status.ContainerStatuses[0].State = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: k.exit}}
		_, _ = k.client.CoreV1().Pods(ns).UpdateStatus(ctx, p, metav1.UpdateOptions{})
	}
	return io.NopCloser(&b), nil
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("connection reset") }

func (k *fakeKubelet) run(ctx context.Context, t *testing.T) {
	w, err := k.client.CoreV1().Pods("pixie").Watch(ctx, metav1.ListOptions{})
	if err != nil {
		t.Error(err)
		return
	}
	for ev := range w.ResultChan() {
		p, ok := ev.Object.(*corev1.Pod)
		if !ok || ev.Type != watch.Added {
			continue
		}
		p = p.DeepCopy() // the session's watch may hold the same object
		p.Status.Phase = corev1.PodRunning
		p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "probe", ContainerID: "containerd://x",
			State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}}
		if _, err := k.client.CoreV1().Pods("pixie").UpdateStatus(ctx, p, metav1.UpdateOptions{}); err != nil && !apierrors.IsNotFound(err) {
			t.Error(err)
		}
	}
}

func testOptions(client *kfake.Clientset, k *fakeKubelet, errOut io.Writer) Options {
	return Options{
		Client:    client,
		Namespace: "pixie",
		Targets:   []target.Node{{Name: "n1", All: true}, {Name: "n2", All: true}},
		Probe:     "trace",
		AgentArgs: func(n target.Node) ([]string, error) { return []string{"trace", "--config", `{"all":true}`}, nil },
		Window:    2 * time.Second,
		Pod:       podspec.Options{Image: "localhost/kubectl-pixie/probe:dev", PullPolicy: corev1.PullNever},
		ErrOut:    errOut,
		logs:      k.logs,
	}
}

func TestRunMergesResumesAndDeletes(t *testing.T) {
	client := kfake.NewClientset()
	k := &fakeKubelet{client: client, conns: map[string]int{}, records: 6}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go k.run(ctx, t)
	var errOut bytes.Buffer
	o := testOptions(client, k, &errOut)

	seen := map[string][]uint64{}
	res, err := Run(context.Background(), o, func(l Line) {
		seen[l.Node] = append(seen[l.Node], l.Seq)
		if bytes.Contains(l.Raw, []byte(`"node"`)) {
			t.Errorf("record of %s stamped before the receiver: %s", l.Node, l.Raw)
		}
	})
	if err != nil {
		t.Fatalf("Run: %v\nstderr: %s", err, errOut.String())
	}
	want := []uint64{1, 2, 3, 4, 5, 6}
	for _, n := range []string{"n1", "n2"} {
		if d := cmp.Diff(want, seen[n]); d != "" {
			t.Errorf("node %s records (-want +got):\n%s", n, d)
		}
	}
	if len(res.Nodes) != 2 || res.Failed() != 0 || res.Nodes[0].Records != 6 || res.Nodes[0].Reconnects != 1 {
		t.Errorf("result = %+v", res)
	}
	for pod, c := range k.conns {
		if c != 2 {
			t.Errorf("pod %s: %d log connections, want 2 (one broken, one resumed)", pod, c)
		}
	}
	left, _ := client.CoreV1().Pods("pixie").List(context.Background(), metav1.ListOptions{LabelSelector: podspec.ManagedSelector})
	if len(left.Items) != 0 {
		t.Errorf("%d probe pods left after Run", len(left.Items))
	}
	if !strings.Contains(errOut.String(), "log stream from node n1 broke (connection reset); reconnecting") {
		t.Errorf("no notice of the broken stream: %q", errOut.String())
	}
	// The fake agent exits without probe_ready: it never said it attached.
	if !strings.Contains(errOut.String(), "probe pods:\n  n1  exited ") || !strings.Contains(errOut.String(), "\n  n2  exited ") {
		t.Errorf("status line missing: %q", errOut.String())
	}
}

func TestRunEndsOnFinalRecord(t *testing.T) {
	client := kfake.NewClientset()
	k := &fakeKubelet{client: client, conns: map[string]int{}, records: 3, final: true}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go k.run(ctx, t)
	o := testOptions(client, k, io.Discard)
	o.Targets = o.Targets[:1]
	start := time.Now()
	var seqs []uint64
	if _, err := Run(context.Background(), o, func(l Line) { seqs = append(seqs, l.Seq) }); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("took %s: the final record should end the stream at once", d)
	}
	if d := cmp.Diff([]uint64{1, 2, 3, 4}, seqs); d != "" {
		t.Errorf("(-want +got):\n%s", d)
	}
}

func TestRunReportsFailedProbe(t *testing.T) {
	client := kfake.NewClientset()
	k := &fakeKubelet{client: client, conns: map[string]int{}, records: 1, exit: 1}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go k.run(ctx, t)
	o := testOptions(client, k, io.Discard)
	o.Targets = o.Targets[:1]
	res, err := Run(context.Background(), o, func(Line) {})
	if err == nil {
		t.Fatal("Run succeeded with a failing probe")
	}
	for _, want := range []string{"probe on node n1 failed: BTF missing on node: use Linux >= 5.8 with BTF", "last log lines of pixie-trace-n1-"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	if res.Failed() != 1 {
		t.Errorf("failed = %d", res.Failed())
	}
}

func TestRunImageNotPresent(t *testing.T) {
	client := kfake.NewClientset()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		w, _ := client.CoreV1().Pods("pixie").Watch(ctx, metav1.ListOptions{})
		for ev := range w.ResultChan() {
			if p, ok := ev.Object.(*corev1.Pod); ok && ev.Type == watch.Added {
				p = p.DeepCopy() // the session's watch may hold the same object
				p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "probe",
					State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ErrImageNeverPull"}}}}
				_, _ = client.CoreV1().Pods("pixie").UpdateStatus(ctx, p, metav1.UpdateOptions{})
			}
		}
	}()
	k := &fakeKubelet{client: client, conns: map[string]int{}}
	o := testOptions(client, k, io.Discard)
	o.Targets = o.Targets[:1]
	start := time.Now()
	_, err := Run(context.Background(), o, func(Line) {})
	if err == nil || !strings.Contains(err.Error(), "probe image localhost/kubectl-pixie/probe:dev is not present on node n1") {
		t.Fatalf("err = %v", err)
	}
	if time.Since(start) > 10*time.Second {
		t.Errorf("took %s: an image that cannot start should fail at once", time.Since(start))
	}
	left, _ := client.CoreV1().Pods("pixie").List(context.Background(), metav1.ListOptions{})
	if len(left.Items) != 0 {
		t.Errorf("%d pods left", len(left.Items))
	}
}

func TestRunPodSecurityRejection(t *testing.T) {
	client := kfake.NewClientset()
	client.PrependReactor("create", "pods", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewForbidden(schema.GroupResource{Resource: "pods"}, "p",
			errors.New(`violates PodSecurity "baseline:latest": host namespaces (hostPID=true), privileged (container "probe" must not set securityContext.privileged=true)`))
	})
	o := testOptions(client, &fakeKubelet{}, io.Discard)
	_, err := Run(context.Background(), o, func(Line) {})
	var pe *PodSecurityError
	if !errors.As(err, &pe) || pe.Level != "baseline" || pe.Namespace != "pixie" {
		t.Fatalf("err = %v, want a PodSecurityError for baseline in pixie", err)
	}
	if !strings.Contains(err.Error(), "kubectl label ns pixie pod-security.kubernetes.io/enforce=privileged") {
		t.Errorf("no remedy in %q", err)
	}
}

func TestRunCancelDeletesOnce(t *testing.T) {
	client := kfake.NewClientset()
	deletes := 0
	var mu sync.Mutex
	client.PrependReactor("delete", "pods", func(k8stesting.Action) (bool, runtime.Object, error) {
		mu.Lock()
		deletes++
		mu.Unlock()
		return false, nil, nil
	})
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		w, _ := client.CoreV1().Pods("pixie").Watch(ctx, metav1.ListOptions{})
		for ev := range w.ResultChan() {
			if p, ok := ev.Object.(*corev1.Pod); ok && ev.Type == watch.Added {
				p = p.DeepCopy() // the session's watch may hold the same object
				p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "probe",
					State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}}
				_, _ = client.CoreV1().Pods("pixie").UpdateStatus(ctx, p, metav1.UpdateOptions{})
			}
		}
	}()
	var errOut bytes.Buffer
	o := testOptions(client, &fakeKubelet{}, &syncWriter{w: &errOut})
	o.Window = time.Minute
	o.StopGrace = 100 * time.Millisecond
	// a stream that never ends until its context does
	o.logs = func(ctx context.Context, _, _ string) (io.ReadCloser, error) {
		r, w := io.Pipe()
		go func() { <-ctx.Done(); w.CloseWithError(ctx.Err()) }()
		return r, nil
	}
	time.AfterFunc(300*time.Millisecond, cancel)
	start := time.Now()
	res, err := Run(ctx, o, func(Line) {})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Interrupted {
		t.Error("not marked interrupted")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("stopping took %s", d)
	}
	mu.Lock()
	defer mu.Unlock()
	if deletes != 2 {
		t.Errorf("%d deletions, want 2 (one per pod, exactly once)", deletes)
	}
	// The first Ctrl-C says what it does and how long it may take.
	if want := "stopping: asking 2 probe pod(s) to flush their last records (up to 100ms), then deleting them (up to 20s)\n"; strings.Count(errOut.String(), want) != 1 {
		t.Errorf("stderr %q: want once %q", errOut.String(), want)
	}
}

func TestPodsDryRunYAML(t *testing.T) {
	o := testOptions(kfake.NewClientset(), &fakeKubelet{}, io.Discard)
	pods, err := Pods(&o)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := WriteYAML(&b, pods); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{"kind: Pod", "nodeName: n1", "nodeName: n2", "---", "pixie.dev/session: " + o.SessionID} {
		if !strings.Contains(out, want) {
			t.Errorf("YAML lacks %q:\n%s", want, out)
		}
	}
}
