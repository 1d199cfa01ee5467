package otlp

import (
	"testing"

	"go.opentelemetry.io/otel/trace"

	"github.com/kubectl-pixie/kubectl-pixie/probes/api"
	"github.com/kubectl-pixie/kubectl-pixie/probes/api/stats"
)

func conn(role string) api.ConnColumns {
	return api.ConnColumns{Time: 1e18, PID: 42, Comm: "app", LocalAddr: "10.0.0.2", LocalPort: 8080, RemoteAddr: "10.0.0.9", RemotePort: 5432, TraceRole: role, Latency: 2e6}
}

// TestDescribe: each protocol's observation becomes the span its semantic
// conventions describe, failing exactly when the table counts an error.
func TestDescribe(t *testing.T) {
	cases := []struct {
		name    string
		obs     stats.Observation
		span    string
		attrs   map[string]string
		errType string
	}{
		{"http server 200", stats.Observation{Method: "GET", Path: "/cart/12345?x=1", Status: 200},
			"GET /cart/{id}", map[string]string{"http.request.method": "GET", "url.path": "/cart/12345", "http.route": "/cart/{id}", "http.response.status_code": "200", "server.port": "8080", "client.address": "10.0.0.9"}, ""},
		{"http 503", stats.Observation{Method: "POST", Path: "/pay", Status: 503},
			"POST /pay", map[string]string{"http.response.status_code": "503"}, "503"},
		{"http no response", stats.Observation{Method: "GET", Path: "/slow"},
			"GET /slow", map[string]string{"http.route": "/slow"}, "no response"},
		{"http 404 is the client's", stats.Observation{Method: "GET", Path: "/x", Status: 404},
			"GET /x", map[string]string{"http.response.status_code": "404"}, ""},
		{"grpc unavailable", stats.Observation{Protocol: "grpc", Method: "/shop.Cart/Add", Class: "UNAVAILABLE"},
			"shop.Cart/Add", map[string]string{"rpc.system.name": "grpc", "rpc.method": "shop.Cart/Add", "rpc.response.status_code": "UNAVAILABLE"}, "UNAVAILABLE"},
		{"grpc ok", stats.Observation{Protocol: "grpc", Method: "/shop.Cart/Get", Class: "OK"},
			"shop.Cart/Get", map[string]string{"rpc.response.status_code": "OK"}, ""},
		{"grpc reset", stats.Observation{Protocol: "grpc", Method: "/shop.Cart/Get", Class: "err"},
			"shop.Cart/Get", nil, "no response"},
		{"redis error", stats.Observation{Protocol: "redis", Method: "GET", Class: "WRONGTYPE"},
			"GET", map[string]string{"db.system.name": "redis", "db.operation.name": "GET", "db.response.status_code": "WRONGTYPE"}, "WRONGTYPE"},
		{"pgsql", stats.Observation{Protocol: "pgsql", Method: "SELECT", Path: "SELECT * FROM t WHERE id = ?", Class: "OK"},
			"SELECT", map[string]string{"db.system.name": "postgresql", "db.query.text": "SELECT * FROM t WHERE id = ?"}, ""},
		{"mysql error", stats.Observation{Protocol: "mysql", Method: "INSERT", Class: "1146"},
			"INSERT", map[string]string{"db.system.name": "mysql", "db.response.status_code": "1146"}, "1146"},
		{"cql", stats.Observation{Protocol: "cql", Method: "SELECT", Class: "OK"},
			"SELECT", map[string]string{"db.system.name": "cassandra"}, ""},
		{"dns nxdomain", stats.Observation{Protocol: "dns", Method: "A", Path: "x.example", Class: "NXDOMAIN"},
			"DNS A", map[string]string{"dns.question.name": "x.example", "dns.question.type": "A", "dns.response_code": "NXDOMAIN"}, "NXDOMAIN"},
		{"amqp", stats.Observation{Protocol: "amqp", Method: "basic.publish", Path: "orders", Class: "OK"},
			"basic.publish orders", map[string]string{"messaging.system": "rabbitmq", "messaging.operation.name": "basic.publish", "messaging.destination.name": "orders"}, ""},
		{"amqp refused", stats.Observation{Protocol: "amqp", Method: "queue.declare", Path: "q", Class: "406"},
			"queue.declare q", nil, "406"},
		{"kafka", stats.Observation{Protocol: "kafka", Method: "Produce", Path: "t", Class: "UNKNOWN_TOPIC_OR_PARTITION"},
			"Produce t", map[string]string{"messaging.system": "kafka", "messaging.destination.name": "t"}, "UNKNOWN_TOPIC_OR_PARTITION"},
		{"nats", stats.Observation{Protocol: "nats", Method: "PUB", Path: "orders.*", Class: "OK"},
			"PUB orders.*", map[string]string{"messaging.system": "nats", "messaging.destination.name": "orders.*"}, ""},
	}
	for _, c := range cases {
		role := "server"
		if c.obs.Protocol != "" {
			role = "client"
		}
		ev := &event{ConnColumns: conn(role)}
		ev.Obs = &c.obs
		d := describe(ev)
		got := map[string]string{}
		for _, kv := range d.attrs {
			got[string(kv.Key)] = kv.Value.Emit()
		}
		if d.name != c.span || d.errType != c.errType || got["error.type"] != c.errType {
			t.Errorf("%s: span %q error %q (error.type %q), want %q error %q", c.name, d.name, d.errType, got["error.type"], c.span, c.errType)
		}
		for k, v := range c.attrs {
			if got[k] != v {
				t.Errorf("%s: %s = %q, want %q", c.name, k, got[k], v)
			}
		}
		if got["network.peer.address"] != "10.0.0.9" || got["network.peer.port"] != "5432" {
			t.Errorf("%s: peer %q:%q, want 10.0.0.9:5432", c.name, got["network.peer.address"], got["network.peer.port"])
		}
		if role == "client" && (got["server.address"] != "10.0.0.9" || got["server.port"] != "5432") {
			t.Errorf("%s: server %q:%q, want the remote end", c.name, got["server.address"], got["server.port"])
		}
	}
}

