//go:build e2e

package e2e

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilrand "k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/kubectl-pixie/kubectl-pixie/plugin/podspec"
)

// env is the cluster the tests run against.
type env struct {
	client  kubernetes.Interface
	bin     string // kubectl-pixie
	kubectl string
	image   string   // the probe image, REGISTRY/REPO@sha256:DIGEST under make e2e
	testapp string   // the workload image (servers, clients)
	redis   string   // Debian's redis-server (TestShop)
	pg      string   // Debian's postgres and initdb (TestShop)
	node    string   // the untainted node
	nodes   []string // every node, by name
}

var (
	envOnce sync.Once
	theEnv  *env
	envErr  error
)

// setup returns the cluster, skipping loudly without KUBECONFIG (failing
// under `make e2e`, which sets PIXIE_E2E_REQUIRE=1). It registers the
// post-condition of every test: no probe pod remains.
func setup(t *testing.T) *env {
	t.Helper()
	if os.Getenv("KUBECONFIG") == "" {
		if os.Getenv("PIXIE_E2E_REQUIRE") == "1" {
			t.Fatal("KUBECONFIG is not set but PIXIE_E2E_REQUIRE=1")
		}
		t.Skip("SKIP: cluster e2e test needs KUBECONFIG (run `make e2e`)")
	}
	envOnce.Do(func() { theEnv, envErr = newEnv() })
	if envErr != nil {
		t.Fatal(envErr)
	}
	t.Cleanup(func() { assertNoProbePods(t, theEnv) })
	return theEnv
}

