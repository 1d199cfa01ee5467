package session

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	kfake "k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/kubectl-pixie/kubectl-pixie/plugin/target"
)

var update = flag.Bool("update", false, "rewrite the golden files of the progress tests")

// progressScript is a recorded start-up: the pod statuses and kubelet
// events a watch delivered, and the records that came, each at its time
// from the creation of the pods.
type progressScript struct {
	Probe string            `json:"probe"`
	Image string            `json:"image"`
	Nodes map[string]string `json:"nodes"` // node -> pod name
	Steps []struct {
		At     string        `json:"at"`
		Pod    *corev1.Pod   `json:"pod"`
		Event  *corev1.Event `json:"event"`
		Record *struct {
			Node  string `json:"node"`
			Table string `json:"table"`
		} `json:"record"`
		Tick bool `json:"tick"`
	} `json:"steps"`
}

// replay feeds a recorded start-up to a runner on a fake clock and returns
// what a terminal shows after each step, what piped stderr got and the
// run's error.
func replay(t *testing.T, file string) string {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var sc progressScript
	if err := json.Unmarshal(b, &sc); err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 12, 6, 23, 0, 0, 0, time.UTC)
	clock := t0
	var piped bytes.Buffer
	o := &Options{Probe: sc.Probe, ErrOut: &piped, now: func() time.Time { return clock }}
	o.Pod.Image = sc.Image
	s := newRunner(o, &Result{})
	s.tty = false // the blocks are taken with statusLines; ErrOut gets what a pipe gets
	names := make([]string, 0, len(sc.Nodes))
	for name := range sc.Nodes {
		names = append(names, name)
	}
	for _, name := range sortedStrings(names) {
		n := &node{target: target.Node{Name: name}, state: stateStarting, created: t0, name: sc.Nodes[name], stream: newStream(name)}
		s.nodes[name], s.byPod[n.name] = n, n
		s.order = append(s.order, name)
		s.advance(n, phaseScheduled)
	}
	var out strings.Builder
	for _, st := range sc.Steps {
		d, err := time.ParseDuration(st.At)
		if err != nil {
			t.Fatal(err)
		}
		clock = t0.Add(d)
		what := "tick"
		switch {
		case st.Pod != nil:
			s.update(st.Pod, watch.Modified)
			what = "pod " + st.Pod.Name + " " + podState(st.Pod)
		case st.Event != nil:
			s.onKubeEvent(st.Event)
			what = fmt.Sprintf("event %s %s: %s", st.Event.InvolvedObject.Name, st.Event.Reason, st.Event.Message)
		case st.Record != nil:
			s.deliver(Line{Node: st.Record.Node, Table: st.Record.Table}, func(Line) {})
			what = "record " + st.Record.Table + " from " + st.Record.Node
		}
		s.printStatus(false)
		fmt.Fprintf(&out, "[+%s] %s\n%s\n", d, what, strings.Join(s.statusLines(), "\n"))
	}
	if s.settled() {
		s.settle(func(Line) {})
	}
	s.finish()
	fmt.Fprintf(&out, "--- piped stderr ---\n%s--- error ---\n%v\n", piped.String(), s.joined())
	return out.String()
}

func podState(p *corev1.Pod) string {
	if cs := probeStatus(p); cs != nil {
		switch {
		case cs.State.Waiting != nil:
			return "waiting " + cs.State.Waiting.Reason
		case cs.State.Running != nil:
			return "running"
		}
	}
	return string(p.Status.Phase)
}

func sortedStrings(s []string) []string {
	for i := range s {
		for j := i + 1; j < len(s); j++ {
			if s[j] < s[i] {
				s[i], s[j] = s[j], s[i]
			}
		}
	}
	return s
}

func checkGolden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", "progress", name+".golden")
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -run %s -update to write it)", err, t.Name())
	}
	if got != string(want) {
		t.Errorf("progress differs from %s (-update rewrites it after review):\n--- got ---\n%s\n--- want ---\n%s", path, got, want)
	}
}

// A pull that takes 12 s: the node shows "pulling image", then after 10 s
// says the pull is slow with the kubelet's last word, then its pull time;
// the node whose image was present is tracing meanwhile.
func TestProgressGoldenSlowPull(t *testing.T) {
	checkGolden(t, "pull-12s", replay(t, "testdata/progress/pull-12s.json"))
}

// An image that does not exist: ImagePullBackOff fails the node with the
// pull's cause (from the kubelet's Failed event) and the remedy.
func TestProgressGoldenImagePullBackOff(t *testing.T) {
	checkGolden(t, "image-pull-backoff", replay(t, "testdata/progress/image-pull-backoff.json"))
}

