//go:build e2e

package e2e

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/kubectl-pixie/kubectl-pixie/probes/api"
	"github.com/kubectl-pixie/kubectl-pixie/probes/api/vocab"
)

// shopExternal is the "external" server's address: on the host's lo, in
// the pod range (pods route it to their node) but no node's or pod's.
const shopExternal = "10.244.250.77"

// TestShop: frontend (a Job of 2 pods, node 1) calls api (a Deployment of
// 3 on node 2) through the Service api-svc's ClusterIP, and an external
// server the test runs on the host; for each request the api makes one
// Redis and one PostgreSQL call (Debian's redis-server and postgres, pods
// on node 1, behind Services), each on a connection of its own. Every
// client logs what it counted per server: requests, connections opened
// and closed, bytes written and read. `map -n NS` and `trace -n NS`, run
// together, must see exactly that: four edges, one row per workload
// endpoint with server rows naming their callers (PostgreSQL's come from
// the backends it forks per connection, named by its pod from the fork
// on), and conn_stats of both ends equal to the clients' counts, but for
// PostgreSQL's closes: the postmaster's close of the socket it handed to
// the backend counts as one more (README, Service map).
func TestShop(t *testing.T) {
	e := setup(t)
	n1, n2, _ := e.threeNodes(t)
	ns := e.namespace(t, nil)
	served := externalServer(t)
	sh := e.startShop(t, ns, n1, n2)

	const n, delay = 10, 30 * time.Second
	created := time.Now()
	frontend := e.clientJob(t, ns, "frontend", 2, n1, "http://"+sh.api+"/cart,http://"+shopExternal+":8080/report", n, delay)

	args := append([]string{"-n", ns, "--duration", "50s", "-o", "json"}, e.probeFlags(ns)...)
	mapRun := e.start(t, append([]string{"map"}, args...)...) // every pod of the namespace
	traceRun := e.start(t, append([]string{"trace", "-l", "app in (api,frontend,redis,postgres)"}, args...)...)
	mapRun.waitReady(t, []string{n1, n2}, 90*time.Second)
	traceRun.waitReady(t, []string{n1, n2}, 90*time.Second)
	if ready := time.Since(created); ready > delay-2*time.Second {
		t.Fatalf("the probes were ready %s after the clients started waiting (%s): they may have missed requests", ready, delay)
	}
	for _, p := range frontend {
		if ok := e.clientDone(t, ns, p); ok != 2*n {
			t.Fatalf("frontend pod %s made %d good requests, want %d:\n%s", p, ok, 2*n, e.podLogs(t, ns, p))
		}
	}
	counted := e.shopCounts(t, ns, sh)
	for edge, c := range counted {
		if c.requests != 2*n {
			t.Fatalf("clients counted %v, want %d requests on every edge (%s: %d)", counted, 2*n, edge, c.requests)
		}
	}
	if int(served.Load()) != 2*n {
		t.Fatalf("the external server served %d requests, want %d", served.Load(), 2*n)
	}
	for name, r := range map[string]*started{"map": mapRun, "trace": traceRun} {
		if err := r.wait(t, 120*time.Second); err != nil {
			t.Fatalf("%s: %v\n%s", name, err, r.stderr.String())
		}
	}
	checkShopMap(t, ns, mapRun.stdout.String(), map[string]int{
		ns + "/frontend -> " + ns + "/api http":                   counted["frontend -> api"].requests,
		ns + "/frontend -> " + shopExternal + ":8080 http":        counted["frontend -> external"].requests,
		ns + "/api -> " + ns + "/redis " + vocab.ProtocolRedis:    counted["api -> redis"].requests,
		ns + "/api -> " + ns + "/postgres " + vocab.ProtocolPgSQL: counted["api -> postgres"].requests,
	})
	out := traceRun.stdout.String()
	checkShopTrace(t, ns, out, counted)
	checkShopConns(t, e.shopPods(t, ns), sh, out, counted)
}

// shop is the ClusterIP:port of the shop's Services.
type shop struct{ api, redis, postgres string }

// startShop starts Redis and PostgreSQL on node db and the api on node
// api, each behind a Service (the api's named api-svc, unlike its
// workload), and waits until all three answer. The databases start first:
// their pulls and PostgreSQL's initdb overlap the api's start.
func (e *env) startShop(t *testing.T, ns, db, api string) shop {
	t.Helper()
	e.shopDatabases(t, ns, db)
	sh := shop{redis: e.service(t, ns, "redis", "redis", 6379), postgres: e.service(t, ns, "postgres", "postgres", 5432)}
	e.deploymentSpec(t, ns, "api", 3, map[string]string{"app": "api"}, func(s *corev1.PodSpec) {
		onNode(s, api)
		s.Containers = []corev1.Container{e.app("shop-api", ":8080", sh.redis, sh.postgres)}
	})
	sh.api = e.service(t, ns, "api-svc", "api", 8080)
	waitServing(t, "http://"+sh.api+"/") // not /cart: no database call before the probes
	for _, addr := range []string{sh.redis, sh.postgres} {
		waitTCP(t, addr, 90*time.Second)
	}
	return sh
}

