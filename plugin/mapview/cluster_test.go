package mapview

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/kubectl-pixie/kubectl-pixie/plugin/driver"
	"github.com/kubectl-pixie/kubectl-pixie/plugin/gate"
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
