package mapview

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/kubectl-pixie/kubectl-pixie/plugin/driver"
	"github.com/kubectl-pixie/kubectl-pixie/plugin/gate"
	"github.com/kubectl-pixie/kubectl-pixie/plugin/peers"
	"github.com/kubectl-pixie/kubectl-pixie/probes/api"
	"github.com/kubectl-pixie/kubectl-pixie/probes/api/stats"
)

// shopRows are the rows of two nodes' agents once the plugin named their
// peers: frontend calls the api Service and an external address, api
// calls redis; api and redis are traced, so their server rows count.
func shopRows() map[string][]stats.Endpoint {
	return map[string][]stats.Endpoint{
		"n1": {
			row("shop/frontend", "client", "shop/api", "", 30, 0, 1e6),
			row("shop/frontend", "client", "203.0.113.7:8080", "", 5, 1, 9e6),
			row("shop/api", "server", "shop/frontend", "", 12, 0, 1e6),
			row("shop/redis", "server", "shop/api", "redis", 40, 0, 1e5),
		},
		"n2": {
			row("shop/api", "server", "shop/frontend", "", 18, 0, 2e6),
			row("shop/api", "client", "shop/redis", "redis", 40, 0, 2e5),
		},
	}
}

// TestClusterMap: nodes merge; a request traced at both ends counts once
// (the responder's rows, when the client names it as the workload the
// server rows are named by); an unnamed address is an external node.
func TestClusterMap(t *testing.T) {
	var out bytes.Buffer
	v := New(&bytes.Buffer{}, Options{Output: OutputJSON, Window: 10 * time.Second}, nil)
	err := driver.Run(context.Background(), func(_ context.Context, emit func(string, []byte)) error {
		for _, n := range []string{"n1", "n2"} {
			emit(n, []byte(`{"table":"probe_ready","v":1,"probe":"trace"}`))
			b, _ := json.Marshal(api.HTTPStats{Header: api.Header{Table: api.TableHTTPStats}, Rows: shopRows()[n]})
			emit(n, b)
		}
		return nil
	}, v, driver.Options{Out: &out, JSON: true})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]uint64{}
	for l := range strings.SplitSeq(strings.TrimSpace(out.String()), "\n") {
		var r struct {
			Requestor string `json:"requestor_service"`
			Responder string `json:"responder_service"`
			Protocol  string `json:"protocol"`
			Requests  uint64 `json:"requests"`
		}
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			t.Fatal(err)
		}
		got[r.Requestor+" -> "+r.Responder+" "+r.Protocol] = r.Requests
	}
	want := map[string]uint64{
		"shop/frontend -> shop/api http":         30,
		"shop/api -> shop/redis redis":           40,
		"shop/frontend -> 203.0.113.7:8080 http": 5,
	}
	if len(got) != len(want) {
		t.Errorf("edges %v, want %v", got, want)
	}
	for k, n := range want {
		if got[k] != n {
			t.Errorf("edge %s: %d requests, want %d (edges %v)", k, got[k], n, got)
		}
	}

	// --fail-if on the map: a rule on one edge's numbers
	for rule, fires := range map[string]bool{
		`error_rate > 10% && requestor == "shop/frontend"`: true,
		`req > 40`:                       false,
		`total(req) >= 75`:               true,
		`p99 > 1s && responder =~ "api"`: false,
	} {
		r, err := gate.Parse(rule, GateSchema)
		if err != nil {
			t.Fatalf("%s: %v", rule, err)
		}
		if ok, why := r.Check(v.GateSource()); ok != fires {
			t.Errorf("%s fired %v (%s), want %v", rule, ok, why, fires)
		}
	}
}