// shopDatabases creates the Redis and PostgreSQL pods (initdb in an init
// container, as uid 999: postgres refuses root) without waiting.
func (e *env) shopDatabases(t *testing.T, ns, node string) {
	t.Helper()
	grace, uid := int64(1), int64(999)
	data := []corev1.VolumeMount{{Name: "data", MountPath: "/data"}}
	pgBin := func(args ...string) corev1.Container {
		return corev1.Container{Image: e.pg, ImagePullPolicy: pullPolicy(e.pg), Command: args, VolumeMounts: data,
			SecurityContext: &corev1.SecurityContext{RunAsUser: &uid, RunAsGroup: &uid}}
	}
	initdb, postgres := pgBin(shopPgBin+"/initdb", "-D", "/data/pg", "-U", "shop", "--auth=trust", "--no-locale", "-E", "UTF8", "--no-sync"),
		pgBin(shopPgBin+"/postgres", "-D", "/data/pg", "-c", "listen_addresses=*", "-c", "hba_file=/etc/postgresql/pg_hba.conf", "-k", "")
	initdb.Name, postgres.Name = "initdb", "postgres"
	pods := map[string]corev1.PodSpec{
		"redis": {Containers: []corev1.Container{{Name: "redis", Image: e.redis, ImagePullPolicy: pullPolicy(e.redis),
			Args: []string{"--port", "6379", "--protected-mode", "no", "--save", "", "--appendonly", "no"}}}},
		"postgres": {InitContainers: []corev1.Container{initdb}, Containers: []corev1.Container{postgres},
			Volumes: []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}},
	}
	for name, spec := range pods {
		spec.TerminationGracePeriodSeconds = &grace
		onNode(&spec, node)
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"app": name}}, Spec: spec}
		if _, err := e.client.CoreV1().Pods(ns).Create(context.Background(), p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
}

// shopPgBin is where build-db-images.sh put postgres and initdb.
var shopPgBin = func() string {
	if d := os.Getenv("PIXIE_E2E_POSTGRES_BIN"); d != "" {
		return d
	}
	bins, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	if len(bins) == 0 {
		return "/usr/lib/postgresql/15/bin"
	}
	return bins[len(bins)-1]
}()

