package session

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	kfake "k8s.io/client-go/kubernetes/fake"

	"github.com/kubectl-pixie/kubectl-pixie/plugin/target"
)

// The fake API server's watches panic when their buffer fills: room for
// the creation, status and deletion of 500 pods. Set before any test
// starts a goroutine that reads it.
func init() { watch.DefaultChanSize = 4096 }

// nodeNames returns node-000 .. node-(n-1).
func nodeNames(n int) []target.Node {
	out := make([]target.Node, n)
	for i := range out {
		out[i] = target.Node{Name: fmt.Sprintf("node-%03d", i), All: true}
	}
	return out
}

// runnerWith builds a runner whose nodes are in the given states, with
// the given failure reasons (by node index).
func runnerWith(probe string, states []nodeState, reasons map[int]string) *runner {
	t0 := time.Date(2026, 12, 6, 23, 0, 0, 0, time.UTC)
	s := &runner{o: &Options{Probe: probe}, nodes: map[string]*node{}, now: func() time.Time { return t0.Add(3 * time.Second) }}
	for i, st := range states {
		name := fmt.Sprintf("node-%03d", i)
		s.nodes[name] = &node{state: st, reason: reasons[i], ready: 1200 * time.Millisecond, created: t0}
		s.order = append(s.order, name)
	}
	return s
}

func TestStatusLineSummarisesOverTenNodes(t *testing.T) {
	states := make([]nodeState, 500)
	reasons := map[int]string{}
	for i := range states {
		switch {
		case i < 412:
			states[i] = stateReady
		case i < 492:
			states[i] = stateStarting
		case i < 497:
			states[i], reasons[i] = stateFailed, "ImagePullBackOff"
		case i < 499:
			states[i], reasons[i] = stateFailed, "start timeout"
		default:
			states[i], reasons[i] = stateFailed, "deleted"
		}
	}
	got := runnerWith("trace", states, reasons).statusLine()
	want := "probe pods: 412 tracing, 80 starting, 8 failed (ImagePullBackOff on 5 nodes: node-492, node-493, node-494, ...; " +
		"start timeout on 2 nodes: node-497, node-498; deleted on 1 node: node-499)"
	if got != want {
		t.Errorf("status line\n got %q\nwant %q", got, want)
	}
	s := runnerWith("trace", states, reasons)
	for i := 412; i < 462; i++ {
		s.nodes[fmt.Sprintf("node-%03d", i)].progress.phase = phasePulling
	}
	if got, want := s.statusLine(), "probe pods: 412 tracing, 50 pulling image, 30 starting, 8 failed ("; !strings.HasPrefix(got, want) {
		t.Errorf("status line %q, want it to start %q", got, want)
	}
	got = runnerWith("profile", states[:11], nil).statusLine()
	if want := "probe pods: 11 profiling"; got != want {
		t.Errorf("all running: got %q, want %q", got, want)
	}
}

func TestStatusLinesOnePerNodeUpToTen(t *testing.T) {
	states := []nodeState{stateReady, stateStarting, stateFailed, stateDone, stateReady, stateReady, stateReady, stateReady, stateReady, stateReady}
	s := runnerWith("trace", states, map[int]string{2: "ImagePullBackOff"})
	for i, name := range s.order {
		if states[i] == stateReady || states[i] == stateDone {
			s.nodes[name].progress.phase = phaseRunning
		}
	}
	s.nodes["node-001"].progress.phase = phaseAttaching
	s.nodes["node-004"].progress.phase = phaseAttaching
	got := strings.Join(s.statusLines(), "\n")
	want := `probe pods:
  node-000  tracing  ready (1.2s)
  node-001  attaching probes  3.0s
  node-002  failed: ImagePullBackOff
  node-003  tracing  ready (1.2s)
  node-004  attaching probes  3.0s
  node-005  tracing  ready (1.2s)
  node-006  tracing  ready (1.2s)
  node-007  tracing  ready (1.2s)
  node-008  tracing  ready (1.2s)
  node-009  tracing  ready (1.2s)`
	if got != want {
		t.Errorf("progress\n got %s\nwant %s", got, want)
	}
}

// A session of 500 nodes, 20 of which cannot pull the image, prints one
// progress line (not one per node) that groups the failures, and its
// error names the reason once, not 20 times.
func TestRunFiveHundredNodesOneProgressLine(t *testing.T) {
	client := kfake.NewClientset()
	k := &fakeKubelet{client: client, conns: map[string]int{}, records: 2, final: true, steady: true}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	bad := map[string]bool{}
	for i := 0; i < 20; i++ {
		bad[fmt.Sprintf("node-%03d", 25*i+7)] = true
	}
	go pullingKubelet(ctx, t, client, bad)
	var errOut strings.Builder
	o := testOptions(client, k, &syncWriter{w: &errOut})
	o.Targets = nodeNames(500)
	o.PodRunningTimeout = 30 * time.Second
	res, err := Run(context.Background(), o, func(Line) {})
	if err == nil || res.Failed() != 20 {
		t.Fatalf("err %v, failed %d: want 20 nodes failed", err, res.Failed())
	}
	wantErr := "node node-007 cannot pull probe image localhost/kubectl-pixie/probe:dev (ImagePullBackOff: back-off pulling image)\n" +
		"  copy the image into a registry your nodes can reach: kubectl pixie image push REGISTRY/REPO,\n" +
		"  then pass the --image it prints (or set PIXIE_IMAGE); `kubectl pixie doctor` checks every node\n" +
		"  the same (ImagePullBackOff) on 19 more nodes: node-032, node-057, node-082, ...\n" +
		"  the other 480 of 500 nodes were probed; results are partial"
	if err.Error() != wantErr {
		t.Errorf("error\n got %q\nwant %q", err, wantErr)
	}
	var progress []string
	for _, l := range strings.Split(errOut.String(), "\n") {
		if strings.HasPrefix(l, "probe pods:") {
			progress = append(progress, l)
		}
	}
	want := "probe pods: 480 tracing, 20 failed (ImagePullBackOff on 20 nodes: node-007, node-032, node-057, ...)"
	if len(progress) != 1 || progress[0] != want {
		t.Errorf("progress lines %q, want exactly [%q]", progress, want)
	}
	if n := strings.Count(errOut.String(), "\n"); n > 5 {
		t.Errorf("%d lines on stderr for 500 nodes:\n%s", n, errOut.String())
	}
}

// pullingKubelet starts every created probe pod, except on the bad nodes
// where the image pull backs off.
func pullingKubelet(ctx context.Context, t *testing.T, client *kfake.Clientset, bad map[string]bool) {
	w, err := client.CoreV1().Pods("pixie").Watch(ctx, metav1.ListOptions{})
	if err != nil {
		t.Error(err)
		return
	}
	for ev := range w.ResultChan() {
		p, ok := ev.Object.(*corev1.Pod)
		if !ok || ev.Type != watch.Added {
			continue
		}
		p = p.DeepCopy()
		state := corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}
		if bad[p.Spec.NodeName] {
			state = corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ImagePullBackOff", Message: "back-off pulling image"}}
		} else {
			p.Status.Phase = corev1.PodRunning
		}
		p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "probe", ContainerID: "containerd://x", State: state}}
		_, _ = client.CoreV1().Pods("pixie").UpdateStatus(ctx, p, metav1.UpdateOptions{})
	}
}
