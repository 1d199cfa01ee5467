//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestTraceCounts is the main cluster scenario: clients call servers over the
// pod network; targeted by deployment (2 replicas), by label and by pod,
// the probe sees exactly the targeted requests, as many as the clients
// counted themselves, and none of an untargeted client.
func TestTraceCounts(t *testing.T) {
	e := setup(t)
	ns := e.namespace(t, nil)
	web := e.deployment(t, ns, "web", 2, map[string]string{"app": "web", "tier": "backend"})
	other := e.runPod(t, ns, "other", map[string]string{"app": "other"}, "serve", ":8080")
	const n = 10

	// server side: the probe is attached before the clients start
	for _, target := range [][]string{{"deploy/web"}, {"-l", "tier=backend"}} {
		t.Run(strings.Join(target, " "), func(t *testing.T) {
			args := append(append([]string{"trace"}, target...), "-n", ns, "--duration", "10s", "-o", "json")
			s := e.start(t, append(args, e.probeFlags(ns)...)...)
			s.waitStderr(t, " ready (", 90*time.Second)
			id := strings.ToLower(randID())
			pa, pb, pc := "/a-"+id, "/b-"+id, "/c-"+id
			e.client1(t, ns, "ca-"+id, web[0].Status.PodIP, pa, n, "0s")
			e.client1(t, ns, "cb-"+id, web[1].Status.PodIP, pb, n, "0s")
			e.client1(t, ns, "cc-"+id, other.Status.PodIP, pc, n, "0s") // untargeted
			oka, okb := e.clientDone(t, ns, "ca-"+id), e.clientDone(t, ns, "cb-"+id)
			e.clientDone(t, ns, "cc-"+id)
			if err := s.wait(t, 60*time.Second); err != nil {
				t.Fatalf("trace: %v\n%s", err, s.stderr.String())
			}
			got := countEvents(t, s.stdout.String(), "server")
			t.Logf("server-side events by path: %v (clients counted a=%d b=%d)", got, oka, okb)
			if got[pa] != oka || got[pb] != okb || oka != n || okb != n {
				t.Errorf("traced %d and %d requests, the clients made %d and %d (want %d each)", got[pa], got[pb], oka, okb, n)
			}
			if got[pc] != 0 {
				t.Errorf("%d requests of the untargeted client were traced", got[pc])
			}
		})
	}

	// client side: the client pod exists first and calls only once the
	// probe is attached (testapp caller, asked over HTTP)
	t.Run("pod/client", func(t *testing.T) {
		id := strings.ToLower(randID())
		pd, pe := "/d-"+id, "/e-"+id
		cd := e.runPod(t, ns, "cd-"+id, map[string]string{"app": "client"}, "caller", ":"+callerPort)
		ce := e.runPod(t, ns, "ce-"+id, map[string]string{"app": "client"}, "caller", ":"+callerPort) // untargeted, same server
		// Restricted mode templates the client-side paths (both read
		// /{id}); full data access, allowed by the probe namespace's
		// annotation, keeps them apart.
		e.allowFullData(t, ns)
		s := e.start(t, append([]string{"trace", "pod/cd-" + id, "-n", ns, "--duration", "12s", "-o", "json", "--data-access", "full"}, e.probeFlags(ns)...)...)
		s.waitStderr(t, " ready (", 90*time.Second)
		var okd int
		var wg sync.WaitGroup
		wg.Add(1)
		go func() { defer wg.Done(); okd = call(t, cd, "http://"+web[0].Status.PodIP+":8080"+pd, n, "100ms").ok }()
		call(t, ce, "http://"+web[0].Status.PodIP+":8080"+pe, n, "100ms")
		wg.Wait()
		if err := s.wait(t, 60*time.Second); err != nil {
			t.Fatalf("trace: %v\n%s", err, s.stderr.String())
		}
		got := countEvents(t, s.stdout.String(), "client")
		t.Logf("client-side events by path: %v (client counted %d)", got, okd)
		if got[pd] != okd || okd != n {
			t.Errorf("traced %d requests, the client made %d (want %d)", got[pd], okd, n)
		}
		if got[pe] != 0 {
			t.Errorf("%d requests of the untargeted client were traced", got[pe])
		}
		all := countEvents(t, s.stdout.String(), "server")
		for path := range all {
			if strings.HasPrefix(path, "/call?") { // the test asking the traced client to call
				delete(all, path)
			}
		}
		if len(all) != 0 {
			t.Errorf("server-side events of an untargeted server: %v", all)
		}
	})
}

// callerPort is where `testapp caller` listens for /call.
const callerPort = "8082"

// called is what a caller pod answered: its own count of successful
// requests and the latency it measured of each, in order.
type called struct {
	ok  int
	lat []int64
	out string
}

var latencyRE = regexp.MustCompile(`(?m)^latency (\d+) (\d+)$`)

// call asks a caller pod (from this host, by its IP) to GET url n times,
// one every interval, and waits for its answer.
func call(t *testing.T, caller *corev1.Pod, url string, n int, interval string) called {
	t.Helper()
	q := fmt.Sprintf("http://%s:%s/call?url=%s&n=%d&interval=%s", caller.Status.PodIP, callerPort, url, n, interval)
	c := &http.Client{Timeout: 2 * time.Minute}
	resp, err := c.Get(q)
	if err != nil {
		t.Errorf("asking %s to call: %v", caller.Name, err)
		return called{}
	}
	b, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	r := called{out: string(b)}
	if m := doneRE.FindStringSubmatch(r.out); m != nil {
		r.ok, _ = strconv.Atoi(m[1])
	}
	for _, m := range latencyRE.FindAllStringSubmatch(r.out, -1) {
		ns, _ := strconv.ParseInt(m[2], 10, 64)
		r.lat = append(r.lat, ns)
	}
	if resp.StatusCode != http.StatusOK || r.ok != n || len(r.lat) != n {
		t.Errorf("%s made %d of %d calls (%s):\n%s", caller.Name, r.ok, n, resp.Status, r.out)
	}
	return r
}