// service creates a ClusterIP Service selecting app=app on port and
// returns its ClusterIP:port.
func (e *env) service(t *testing.T, ns, name, app string, port int32) string {
	t.Helper()
	svc, err := e.client.CoreV1().Services(ns).Create(context.Background(), &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"app": app},
			Ports: []corev1.ServicePort{{Port: port, TargetPort: intstr.FromInt32(port)}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return net.JoinHostPort(svc.Spec.ClusterIP, strconv.Itoa(int(port)))
}

// waitTCP waits until addr accepts a connection.
func waitTCP(t *testing.T, addr string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			_ = c.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s does not accept connections after %s: %v", addr, timeout, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
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

// checkShopTrace: one row per workload endpoint, the clients' naming the
// Service (api-svc), the databases and the external address, the
// servers' naming their callers' workloads, each with the requests the
// clients made; and every request the api served names the frontend.
func checkShopTrace(t *testing.T, ns, out string, counted map[string]peerCount) {
	t.Helper()
	rows := map[string]int{}
	remote := map[string]int{}
	for _, l := range lines(out) {
		var r struct {
			Table          string `json:"table"`
			Service        string `json:"service"`
			Role           string `json:"trace_role"`
			Peer           string `json:"peer"`
			Protocol       string `json:"protocol"`
			Count          int    `json:"count"`
			RemoteWorkload string `json:"remote_workload"`
			RemoteNS       string `json:"remote_namespace"`
		}
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			t.Fatalf("not JSON: %q", l)
		}
		switch r.Table {
		case "http_summary":
			rows[strings.TrimSpace(r.Service+" "+r.Role+" "+r.Peer+" "+r.Protocol)] += r.Count
		case "http_events":
			if r.Role == "server" {
				remote[r.RemoteNS+"/"+r.RemoteWorkload]++
			}
		}
	}
	t.Logf("trace rows %v, callers of the api's requests %v", rows, remote)
	web, redis, pg := counted["frontend -> api"].requests, counted["api -> redis"].requests, counted["api -> postgres"].requests
	want := map[string]int{
		ns + "/frontend client " + ns + "/api-svc":                    web,
		ns + "/api server " + ns + "/frontend":                        web,
		ns + "/frontend client " + shopExternal + ":8080":             counted["frontend -> external"].requests,
		ns + "/api client " + ns + "/redis " + vocab.ProtocolRedis:    redis,
		ns + "/redis server " + ns + "/api " + vocab.ProtocolRedis:    redis,
		ns + "/api client " + ns + "/postgres " + vocab.ProtocolPgSQL: pg,
		ns + "/postgres server " + ns + "/api " + vocab.ProtocolPgSQL: pg,
	}
	if fmt.Sprint(rows) != fmt.Sprint(want) {
		t.Errorf("trace rows (service role peer protocol: requests)\n%v\nwant exactly (one per workload endpoint)\n%v", rows, want)
	}
	if remote[ns+"/job/frontend"] != web || len(remote) != 1 {
		t.Errorf("the api's requests name callers %v, want %s/job/frontend %d times", remote, ns, web)
	}
}

// peerCount is what clients counted with a server, or what conn_stats
// holds for them.
type peerCount struct{ requests, opened, closed, sent, recv int }

func (p peerCount) add(q peerCount) peerCount {
	return peerCount{p.requests + q.requests, p.opened + q.opened, p.closed + q.closed, p.sent + q.sent, p.recv + q.recv}
}

// countRE is a client's line for one server (testapp's shop.go).
var countRE = regexp.MustCompile(`(?m)^(?:peer|call) (\S+) requests=(\d+) opened=(\d+) closed=(\d+) sent=(\d+) recv=(\d+)$`)

// edgeNames names the shop's servers by address.
func (sh shop) edgeNames() map[string]string {
	return map[string]string{sh.api: "api", sh.redis: "redis", sh.postgres: "postgres", shopExternal + ":8080": "external"}
}

// shopCounts sums what the frontend's and the api's pods logged, by edge
// ("frontend -> api", "api -> redis", ...).
func (e *env) shopCounts(t *testing.T, ns string, sh shop) map[string]peerCount {
	t.Helper()
	names := sh.edgeNames()
	counted := map[string]peerCount{}
	for _, p := range e.shopPods(t, ns).pods {
		app := p.Labels["app"]
		if app != "frontend" && app != "api" {
			continue
		}
		for _, m := range countRE.FindAllStringSubmatch(e.podLogs(t, ns, p.Name), -1) {
			var c peerCount
			for i, f := range []*int{&c.requests, &c.opened, &c.closed, &c.sent, &c.recv} {
				*f, _ = strconv.Atoi(m[2+i])
			}
			edge := app + " -> " + cmp.Or(names[m[1]], m[1])
			counted[edge] = counted[edge].add(c)
		}
	}
	t.Logf("the clients counted %+v", counted)
	if len(counted) != 4 {
		t.Fatalf("clients counted %v, want the edges frontend -> api, external and api -> redis, postgres", counted)
	}
	return counted
}

// shopPods are the namespace's pods, with their app label by UID and IP.
type shopPods struct {
	pods        []corev1.Pod
	byUID, byIP map[string]string
}

func (e *env) shopPods(t *testing.T, ns string) shopPods {
	t.Helper()
	list, err := e.client.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	s := shopPods{pods: list.Items, byUID: map[string]string{}, byIP: map[string]string{}}
	for _, p := range list.Items {
		s.byUID[string(p.UID)] = p.Labels["app"]
		s.byIP[p.Status.PodIP] = p.Labels["app"]
	}
	return s
}

// checkShopConns: the conn_stats rows of each edge's clients hold what the
// clients counted (connections opened and closed, bytes sent and
// received), and its servers' rows the same seen from the other end.
func checkShopConns(t *testing.T, pods shopPods, sh shop, out string, counted map[string]peerCount) {
	t.Helper()
	names := sh.edgeNames()
	got := map[string]peerCount{}
	var raw []string
	for _, l := range lines(out) {
		var r api.ConnStats
		if json.Unmarshal([]byte(l), &r) != nil || r.Table != api.TableConnStats {
			continue
		}
		raw = append(raw, l)
		app := cmp.Or(pods.byUID[r.PodUID], "pod "+r.PodUID)
		c := peerCount{opened: int(r.ConnOpen), closed: int(r.ConnClose), sent: int(r.BytesSent), recv: int(r.BytesRecv)}
		var key string
		switch r.TraceRole {
		case "client":
			addr := net.JoinHostPort(r.RemoteAddr, strconv.Itoa(int(r.RemotePort)))
			key = "client " + app + " -> " + cmp.Or(names[addr], addr)
		case "server":
			key = "server " + cmp.Or(pods.byIP[r.RemoteAddr], r.RemoteAddr) + " -> " + app
			c.sent, c.recv = c.recv, c.sent // as the client saw them
		default:
			key = r.TraceRole + " " + app + " " + r.RemoteAddr
		}
		got[key] = got[key].add(c)
	}
	want := map[string]peerCount{}
	for edge, c := range counted {
		c.requests = 0
		want["client "+edge] = c
		if !strings.HasSuffix(edge, "external") { // untraced
			want["server "+edge] = c
		}
	}
	// the postmaster's close of each socket it handed over (README)
	if pg, ok := got["server api -> postgres"]; ok && pg.closed == 2*pg.opened {
		pg.closed /= 2
		got["server api -> postgres"] = pg
	}
	t.Logf("conn_stats by edge %+v", got)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("conn_stats by edge (server rows: sent and received as their clients saw them)\n%+v\nwant what the clients counted\n%+v\nrows:\n%s",
			got, want, strings.Join(raw, "\n"))
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
