//go:build unix

package cmd

import (
	"context"
	"os"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/kubernetes/fake"
)

// startKubelet marks every probe pod created in ns running, as a kubelet
// would, and closes started once the first one runs.
func startKubelet(t *testing.T, client *fake.Clientset, ns string, started chan<- struct{}) {
	w, err := client.CoreV1().Pods(ns).Watch(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)
	go func() {
		once := false
		for ev := range w.ResultChan() {
			p, ok := ev.Object.(*corev1.Pod)
			if !ok || ev.Type != watch.Added {
				continue
			}
			p.Status.Phase = corev1.PodRunning
			p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "probe", State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}}
			_, _ = client.CoreV1().Pods(ns).UpdateStatus(context.Background(), p, metav1.UpdateOptions{})
			if !once {
				once = true
				close(started)
			}
		}
	}()
}

// A closed terminal (SIGHUP), SIGQUIT, a closed pipe (SIGPIPE) and the
// usual Ctrl-C and SIGTERM all stop a cluster run the normal way: the
// command returns and the probe pods are deleted (before, SIGHUP, SIGQUIT
// and SIGPIPE killed the plugin and left the pods running up to an hour).
func TestStopSignalsDeleteProbePods(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGHUP, syscall.SIGQUIT, syscall.SIGPIPE, syscall.SIGINT, syscall.SIGTERM} {
		for _, c := range probeCommands {
			t.Run(c+"/"+sig.String(), func(t *testing.T) {
				client := fake.NewClientset()
				started := make(chan struct{})
				startKubelet(t, client, "pixie", started)
				run := clusterRun(c, client)
				done := make(chan error, 1)
				go func() { done <- run() }()
				select {
				case <-started:
				case err := <-done:
					t.Fatalf("ended before the pods ran: %v", err)
				case <-time.After(20 * time.Second):
					t.Fatal("probe pods never created")
				}
				time.Sleep(50 * time.Millisecond)
				if err := syscall.Kill(os.Getpid(), sig); err != nil {
					t.Fatal(err)
				}
				select {
				case <-done:
				case <-time.After(30 * time.Second):
					t.Fatalf("%v did not stop %s", sig, c)
				}
				pods, err := client.CoreV1().Pods("pixie").List(context.Background(), metav1.ListOptions{})
				if err != nil || len(pods.Items) != 0 {
					t.Fatalf("%d probe pods left after %v (%v)", len(pods.Items), sig, err)
				}
			})
		}
	}
}

// clusterRun returns the Run of command c against client, for the
// targets of memTargets, with a 1-minute window.
func clusterRun(c string, client *fake.Clientset) func() error {
	streams := genericiooptions.NewTestIOStreamsDiscard()
	set := func(ct *clusterTargets) {
		ct.targets, ct.client, ct.probeNS = memTargets(), client, "pixie"
		ct.Probe.Image = "localhost/probe:test"
	}
	switch c {
	case "trace":
		o := NewTraceOptions(streams)
		o.Duration, o.Quiet = time.Minute, true
		set(&o.clusterTargets)
		return func() error { return o.Run(context.Background()) }
	case "profile":
		o := NewProfileOptions(streams)
		o.Duration, o.Quiet = time.Minute, true
		set(&o.clusterTargets)
		return func() error { return o.Run(context.Background()) }
	}
	o := NewMemoryOptions(streams)
	o.Duration, o.Quiet = time.Minute, true
	set(&o.clusterTargets)
	return func() error { return o.Run(context.Background()) }
}