// Pod Security admission rejects the probe pod: the run stops at the first
// node with the remedy, and nothing is left to delete.
func TestProgressGoldenPodSecurityRejection(t *testing.T) {
	b, err := os.ReadFile("testdata/progress/psa-rejection.json")
	if err != nil {
		t.Fatal(err)
	}
	var status metav1.Status
	if err := json.Unmarshal(b, &status); err != nil {
		t.Fatal(err)
	}
	client := kfake.NewClientset()
	client.PrependReactor("create", "pods", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, &apierrors.StatusError{ErrStatus: status}
	})
	var errOut bytes.Buffer
	o := testOptions(client, &fakeKubelet{client: client, conns: map[string]int{}}, &errOut)
	o.Namespace, o.SessionID = "pixie-probes", "k2x9rq4mtl"
	o.Targets = []target.Node{{Name: "worker-1", All: true}, {Name: "worker-2", All: true}}
	res, err := Run(context.Background(), o, func(Line) { t.Error("a record from a rejected pod") })
	if res == nil || len(res.Nodes) != 1 {
		t.Fatalf("result %+v: want the run to stop at the first node", res)
	}
	checkGolden(t, "psa-rejection", fmt.Sprintf("--- stderr ---\n%s--- error ---\n%v\n", errOut.String(), err))
}

// On a terminal the block is redrawn in place, and a warning printed while
// it is shown goes above it, so neither breaks.
func TestProgressRedrawInPlace(t *testing.T) {
	var w bytes.Buffer
	t0 := time.Date(2026, 12, 6, 23, 0, 0, 0, time.UTC)
	s := newRunner(&Options{Probe: "trace", ErrOut: &w, now: func() time.Time { return t0 }}, &Result{})
	s.tty, s.width = true, 80
	for _, name := range []string{"a", "b"} {
		n := &node{target: target.Node{Name: name}, state: stateStarting, created: t0}
		s.nodes[name] = n
		s.order = append(s.order, name)
	}
	s.printStatus(false)
	first := w.String()
	if want := "probe pods:\x1b[K\n  a  creating  0.0s\x1b[K\n  b  creating  0.0s\x1b[K\n\x1b[J"; first != want {
		t.Errorf("first block %q, want %q", first, want)
	}
	w.Reset()
	s.warnf("warning: x\n")
	if want := "\r\x1b[3A\x1b[Jwarning: x\nprobe pods:\x1b[K\n"; !strings.HasPrefix(w.String(), want) {
		t.Errorf("warning during the block: %q, want it to start %q", w.String(), want)
	}
	w.Reset()
	s.printStatus(true)
	s.printStatus(false)
	if got := w.String(); strings.Count(got, "probe pods:") != 1 || !strings.HasPrefix(got, "\r\x1b[3A") {
		t.Errorf("final redraw %q: want one block, drawn over the last", got)
	}
	w.Reset()
	s.warnf("warning: y\n")
	if w.String() != "warning: y\n" {
		t.Errorf("after the final block a warning is a plain line, got %q", w.String())
	}
}

// Records are held while the block is redrawn on a terminal, and released
// in order once every node is tracing.
func TestProgressHoldsRecordsOnTerminal(t *testing.T) {
	var w bytes.Buffer
	t0 := time.Date(2026, 12, 6, 23, 0, 0, 0, time.UTC)
	s := newRunner(&Options{Probe: "trace", ErrOut: &w, now: func() time.Time { return t0 }}, &Result{})
	s.tty = true
	for _, name := range []string{"a", "b"} {
		s.nodes[name] = &node{target: target.Node{Name: name}, state: stateReady, created: t0}
		s.order = append(s.order, name)
	}
	var got []string
	emit := func(l Line) { got = append(got, l.Node+" "+l.Table) }
	s.deliver(Line{Node: "a", Table: "probe_ready"}, emit)
	s.deliver(Line{Node: "a", Table: "http_stats"}, emit)
	if len(got) != 0 || s.settled() {
		t.Fatalf("emitted %v before every node was tracing", got)
	}
	s.deliver(Line{Node: "b", Table: "probe_ready"}, emit)
	if !s.settled() {
		t.Fatal("not settled with every node tracing")
	}
	s.settle(emit)
	s.deliver(Line{Node: "b", Table: "http_stats"}, emit)
	if want := []string{"a probe_ready", "a http_stats", "b probe_ready", "b http_stats"}; strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("emitted %v, want %v", got, want)
	}
}
