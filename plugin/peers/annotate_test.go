package peers

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/kubectl-pixie/kubectl-pixie/probes/api"
	"github.com/kubectl-pixie/kubectl-pixie/probes/api/stats"
)

func shopCache(t *testing.T) *Cache {
	t.Helper()
	cs := fake.NewClientset(
		&appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "frontend-5c", OwnerReferences: owned("Deployment", "frontend")}},
		pod("shop", "frontend-5c-a", "10.244.1.5", owned("ReplicaSet", "frontend-5c")),
		pod("shop", "frontend-5c-b", "10.244.2.6", owned("ReplicaSet", "frontend-5c")),
		&corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "api"}, Spec: corev1.ServiceSpec{ClusterIP: "10.96.0.20"}},
		&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "worker-1"}, Status: corev1.NodeStatus{Addresses: []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "198.51.100.1"}}}},
	)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	c := New(cs)
	if err := c.Start(ctx, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	return c
}

// TestAnnotateRecords: per-request and conn_stats records get the remote_*
// columns of their remote address, with their header still first.
func TestAnnotateRecords(t *testing.T) {
	c := shopCache(t)
	for line, want := range map[string]api.RemoteNames{
		`{"table":"http_events","v":1,"remote_addr":"10.244.2.6","remote_port":41000,"trace_role":"server"}`: {RemotePod: "frontend-5c-b", RemoteWorkload: "deployment/frontend", RemoteNamespace: "shop"},
		`{"table":"redis_events","remote_addr":"10.96.0.20","remote_port":6379}`:                             {RemoteService: "api", RemoteNamespace: "shop"},
		`{"table":"conn_stats","remote_addr":"198.51.100.1","remote_port":10250,"bytes_sent":7}`:             {RemoteNode: "worker-1"},
		`{"table":"http_events","remote_addr":"192.0.2.9","remote_port":80}`:                                 {},
	} {
		got := c.Annotate([]byte(line))
		var r api.ConnStats
		if err := json.Unmarshal(got, &r); err != nil {
			t.Fatalf("%s: %v", got, err)
		}
		if r.RemoteNames != want || r.RemoteAddr == "" || string(got[:10]) != `{"table":"` {
			t.Errorf("Annotate(%s) = %s, want %+v", line, got, want)
		}
	}
	if got := string(c.Annotate([]byte(`{"table":"probe_ready"}`))); got != `{"table":"probe_ready"}` {
		t.Errorf("a record without an address changed: %s", got)
	}
}

// TestAnnotateRows: a client's server and a server's callers become names,
// so the rows of two replicas calling name one workload.
func TestAnnotateRows(t *testing.T) {
	c := shopCache(t)
	agg := stats.NewAggregator(stats.Config{})
	for _, o := range []stats.Observation{
		{Service: "shop/api", Role: "server", Method: "GET", Path: "/cart", Peer: "10.244.1.5", Status: 200, LatencyNs: 1},
		{Service: "shop/api", Role: "server", Method: "GET", Path: "/cart", Peer: "10.244.2.6", Status: 200, LatencyNs: 1},
		{Service: "shop/frontend", Role: "client", Method: "GET", Path: "/cart", Peer: "10.96.0.20:8080", Status: 200, LatencyNs: 1},
		{Service: "shop/frontend", Role: "client", Method: "GET", Path: "/x", Peer: "192.0.2.9:80", Status: 200, LatencyNs: 1},
	} {
		agg.Add(o)
	}
	line, _ := json.Marshal(api.HTTPStats{Header: api.Header{Table: api.TableHTTPStats}, Rows: agg.Drain()})
	var s api.HTTPStats
	if err := json.Unmarshal(c.Annotate(line), &s); err != nil {
		t.Fatal(err)
	}
	merged := stats.NewAggregator(stats.Config{})
	merged.Merge(s.Rows)
	got := map[string]uint64{}
	for _, r := range merged.Rows() {
		got[r.Service+" "+r.Role+" "+r.Peer] = r.Count
	}
	want := map[string]uint64{
		"shop/api server shop/frontend":     2,
		"shop/frontend client shop/api":     1,
		"shop/frontend client 192.0.2.9:80": 1,
	}
	if len(got) != len(want) {
		t.Errorf("rows %v, want %v", got, want)
	}
	for k, n := range want {
		if got[k] != n {
			t.Errorf("row %q = %d, want %d (rows %v)", k, got[k], n, got)
		}
	}
}

func TestCanListNamesWhatIsForbidden(t *testing.T) {
	cs := fake.NewClientset()
	cs.PrependReactor("list", "services", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewForbidden(corev1.Resource("services"), "", nil)
	})
	err := CanList(context.Background(), cs)
	if err == nil || !strings.Contains(err.Error(), "cannot list services") || !strings.Contains(err.Error(), "grant list and watch") {
		t.Errorf("CanList = %v", err)
	}
	if err := CanList(context.Background(), fake.NewClientset()); err != nil {
		t.Errorf("CanList with every right = %v", err)
	}
}

