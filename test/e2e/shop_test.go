//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os/exec"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// shopExternal is the "external" server's address: on the host's lo, in
// the pod range (pods route it to their node) but no node's or pod's.
const shopExternal = "10.244.250.77"

// TestShop: frontend (a Job of 2 pods, node 1) calls api (a Deployment of
// 3 on node 2) through the Service api's ClusterIP; batch (a Job of 1)
// calls an external server the test runs on the host. `map -n NS` and
// `trace -n NS`, run together, see exactly what the clients counted: the
// edges frontend->api and batch->external, the api's rows merged over its
// replicas and naming their caller, the requests' remote workloads.
func TestShop(t *testing.T) {
	e := setup(t)
	n1, n2, _ := e.threeNodes(t)
	ns := e.namespace(t, nil)
	served := externalServer(t)
	e.deploymentSpec(t, ns, "api", 3, map[string]string{"app": "api"}, func(s *corev1.PodSpec) { onNode(s, n2) })
	svc, err := e.client.CoreV1().Services(ns).Create(context.Background(), &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "api"},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "api"},
			Ports: []corev1.ServicePort{{Port: 8080, TargetPort: intstr.FromInt32(8080)}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	waitServing(t, "http://"+svc.Spec.ClusterIP+":8080/")

	const n, delay = 10, 30 * time.Second
	created := time.Now()
	frontend := e.clientJob(t, ns, "frontend", 2, n1, "http://"+svc.Spec.ClusterIP+":8080/cart", n, delay)
	batch := e.clientJob(t, ns, "batch", 1, n1, "http://"+shopExternal+":8080/report", n, delay)

	args := append([]string{"-n", ns, "--duration", "50s", "-o", "json"}, e.probeFlags(ns)...)
	mapRun := e.start(t, append([]string{"map"}, args...)...) // every pod of the namespace
	traceRun := e.start(t, append([]string{"trace", "-l", "app in (api,frontend,batch)"}, args...)...)
	mapRun.waitReady(t, []string{n1, n2}, 90*time.Second)
	traceRun.waitReady(t, []string{n1, n2}, 90*time.Second)
	if ready := time.Since(created); ready > delay-2*time.Second {
		t.Fatalf("the probes were ready %s after the clients started waiting (%s): they may have missed requests", ready, delay)
	}
	sent := map[string]int{}
	for _, p := range frontend {
		sent["frontend"] += e.clientDone(t, ns, p)
	}
	sent["batch"] = e.clientDone(t, ns, batch[0])
	if sent["frontend"] != 2*n || sent["batch"] != n || int(served.Load()) != n {
		t.Fatalf("clients made %v requests (want frontend %d, batch %d), the external server served %d", sent, 2*n, n, served.Load())
	}
	for name, r := range map[string]*started{"map": mapRun, "trace": traceRun} {
		if err := r.wait(t, 120*time.Second); err != nil {
			t.Fatalf("%s: %v\n%s", name, err, r.stderr.String())
		}
	}
	checkShopMap(t, ns, mapRun.stdout.String(), map[string]int{
		ns + "/frontend -> " + ns + "/api http":         sent["frontend"],
		ns + "/batch -> " + shopExternal + ":8080 http": sent["batch"],
	})
	checkShopTrace(t, ns, traceRun.stdout.String(), sent)
}

// checkShopMap compares the service_map records with the edges wanted.
func checkShopMap(t *testing.T, ns, out string, want map[string]int) {
	t.Helper()
	got := map[string]int{}
	for _, l := range lines(out) {
		var r struct {
			Table     string `json:"table"`
			Requestor string `json:"requestor_service"`
			Responder string `json:"responder_service"`
			Protocol  string `json:"protocol"`
			Requests  int    `json:"requests"`
		}
		if err := json.Unmarshal([]byte(l), &r); err != nil || r.Table != "service_map" {
			t.Fatalf("not a service_map record: %q (%v)", l, err)
		}
		got[r.Requestor+" -> "+r.Responder+" "+r.Protocol] += r.Requests
	}
	t.Logf("map of %s: %v", ns, got)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("map edges %v, want exactly %v", got, want)
	}
}

