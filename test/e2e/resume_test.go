//go:build e2e

package e2e

import (
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestStreamResumesAfterKubeletRestart breaks the probe pod's log stream in
// the middle of a run by restarting the kubelet (the container keeps
// running). The plugin reconnects and skips what it already has: every
// request of a bounded client is traced exactly once.
func TestStreamResumesAfterKubeletRestart(t *testing.T) {
	e := setup(t)
	restart := e.restartScript(t, e.node)
	ns := e.namespace(t, nil)
	server := e.runPod(t, ns, "server", map[string]string{"app": "server"}, "serve", ":8080")
	s := e.start(t, append([]string{"trace", "pod/server", "-n", ns, "--duration", "25s", "-o", "json"}, e.probeFlags(ns)...)...)
	s.waitStderr(t, " ready (", 90*time.Second)
	const n = 60 // 6 s of requests, the kubelet is down in the middle
	e.client1(t, ns, "client", server.Status.PodIP, "/resume", n, "0s")
	time.Sleep(2 * time.Second)
	out, err := exec.Command("bash", restart, "2", e.node).CombinedOutput()
	if err != nil {
		t.Fatalf("restarting the kubelet: %v\n%s", err, out)
	}
	t.Logf("%s", strings.TrimSpace(string(out)))
	ok := e.clientDone(t, ns, "client")
	if err := s.wait(t, 90*time.Second); err != nil {
		t.Fatalf("trace: %v\n%s", err, s.stderr.String())
	}
	if !strings.Contains(s.stderr.String(), "log stream from node "+e.node) {
		t.Errorf("the stream did not break, nothing was resumed; stderr:\n%s", s.stderr.String())
	}
	for _, l := range lines(s.stderr.String()) {
		if strings.Contains(l, "log stream") {
			t.Logf("stderr: %s", l)
		}
	}
	seen := map[uint64]bool{}
	for _, l := range lines(s.stdout.String()) {
		var r struct {
			Table string
			Seq   uint64
		}
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			t.Fatalf("not JSON: %q", l)
		}
		if r.Seq > 0 {
			if seen[r.Seq] {
				t.Errorf("record seq %d delivered twice", r.Seq)
			}
			seen[r.Seq] = true
		}
	}
	got := countEvents(t, s.stdout.String(), "server")["/resume"]
	t.Logf("traced %d of the client's %d requests across a kubelet restart", got, ok)
	if got != ok || ok != n {
		t.Errorf("traced %d requests, the client made %d (want %d)", got, ok, n)
	}
}
