//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// TestCronJobExample runs examples/cronjob as written, in-cluster: the
// plugin image from the cluster's registry, the pod's own ServiceAccount
// token and no kubeconfig, the example's RBAC only. A Job made from the
// CronJob's template (`kubectl create job --from`) traces a deliberately
// slow api (300 ms a request) and exits 3, its --fail-if rule fired, after
// posting the summary to the webhook (a server of this test on the host).
func TestCronJobExample(t *testing.T) {
	e := setup(t)
	plugin := os.Getenv("PIXIE_E2E_PLUGIN_IMAGE")
	if plugin == "" {
		if os.Getenv("PIXIE_E2E_REQUIRE") == "1" {
			t.Fatal("no plugin image: PIXIE_E2E_PLUGIN_IMAGE is empty (make e2e pushes bin/plugin-image_*.tar)")
		}
		t.Skip("SKIP: needs the plugin image in the cluster (PIXIE_E2E_PLUGIN_IMAGE; make e2e)")
	}
	shop := e.namespace(t, nil)
	probes := e.namespace(t, map[string]string{"pod-security.kubernetes.io/enforce": "privileged", "pixie.dev/probe-namespace": "true"})

	// the slow api behind its Service, and a client calling it by name
	labels := map[string]string{"app": "api"}
	e.deploymentSpec(t, shop, "api", 1, labels, func(s *corev1.PodSpec) {
		s.Containers = []corev1.Container{e.app("serve", ":8080", "300ms")}
	})
	_, err := e.client.CoreV1().Services(shop).Create(context.Background(), &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "api"},
		Spec:       corev1.ServiceSpec{Selector: labels, Ports: []corev1.ServicePort{{Port: 8080, TargetPort: intstr.FromInt32(8080)}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	e.runPod(t, shop, "client", map[string]string{"app": "client"}, "get", "http://api:8080/api/orders", "1000", "100ms")
	hook := newWebhookSink(t) // on node 1's bridge, there once a pod runs on node 1

	_, err = e.client.CoreV1().Secrets(probes).Create(context.Background(), &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "pixie-gate-webhook"},
		StringData: map[string]string{"url": hook.url},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	e.kubectlApply(t, cronJobManifest(t, shop, probes, plugin, e.image))
	t.Cleanup(func() {
		_ = exec.Command(e.kubectl, "delete", "--ignore-not-found", "clusterrole/pixie-gate-read", "clusterrolebinding/pixie-gate-read").Run()
	})
	if out, err := exec.Command(e.kubectl, "-n", probes, "create", "job", "--from=cronjob/pixie-gate", "pixie-gate-now").CombinedOutput(); err != nil {
		t.Fatalf("kubectl create job --from: %v\n%s", err, out)
	}

	pod, code := e.jobExit(t, probes, "pixie-gate-now", 3*time.Minute)
	logs := e.podLogs(t, probes, pod)
	t.Logf("the Job's pod %s exited %d:\n%s", pod, code, logs)
	if code != 3 {
		t.Errorf("exit code %d, want 3 (a --fail-if rule fired)", code)
	}
	for _, want := range []string{`p99 > 250ms && endpoint =~ "^(GET|POST) /api/"`, "GET /api/orders", "fired"} {
		if !strings.Contains(logs, want) {
			t.Errorf("the Job's log lacks %q", want)
		}
	}
	if body := hook.last(); !strings.Contains(body, "/api/orders") {
		t.Errorf("the webhook got no summary naming /api/orders: %q", body)
	}
}

// cronJobManifest is examples/cronjob/cronjob.yaml for this cluster: its
// namespaces, this build's plugin image, a short window, and the probe
// namespace and image flags every test passes.
func cronJobManifest(t *testing.T, shop, probes, plugin, probe string) string {
	t.Helper()
	b, err := os.ReadFile("../../examples/cronjob/cronjob.yaml")
	if err != nil {
		t.Fatal(err)
	}
	m := string(b)
	indent := "                - "
	for _, r := range [][2]string{
		{"pixie-probes", probes},
		{"namespace: shop", "namespace: " + shop},
		{"--namespace=shop", "--namespace=" + shop},
		{"image: ghcr.io/kubectl-pixie/kubectl-pixie/kubectl-pixie:vX.Y.Z", "image: " + plugin},
		{indent + "--duration=1m\n", indent + "--duration=10s\n" +
			indent + "--probe-namespace=" + probes + "\n" +
			indent + "--image=" + probe + "\n" +
			indent + "--image-pull-policy=" + string(pullPolicy(probe)) + "\n"},
	} {
		if !strings.Contains(m, r[0]) {
			t.Fatalf("examples/cronjob/cronjob.yaml has no %q any more: update this test", r[0])
		}
		m = strings.ReplaceAll(m, r[0], r[1])
	}
	return m
}

// jobExit waits for the Job's pod to end and returns its name and exit code.
func (e *env) jobExit(t *testing.T, ns, job string, timeout time.Duration) (string, int32) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		list, err := e.client.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{LabelSelector: "job-name=" + job})
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range list.Items {
			for _, cs := range p.Status.ContainerStatuses {
				if cs.State.Terminated != nil {
					return p.Name, cs.State.Terminated.ExitCode
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the Job %s/%s did not end within %s: %+v", ns, job, timeout, list.Items)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// webhookSink is an HTTP server on the host that pods reach through node
// 1's bridge address (their gateway).
type webhookSink struct {
	url  string
	mu   sync.Mutex
	body string
}

func newWebhookSink(t *testing.T) *webhookSink {
	t.Helper()
	gw, err := bridgeAddr("pixiebr0")
	if err != nil {
		t.Fatalf("node 1's bridge: %v", err)
	}
	l, err := net.Listen("tcp", net.JoinHostPort(gw, "0"))
	if err != nil {
		t.Fatal(err)
	}
	w := &webhookSink{url: "http://" + l.Addr().String() + "/hook"}
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.mu.Lock()
		w.body = string(b)
		w.mu.Unlock()
	})}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	return w
}

func (w *webhookSink) last() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.body
}

// bridgeAddr is the IPv4 address of a host bridge.
func bridgeAddr(name string) (string, error) {
	ifc, err := net.InterfaceByName(name)
	if err != nil {
		return "", err
	}
	addrs, err := ifc.Addrs()
	if err != nil {
		return "", err
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil {
			return n.IP.String(), nil
		}
	}
	return "", fmt.Errorf("%s has no IPv4 address", name)
}