// checkShopTrace: the api's server rows are one workload naming its
// caller, the clients' rows name the Service and the external address,
// and every request the api served names the frontend's workload.
func checkShopTrace(t *testing.T, ns, out string, sent map[string]int) {
	t.Helper()
	rows := map[string]int{}
	remote := map[string]int{}
	for _, l := range lines(out) {
		var r struct {
			Table          string `json:"table"`
			Service        string `json:"service"`
			Role           string `json:"trace_role"`
			Peer           string `json:"peer"`
			Count          int    `json:"count"`
			RemoteWorkload string `json:"remote_workload"`
			RemoteNS       string `json:"remote_namespace"`
		}
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			t.Fatalf("not JSON: %q", l)
		}
		switch r.Table {
		case "http_summary":
			rows[r.Service+" "+r.Role+" "+r.Peer] += r.Count
		case "http_events":
			if r.Role == "server" {
				remote[r.RemoteNS+"/"+r.RemoteWorkload]++
			}
		}
	}
	t.Logf("trace rows %v, callers of the api's requests %v", rows, remote)
	for row, want := range map[string]int{
		ns + "/api server " + ns + "/frontend":         sent["frontend"],
		ns + "/frontend client " + ns + "/api":         sent["frontend"],
		ns + "/batch client " + shopExternal + ":8080": sent["batch"],
	} {
		if rows[row] != want {
			t.Errorf("row %q counts %d requests, the clients made %d (rows %v)", row, rows[row], want, rows)
		}
	}
	if len(rows) != 3 {
		t.Errorf("rows %v, want exactly 3 (one per workload endpoint)", rows)
	}
	if remote[ns+"/job/frontend"] != sent["frontend"] || len(remote) != 1 {
		t.Errorf("the api's requests name callers %v, want %s/job/frontend %d times", remote, ns, sent["frontend"])
	}
}

// clientJob runs a Job of parallel pods on node, each calling url n times
// after delay, and returns its pods' names once they run.
func (e *env) clientJob(t *testing.T, ns, name string, parallel int32, node, url string, n int, delay time.Duration) []string {
	t.Helper()
	zero, grace := int32(0), int64(1)
	labels := map[string]string{"app": name}
	spec := corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever, TerminationGracePeriodSeconds: &grace,
		Containers: []corev1.Container{e.app("get", url, strconv.Itoa(n), "100ms", delay.String())}}
	onNode(&spec, node)
	_, err := e.client.BatchV1().Jobs(ns).Create(context.Background(), &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: batchv1.JobSpec{Parallelism: &parallel, Completions: &parallel, BackoffLimit: &zero,
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: spec}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		list, err := e.client.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{LabelSelector: "app=" + name})
		var running []string
		for _, p := range list.Items {
			if p.Status.Phase == corev1.PodRunning {
				running = append(running, p.Name)
			}
		}
		if err == nil && len(running) == int(parallel) {
			return running
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %s: %d of %d pods running after 60s (%v)", name, len(running), parallel, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// externalServer serves HTTP on shopExternal:8080, an address it adds to
// lo for the test, and counts the requests.
func externalServer(t *testing.T) *atomic.Int64 {
	t.Helper()
	if out, err := exec.Command("ip", "addr", "add", shopExternal+"/32", "dev", "lo").CombinedOutput(); err != nil {
		t.Fatalf("ip addr add %s: %v: %s", shopExternal, err, out)
	}
	t.Cleanup(func() { _ = exec.Command("ip", "addr", "del", shopExternal+"/32", "dev", "lo").Run() })
	ln, err := net.Listen("tcp", shopExternal+":8080")
	if err != nil {
		t.Fatal(err)
	}
	var served atomic.Int64
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		served.Add(1)
		_, _ = w.Write([]byte("external\n"))
	})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return &served
}