func newEnv() (*env, error) {
	cfg, err := clientcmd.BuildConfigFromFlags("", os.Getenv("KUBECONFIG"))
	if err != nil {
		return nil, err
	}
	c, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	e := &env{client: c, bin: os.Getenv("PIXIE_BIN"), kubectl: os.Getenv("PIXIE_KUBECTL"), image: os.Getenv("PIXIE_E2E_IMAGE")}
	if e.bin == "" {
		e.bin, _ = filepath.Abs("../../bin/kubectl-pixie")
	}
	if _, err := os.Stat(e.bin); err != nil {
		return nil, fmt.Errorf("plugin binary: %w (make build, or set PIXIE_BIN)", err)
	}
	if e.kubectl == "" {
		e.kubectl, _ = filepath.Abs("cluster/bin/kubectl")
	}
	if e.image == "" {
		e.image = "localhost/kubectl-pixie/probe:dev"
	}
	if e.testapp = os.Getenv("PIXIE_E2E_TESTAPP"); e.testapp == "" {
		e.testapp = "localhost/pixie/testapp:dev"
	}
	if e.redis = os.Getenv("PIXIE_E2E_REDIS"); e.redis == "" {
		e.redis = "localhost/pixie/redis:dev"
	}
	if e.pg = os.Getenv("PIXIE_E2E_POSTGRES"); e.pg == "" {
		e.pg = "localhost/pixie/postgres:dev"
	}
	nodes, err := c.CoreV1().Nodes().List(context.Background(), metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	if len(nodes.Items) == 0 {
		return nil, fmt.Errorf("the cluster has no node")
	}
	// Single-node tests run on the node without taints (the e2e cluster's
	// pixie-node-1): pods without tolerations land there.
	e.node = nodes.Items[0].Name
	for _, n := range nodes.Items {
		e.nodes = append(e.nodes, n.Name)
		if len(n.Spec.Taints) == 0 {
			e.node = n.Name
		}
	}
	return e, nil
}

// assertNoProbePods is the post-condition of every test: within 45 s (pods
// are deleted with a short grace period) no managed pod exists anywhere.
func assertNoProbePods(t *testing.T, e *env) {
	t.Helper()
	deadline := time.Now().Add(45 * time.Second)
	for {
		list, err := e.client.CoreV1().Pods("").List(context.Background(), metav1.ListOptions{LabelSelector: podspec.ManagedSelector})
		if err == nil && len(list.Items) == 0 {
			return
		}
		if time.Now().After(deadline) {
			var names []string
			if list != nil {
				for _, p := range list.Items {
					names = append(names, p.Namespace+"/"+p.Name+" ("+string(p.Status.Phase)+")")
				}
			}
			t.Errorf("probe pods remain after the test: %v (err %v)", names, err)
			// leave the cluster clean for the next test
			grace := int64(0)
			for _, p := range list.Items {
				_ = e.client.CoreV1().Pods(p.Namespace).Delete(context.Background(), p.Name, metav1.DeleteOptions{GracePeriodSeconds: &grace})
			}
			return
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// namespace creates a namespace for one test, deleted at its end.
func (e *env) namespace(t *testing.T, labels map[string]string) string {
	t.Helper()
	name := "e2e-" + strings.ToLower(utilrand.String(6))
	_, err := e.client.CoreV1().Namespaces().Create(context.Background(), &corev1.Namespace{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// the default service account must exist before pods can be created
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, err := e.client.CoreV1().ServiceAccounts(name).Get(context.Background(), "default", metav1.GetOptions{})
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no default service account in %s: %v", name, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Cleanup(func() {
		grace := int64(0)
		_ = e.client.CoreV1().Namespaces().Delete(context.Background(), name, metav1.DeleteOptions{GracePeriodSeconds: &grace})
	})
	return name
}

// result of a plugin run.
type result struct {
	stdout, stderr string
	err            error
	dur            time.Duration
}

func (r result) String() string {
	return fmt.Sprintf("err=%v\n--- stdout ---\n%s\n--- stderr ---\n%s", r.err, r.stdout, r.stderr)
}

// pixie runs the plugin to completion.
func (e *env) pixie(t *testing.T, timeout time.Duration, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, e.bin, args...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	start := time.Now()
	err := cmd.Run()
	r := result{stdout: out.String(), stderr: errOut.String(), err: err, dur: time.Since(start)}
	t.Logf("kubectl-pixie %s (%.1fs, err=%v)", strings.Join(args, " "), r.dur.Seconds(), err)
	return r
}

// probeFlags are the flags every probe-starting command gets in the tests.
func (e *env) probeFlags(ns string) []string {
	return []string{"--probe-namespace", ns, "--image", e.image, "--image-pull-policy", string(pullPolicy(e.image))}
}

// pullPolicy: an image named by digest is pulled from the cluster's registry
// once per node; one named by tag must have been imported into the node.
func pullPolicy(image string) corev1.PullPolicy {
	if strings.Contains(image, "@sha256:") {
		return corev1.PullIfNotPresent
	}
	return corev1.PullNever
}

// app is a container of the workload image running args.
func (e *env) app(args ...string) corev1.Container {
	return corev1.Container{Name: "app", Image: e.testapp, ImagePullPolicy: pullPolicy(e.testapp), Args: args}
}

// started is a plugin process running in the background.
type started struct {
	cmd    *exec.Cmd
	stdout *bytes.Buffer
	stderr *lockedBuffer
	done   chan error
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// start runs the plugin in the background.
func (e *env) start(t *testing.T, args ...string) *started {
	t.Helper()
	cmd := exec.Command(e.bin, args...)
	s := &started{cmd: cmd, stdout: &bytes.Buffer{}, stderr: &lockedBuffer{}, done: make(chan error, 1)}
	cmd.Stdout, cmd.Stderr = s.stdout, s.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { s.done <- cmd.Wait() }()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
		}
	})
	return s
}

// waitStderr waits until stderr contains want.
func (s *started) waitStderr(t *testing.T, want string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !strings.Contains(s.stderr.String(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("stderr has no %q after %s:\n%s", want, timeout, s.stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// wait waits for the process to exit.
func (s *started) wait(t *testing.T, timeout time.Duration) error {
	t.Helper()
	select {
	case err := <-s.done:
		return err
	case <-time.After(timeout):
		_ = s.cmd.Process.Kill()
		t.Fatalf("plugin did not exit within %s; stderr:\n%s", timeout, s.stderr.String())
		return nil
	}
}

// managedPods lists probe pods in ns ("" = all).
func (e *env) managedPods(t *testing.T, ns string) []corev1.Pod {
	t.Helper()
	list, err := e.client.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{LabelSelector: podspec.ManagedSelector})
	if err != nil {
		t.Fatal(err)
	}
	return list.Items
}

// runPod creates a pod from the test image and waits until it runs.
func (e *env) runPod(t *testing.T, ns, name string, labels map[string]string, args ...string) *corev1.Pod {
	t.Helper()
	return e.runPodOn(t, ns, name, "", labels, args...)
}

// runPodOn is runPod on a given node ("": wherever the scheduler puts it).
func (e *env) runPodOn(t *testing.T, ns, name, node string, labels map[string]string, args ...string) *corev1.Pod {
	t.Helper()
	grace := int64(1)
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: labels},
		Spec: corev1.PodSpec{
			TerminationGracePeriodSeconds: &grace,
			Containers:                    []corev1.Container{e.app(args...)},
		},
	}
	if node != "" {
		onNode(&p.Spec, node)
	}
	if _, err := e.client.CoreV1().Pods(ns).Create(context.Background(), p, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	return e.waitRunning(t, ns, name)
}

func (e *env) waitRunning(t *testing.T, ns, name string) *corev1.Pod {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		p, err := e.client.CoreV1().Pods(ns).Get(context.Background(), name, metav1.GetOptions{})
		if err == nil && p.Status.Phase == corev1.PodRunning && p.Status.PodIP != "" {
			return p
		}
		if time.Now().After(deadline) {
			t.Fatalf("pod %s/%s not running: %v %+v", ns, name, err, p.Status)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// kubectlApply pipes manifests into kubectl apply.
func (e *env) kubectlApply(t *testing.T, manifests string) string {
	t.Helper()
	cmd := exec.Command(e.kubectl, "apply", "-f", "-")
	cmd.Stdin = strings.NewReader(manifests)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("kubectl apply: %v\n%s\n--- manifests ---\n%s", err, out, manifests)
	}
	return string(out)
}

// podLogs returns a pod's log.
func (e *env) podLogs(t *testing.T, ns, name string) string {
	t.Helper()
	rc, err := e.client.CoreV1().Pods(ns).GetLogs(name, &corev1.PodLogOptions{}).Stream(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, _ := io.ReadAll(rc)
	return string(b)
}

// lines splits NDJSON output.
func lines(s string) []string {
	var out []string
	sc := bufio.NewScanner(strings.NewReader(s))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" {
			out = append(out, l)
		}
	}
	return out
}

// nodeReadyRE matches a node's line of the final progress block
// ("  NODE  tracing  ready (1.2s; image present)"), capturing the seconds.
func nodeReadyRE(node string) *regexp.Regexp {
	return regexp.MustCompile(`(?m)^\s*` + regexp.QuoteMeta(node) + `\s+\S+\s+ready \(([0-9.]+)s`)
}

// restartScript is the cluster's script that stops a node's kubelet for a
// while and starts it again (restart-kubelet.sh PAUSE NODE); tests that need
// it skip on other clusters.
func (e *env) restartScript(t *testing.T, node string) string {
	t.Helper()
	dir, _ := filepath.Abs("cluster")
	if d := os.Getenv("PIXIE_E2E_CLUSTER_DIR"); d != "" {
		dir = d
	}
	if _, err := os.Stat(filepath.Join(dir, "state/pids/kubelet-"+node+".pid")); err != nil {
		t.Skipf("SKIP: not the project's e2e cluster (no kubelet pid file): %v", err)
	}
	return filepath.Join(dir, "scripts/restart-kubelet.sh")
}

// extraTaint is the taint of the e2e cluster's nodes 2 and 3 (up.sh), so
// that pods without a toleration run on node 1.
const extraTaint = "pixie.dev/e2e-extra-node"

// onNode pins a pod to a node, tolerating the extra nodes' taint.
func onNode(spec *corev1.PodSpec, node string) {
	spec.NodeSelector = map[string]string{"kubernetes.io/hostname": node}
	spec.Tolerations = append(spec.Tolerations, corev1.Toleration{Key: extraTaint, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule})
}
