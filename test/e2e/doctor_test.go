//go:build e2e

package e2e

import (
	"context"
	"net"
	"regexp"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// doctor proves the probe image on the cluster: a short pod pulls it and
// runs `pixie-agent version`; the row names the digest the node ran and
// the agent's findings (kernel, BTF, a tracepoint attach); the pod is gone.
func TestDoctorProvesImage(t *testing.T) {
	e := setup(t)
	ns := e.namespace(t, nil)
	r := e.pixie(t, 2*time.Minute, append([]string{"doctor"}, e.probeFlags(ns)...)...)
	if r.err != nil {
		t.Fatalf("doctor failed on the test cluster:\n%s", r)
	}
	image := regexp.MustCompile(`node \S+: probe image \(linux/amd64\)\s+ok\s+` + regexp.QuoteMeta(e.image) +
		`, (pulled in [0-9.]+s|already on the node|pull time unknown \(no events to read\)); ran (sha256:[0-9a-f]{64})`).FindStringSubmatch(r.stdout)
	if image == nil {
		t.Fatalf("no image row with the digest the node ran:\n%s", r)
	}
	if _, digest, ok := strings.Cut(e.image, "@"); ok && image[2] != digest {
		t.Errorf("the node ran %s, the image is pinned to %s", image[2], digest)
	}
	logEvents(t, e, ns)
	if !regexp.MustCompile(`node \S+: probe agent\s+ok\s+\S+ on Linux \S+ \(amd64\), BTF, BPF attach ok`).MatchString(r.stdout) {
		t.Errorf("no agent row with BTF and attach ok:\n%s", r)
	}
	assertNoDoctorPods(t, e, ns)
}

// An image the nodes cannot pull is a FAIL with the pull's cause and the
// image push remedy, and its pod is deleted too.
func TestDoctorMissingImage(t *testing.T) {
	e := setup(t)
	ns := e.namespace(t, nil)
	missing := "localhost/kubectl-pixie/absent:v0"
	if repo, _, ok := strings.Cut(e.image, "@"); ok { // the cluster's registry, a tag it does not have
		if i := strings.LastIndex(repo, ":"); i > strings.LastIndex(repo, "/") {
			repo = repo[:i] // without its tag
		}
		missing = repo + ":absent-tag"
	}
	r := e.pixie(t, 2*time.Minute, "doctor", "--probe-namespace", ns, "--image", missing, "--image-pull-policy", "IfNotPresent")
	if r.err == nil {
		t.Fatalf("doctor passed with an image no node can pull:\n%s", r)
	}
	if !regexp.MustCompile(`node \S+: probe image \(linux/amd64\)\s+FAIL\s+cannot pull ` + regexp.QuoteMeta(missing) + `: (ErrImagePull|ImagePullBackOff)`).MatchString(r.stdout) {
		t.Errorf("no FAIL row for the pull:\n%s", r)
	}
	if !strings.Contains(r.stderr, "kubectl pixie image push REGISTRY/REPO") {
		t.Errorf("no image push remedy:\n%s", r)
	}
	assertNoDoctorPods(t, e, ns)
	logEvents(t, e, ns)
}

// A registry that is down (nothing listens on its port): the node's pull
// fails with the runtime's connection error, doctor says the nodes cannot
// reach the registry, and the pod is deleted.
func TestDoctorRegistryDown(t *testing.T) {
	e := setup(t)
	ns := e.namespace(t, nil)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	host := l.Addr().String()
	l.Close() // the nodes share this host's network: nothing answers there now
	down := host + "/pixie/probe:v0"
	r := e.pixie(t, 2*time.Minute, "doctor", "--probe-namespace", ns, "--image", down, "--image-pull-policy", "IfNotPresent")
	if r.err == nil {
		t.Fatalf("doctor passed with a registry that is down:\n%s", r)
	}
	if !regexp.MustCompile(`node \S+: probe image \(linux/amd64\)\s+FAIL\s+cannot pull ` + regexp.QuoteMeta(down) + `: (ErrImagePull|ImagePullBackOff): .*connection refused`).MatchString(r.stdout) {
		t.Errorf("no FAIL row with the connection error:\n%s", r)
	}
	if !strings.Contains(r.stderr, "the nodes cannot reach the registry "+host) {
		t.Errorf("no remedy about reaching the registry:\n%s", r)
	}
	assertNoDoctorPods(t, e, ns)
	logEvents(t, e, ns)
}

// logEvents shows the kubelet's events of a test namespace: what the
// progress and doctor read (the recordings in plugin/session/testdata
// follow their wording).
func logEvents(t *testing.T, e *env, ns string) {
	t.Helper()
	evs, err := e.client.CoreV1().Events(ns).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Logf("events: %v", err)
		return
	}
	for _, ev := range evs.Items {
		t.Logf("event %s %s %s: %s", ev.InvolvedObject.Name, ev.Type, ev.Reason, ev.Message)
	}
}

func assertNoDoctorPods(t *testing.T, e *env, ns string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		l, err := e.client.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{LabelSelector: "pixie.dev/probe=doctor"})
		if err == nil && len(l.Items) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("doctor's image pods remain in %s: %v (err %v)", ns, l, err)
		}
		time.Sleep(500 * time.Millisecond)
	}
}