// randID is a random word of letters: paths and names made with it stay
// apart per run, and restricted mode never templates them (a digit-heavy
// segment such as w0-18727u becomes {id}, and the tests lost their paths).
func randID() string {
	const letters = "abcdefghijklmnopqrstuvwxyz"
	b := make([]byte, 7)
	for i := range b {
		b[i] = letters[rand.IntN(len(letters))]
	}
	return string(b)
}

// countEvents counts http_events of a trace role by request path.
func countEvents(t *testing.T, ndjson, role string) map[string]int {
	t.Helper()
	got := map[string]int{}
	for _, l := range lines(ndjson) {
		var r struct {
			Table, Node string
			TraceRole   string `json:"trace_role"`
			ReqPath     string `json:"req_path"`
		}
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			t.Fatalf("not JSON: %q", l)
		}
		if r.Table == "http_events" && r.TraceRole == role {
			got[r.ReqPath]++
		}
	}
	return got
}

// client1 starts a bounded client (restartPolicy Never) that GETs url n times.
func (e *env) client1(t *testing.T, ns, name, ip, path string, n int, delay string) {
	t.Helper()
	e.clientOn(t, ns, name, "", ip, path, n, delay)
}

// clientOn is client1 on a given node ("": wherever the scheduler puts it).
func (e *env) clientOn(t *testing.T, ns, name, node, ip, path string, n int, delay string) {
	t.Helper()
	e.clientURLsOn(t, ns, name, node, []string{fmt.Sprintf("http://%s:8080%s", ip, path)}, n, delay)
}

// clientURLsOn is clientOn calling each of urls in turn, n rounds.
func (e *env) clientURLsOn(t *testing.T, ns, name, node string, urls []string, n int, delay string) {
	t.Helper()
	grace := int64(1)
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: map[string]string{"app": "client"}},
		Spec: corev1.PodSpec{
			RestartPolicy:                 corev1.RestartPolicyNever,
			TerminationGracePeriodSeconds: &grace,
			Containers:                    []corev1.Container{e.app("get", strings.Join(urls, ","), strconv.Itoa(n), "100ms", delay)},
		},
	}
	if node != "" {
		onNode(&p.Spec, node)
	}
	if _, err := e.client.CoreV1().Pods(ns).Create(context.Background(), p, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if delay != "0s" {
		e.waitRunning(t, ns, name)
	}
}

var doneRE = regexp.MustCompile(`done: (\d+)/(\d+) ok`)

// clientDone waits for a client to finish and returns its own count of
// successful requests.
func (e *env) clientDone(t *testing.T, ns, name string) int {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for {
		p, err := e.client.CoreV1().Pods(ns).Get(context.Background(), name, metav1.GetOptions{})
		if err == nil && (p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("client %s did not finish", name)
		}
		time.Sleep(200 * time.Millisecond)
	}
	m := doneRE.FindStringSubmatch(e.podLogs(t, ns, name))
	if m == nil {
		t.Fatalf("client %s: no count in its log:\n%s", name, e.podLogs(t, ns, name))
	}
	ok, _ := strconv.Atoi(m[1])
	return ok
}

// deployment creates an HTTP server deployment and returns its running pods.
func (e *env) deployment(t *testing.T, ns, name string, replicas int32, labels map[string]string) []corev1.Pod {
	t.Helper()
	return e.deploymentSpec(t, ns, name, replicas, labels, nil)
}

// deploymentSpec is deployment with its pod spec changed by edit (if set).
func (e *env) deploymentSpec(t *testing.T, ns, name string, replicas int32, labels map[string]string, edit func(*corev1.PodSpec)) []corev1.Pod {
	t.Helper()
	grace := int64(1)
	spec := corev1.PodSpec{TerminationGracePeriodSeconds: &grace, Containers: []corev1.Container{e.app("serve", ":8080")}}
	if edit != nil {
		edit(&spec)
	}
	_, err := e.client.AppsV1().Deployments(ns).Create(context.Background(), &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: spec},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// before the namespace goes, or the controller recreates the pods
	t.Cleanup(func() {
		_ = e.client.AppsV1().Deployments(ns).Delete(context.Background(), name, metav1.DeleteOptions{})
	})
	sel := metav1.FormatLabelSelector(&metav1.LabelSelector{MatchLabels: labels})
	deadline := time.Now().Add(90 * time.Second)
	for {
		list, err := e.client.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{LabelSelector: sel})
		if err != nil {
			t.Fatal(err)
		}
		var running []corev1.Pod
		for _, p := range list.Items {
			if p.Status.Phase == corev1.PodRunning && p.Status.PodIP != "" && len(p.Status.ContainerStatuses) > 0 && p.Status.ContainerStatuses[0].ContainerID != "" {
				running = append(running, p)
			}
		}
		if len(running) == int(replicas) {
			return running
		}
		if time.Now().After(deadline) {
			t.Fatalf("deployment %s: %d of %d pods running", name, len(running), replicas)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