// TestBackend: a Service is its workload's only when its selector picks
// pods of exactly one workload; otherwise rows keep the Service's name.
func TestBackend(t *testing.T) {
	web := func(name, ip string, owners []metav1.OwnerReference) *corev1.Pod {
		p := pod("shop", name, ip, owners)
		p.Labels = map[string]string{"tier": "web"}
		return p
	}
	svc := func(name, ip string, sel map[string]string) *corev1.Service {
		return &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: name}, Spec: corev1.ServiceSpec{ClusterIP: ip, Selector: sel}}
	}
	cs := fake.NewClientset(
		&appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web-5c", OwnerReferences: owned("Deployment", "web")}},
		web("web-5c-a", "10.244.1.5", owned("ReplicaSet", "web-5c")),
		web("web-5c-b", "10.244.1.6", owned("ReplicaSet", "web-5c")),
		svc("web-svc", "10.96.0.30", map[string]string{"tier": "web"}),
		svc("external", "10.96.0.31", nil),
		svc("nothing", "10.96.0.32", map[string]string{"tier": "none"}),
	)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c := New(cs)
	c.NameServicesByWorkload()
	if err := c.Start(ctx, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	check := func(want map[string]string) {
		t.Helper()
		for ip, name := range want {
			if got, ok := c.PeerName(ip + ":80"); !ok || got != name {
				t.Errorf("peer %s named %q, want %q", ip, got, name)
			}
		}
	}
	check(map[string]string{"10.96.0.30": "shop/web", "10.96.0.31": "shop/external", "10.96.0.32": "shop/nothing"})
	// a bare pod joins web-svc's selection: two workloads, the Service's name
	if _, err := cs.CoreV1().Pods("shop").Create(ctx, web("debug", "10.244.1.9", nil), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, ok := c.Lookup("10.244.1.9"); ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the new pod was not seen within 10s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	check(map[string]string{"10.96.0.30": "shop/web-svc"})
	if n, _, _ := c.Names("10.96.0.30"); n.RemoteService != "web-svc" {
		t.Errorf("remote columns %+v: they name the Service whatever the rows say", n)
	}
}

// TestAnnotateObs: the observation a recording's request carries names
// its peer as the stats rows do; the rest of the line stays as it was.
func TestAnnotateObs(t *testing.T) {
	c := shopCache(t)
	line := `{"table":"http_events","seq":3,"obs":{"service":"shop/api","role":"server","method":"GET","path":"/}","peer":"10.244.2.6","status":200,"latency":5,"req_bytes":0,"resp_bytes":0,"time_":1},"remote_addr":"10.244.2.6","remote_port":41000}`
	got := c.Annotate([]byte(line))
	var h api.Header
	if err := json.Unmarshal(got, &h); err != nil || h.Obs == nil {
		t.Fatalf("%s: %v", got, err)
	}
	if h.Obs.Peer != "shop/frontend" || h.Obs.Path != "/}" || h.Seq != 3 || !strings.Contains(string(got), `"remote_port":41000,"remote_pod":"frontend-5c-b"`) {
		t.Errorf("Annotate(%s) = %s", line, got)
	}
	unknown := strings.ReplaceAll(line, "10.244.2.6", "192.0.2.9")
	if got := string(c.Annotate([]byte(unknown))); got != unknown {
		t.Errorf("an unknown peer changed: %s", got)
	}
}

// TestAnnotateRowsUnknownPeersAsIs: a record whose peers the cluster does
// not know (outside clients, loopback) comes back as it was, undecoded.
func TestAnnotateRowsUnknownPeersAsIs(t *testing.T) {
	c := shopCache(t)
	agg := stats.NewAggregator(stats.Config{})
	for _, peer := range []string{"192.0.2.9:80", "127.0.0.1", "::1"} {
		agg.Add(stats.Observation{Service: "shop/api", Role: "server", Method: "GET", Path: "/", Peer: peer, Status: 200, LatencyNs: 1})
	}
	line, _ := json.Marshal(api.HTTPStats{Header: api.Header{Table: api.TableHTTPStats}, Rows: agg.Drain()})
	if c.namesAnyPeer(line) {
		t.Errorf("a record of unknown peers would be decoded: %s", line)
	}
	if got := c.Annotate(line); !bytes.Equal(got, line) {
		t.Errorf("a record of unknown peers changed:\n%s\n%s", line, got)
	}
	if c.namesAnyPeer([]byte(`{"rows":[{"peer":"10.244.1.5"}]}`)) != true || c.namesAnyPeer([]byte(`{"rows":[{"peer":"a\"b"}]}`)) != true {
		t.Error("a known or unreadable peer does not lead to the decode")
	}
}