// TestClusterMapServiceByWorkload: frontend calls the Service api-svc,
// which selects deployment api's pods. Named for the map, the client's
// row through the Service and the api's own server rows are one edge
// between two nodes, counted once; named for trace (the Service kept),
// they would be two.
func TestClusterMapServiceByWorkload(t *testing.T) {
	yes := true
	owner := func(kind, name string) []metav1.OwnerReference {
		return []metav1.OwnerReference{{Kind: kind, Name: name, Controller: &yes}}
	}
	pod := func(name, ip string, labels map[string]string, owners []metav1.OwnerReference) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: name, Labels: labels, OwnerReferences: owners},
			Status: corev1.PodStatus{PodIP: ip}}
	}
	apiLabels := map[string]string{"app": "api"}
	cs := fake.NewClientset(
		&appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "api-7d9", OwnerReferences: owner("Deployment", "api")}},
		pod("api-7d9-a", "10.244.1.5", apiLabels, owner("ReplicaSet", "api-7d9")),
		pod("api-7d9-b", "10.244.1.6", apiLabels, owner("ReplicaSet", "api-7d9")),
		pod("frontend", "10.244.2.9", map[string]string{"app": "frontend"}, nil),
		&corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "api-svc"},
			Spec: corev1.ServiceSpec{ClusterIP: "10.96.0.30", Selector: apiLabels}},
	)
	// The client resolved both through DNS: the cluster's name comes
	// first; the external address keeps the name DNS gave it.
	rows := map[string][]stats.Endpoint{
		"n1": {withDNS(row("shop/frontend", "client", "10.96.0.30:8080", "", 10, 0, 1e6), "api-svc.shop.svc.cluster.local"),
			withDNS(row("shop/frontend", "client", "198.51.100.7:443", "", 3, 0, 1e6), "pay.example.com")},
		"n2": {row("shop/api", "server", "10.244.2.9", "", 4, 0, 1e6)},
		"n3": {row("shop/api", "server", "10.244.2.9", "", 6, 0, 1e6)},
	}
	for byWorkload, want := range map[bool]string{
		true:  "[shop/frontend -> pay.example.com 3 shop/frontend -> shop/api 10]",
		false: "[shop/frontend -> pay.example.com 3 shop/frontend -> shop/api 10 shop/frontend -> shop/api-svc 10]",
	} {
		ctx, cancel := context.WithCancel(context.Background())
		c := peers.New(cs)
		if byWorkload {
			c.NameServicesByWorkload()
		}
		if err := c.Start(ctx, 10*time.Second); err != nil {
			t.Fatal(err)
		}
		v := New(&bytes.Buffer{}, Options{Output: OutputJSON}, nil)
		for _, n := range []string{"n1", "n2", "n3"} {
			b, _ := json.Marshal(api.HTTPStats{Header: api.Header{Table: api.TableHTTPStats}, Rows: rows[n]})
			v.Line(n, c.Annotate(b))
		}
		cancel()
		var got []string
		for _, e := range v.Edges() {
			got = append(got, fmt.Sprintf("%s -> %s %d", e.Requestor, e.Responder, e.Requests))
		}
		slices.Sort(got)
		if s := fmt.Sprint(got); s != want {
			t.Errorf("services named by workload %v: edges %s, want %s", byWorkload, s, want)
		}
	}
}

// TestClusterMapNamesLatePeers: the frontend pod's first rows came before
// the watch had its IP (10.244.1.5); named when the map is drawn, they are
// one edge with its named rows, not an edge from an address.
func TestClusterMapNamesLatePeers(t *testing.T) {
	names := func(peer string) (string, bool) {
		if peer == "10.244.1.5" {
			return "shop/frontend", true
		}
		return "", false
	}
	for _, c := range []struct {
		names func(string) (string, bool)
		want  map[string]uint64
	}{
		{names, map[string]uint64{"shop/frontend -> shop/api": 7}},
		{nil, map[string]uint64{"shop/frontend -> shop/api": 5, "10.244.1.5 -> shop/api": 2}},
	} {
		v := New(&bytes.Buffer{}, Options{Output: OutputJSON, PeerNames: c.names}, nil)
		for n, r := range map[string]stats.Endpoint{
			"n1": row("shop/api", "server", "10.244.1.5", "", 2, 0, 1e6),
			"n2": row("shop/api", "server", "shop/frontend", "", 5, 0, 2e6),
		} {
			b, _ := json.Marshal(api.HTTPStats{Header: api.Header{Table: api.TableHTTPStats}, Rows: []stats.Endpoint{r}})
			v.Line(n, b)
		}
		got := map[string]uint64{}
		for _, e := range v.Edges() {
			got[e.Requestor+" -> "+e.Responder] = e.Requests
		}
		if len(got) != len(c.want) {
			t.Errorf("edges %v, want %v", got, c.want)
		}
		for k, n := range c.want {
			if got[k] != n {
				t.Errorf("edges %v, want %v", got, c.want)
			}
		}
	}
}