func TestPeerName(t *testing.T) {
	cases := map[api.RemoteNames]string{
		{RemotePod: "api-7d9-x2k", RemoteWorkload: "deployment/api", RemoteNamespace: "shop"}: "shop/api",
		{RemoteService: "redis", RemoteNamespace: "shop"}:                                     "shop/redis",
		{RemoteNode: "worker-1"}: "worker-1",
		{}:                       "",
	}
	for n, want := range cases {
		if got := peerName(n); got != want {
			t.Errorf("peerName(%+v) = %q, want %q", n, got, want)
		}
	}
	// service.peer.* only where it equals the other side's own resource:
	// a workload's namespace and name; a Service or node has none.
	for n, want := range map[api.RemoteNames]map[string]string{
		{RemoteService: "redis", RemoteNamespace: "shop"}: {"peer.service": "shop/redis", "service.peer.name": "", "service.peer.namespace": ""},
		{RemotePod: "api-7d9-x2k", RemoteWorkload: "deployment/api", RemoteNamespace: "shop"}: {
			"peer.service": "shop/api", "service.peer.name": "api", "service.peer.namespace": "shop"},
		{RemoteNode: "worker-1"}: {"peer.service": "worker-1", "service.peer.name": ""},
	} {
		ev := &event{ConnColumns: conn("client"), RemoteNames: n, listener: "ignored"}
		ev.Obs = &stats.Observation{Protocol: "redis", Method: "GET", Class: "OK"}
		got := map[string]string{}
		for _, kv := range describe(ev).attrs {
			got[string(kv.Key)] = kv.Value.Emit()
		}
		for k, v := range want {
			if got[k] != v {
				t.Errorf("%+v: %s = %q, want %q", n, k, got[k], v)
			}
		}
	}
}

func TestDecodeEvent(t *testing.T) {
	line := []byte(`{"table":"redis_events","v":1,"obs":{"protocol":"redis","method":"SET","class":"OK","time_":5},"time_":5,"trace_role":"client","req_cmd":"SET","remote_addr":"10.0.0.9","remote_service":"cache","remote_namespace":"shop"}`)
	h := api.Header{Table: "redis_events"}
	ev, ok := decodeEvent(h, line)
	if !ok || ev.Obs.Method != "SET" || ev.Time != 5 || ev.TraceRole != "client" || ev.RemoteService != "cache" {
		t.Fatalf("decodeEvent = %+v, %v", ev, ok)
	}
	for _, h := range []api.Header{{Table: "redis_events", Sample: api.SampleSlow}, {Table: "http_summary"}} {
		if _, ok := decodeEvent(h, line); ok {
			t.Errorf("decodeEvent(%+v) took the record", h)
		}
	}
	if _, ok := decodeEvent(h, []byte(`{"table":"redis_events","time_":5}`)); ok {
		t.Error("a record without its observation was taken")
	}
	if _, ok := decodeEvent(h, []byte(`{"table":"redis_events","time_":"x"}`)); ok {
		t.Error("a malformed record was taken")
	}
}

func TestSpanKind(t *testing.T) {
	if spanKind("server") != trace.SpanKindServer || spanKind("client") != trace.SpanKindClient || spanKind("") != trace.SpanKindInternal {
		t.Error("trace roles map to the wrong span kinds")
	}
}
