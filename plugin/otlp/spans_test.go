package otlp

import (
	"testing"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/kubectl-pixie/kubectl-pixie/probes/api"
)

func conn(role string) api.ConnColumns {
	return api.ConnColumns{Time: 1e18, PID: 42, Comm: "app", LocalAddr: "10.0.0.2", LocalPort: 8080, RemoteAddr: "10.0.0.9", RemotePort: 5432, TraceRole: role, Latency: 2e6}
}

// TestDescribe: each protocol's record becomes the span its semantic
// conventions describe, failing exactly when the table counts an error.
func TestDescribe(t *testing.T) {
	cases := []struct {
		name    string
		rec     api.Record
		span    string
		attrs   map[string]string
		errType string
	}{
		{"http server 200", &api.HTTPEvent{ConnColumns: conn("server"), MajorVersion: 1, MinorVersion: 1, ReqMethod: "GET", ReqPath: "/cart/12345?x=1", RespStatus: 200},
			"GET /cart/{id}", map[string]string{"http.request.method": "GET", "url.path": "/cart/12345", "http.route": "/cart/{id}", "http.response.status_code": "200", "network.protocol.version": "1.1", "server.port": "8080", "client.address": "10.0.0.9"}, ""},
		{"http client 503", &api.HTTPEvent{ConnColumns: conn("client"), MajorVersion: 2, ReqMethod: "POST", ReqPath: "/pay", RespStatus: 503},
			"POST /pay", map[string]string{"network.protocol.version": "2", "server.address": "10.0.0.9", "server.port": "5432"}, "503"},
		{"http no response", &api.HTTPEvent{ConnColumns: conn("server"), ReqMethod: "GET", ReqPath: "/slow"},
			"GET /slow", map[string]string{"http.route": "/slow"}, "no response"},
		{"http 404 is the client's", &api.HTTPEvent{ConnColumns: conn("server"), ReqMethod: "GET", ReqPath: "/x", RespStatus: 404},
			"GET /x", map[string]string{"http.response.status_code": "404"}, ""},
		{"grpc unavailable", &api.HTTPEvent{ConnColumns: conn("client"), MajorVersion: 2, ReqMethod: "POST", ReqPath: "/shop.Cart/Add", Protocol: "grpc", GRPCStatus: "14"},
			"shop.Cart/Add", map[string]string{"rpc.system.name": "grpc", "rpc.method": "shop.Cart/Add", "rpc.response.status_code": "UNAVAILABLE"}, "UNAVAILABLE"},
		{"grpc ok", &api.HTTPEvent{ConnColumns: conn("server"), ReqPath: "/shop.Cart/Get", Protocol: "grpc", GRPCStatus: "0"},
			"shop.Cart/Get", map[string]string{"rpc.response.status_code": "OK"}, ""},
		{"redis error", &api.RedisEvent{ConnColumns: conn("client"), ReqCmd: "GET", RespError: "WRONGTYPE"},
			"GET", map[string]string{"db.system.name": "redis", "db.operation.name": "GET"}, "WRONGTYPE"},
		{"pgsql", &api.PgSQLEvent{ConnColumns: conn("client"), QueryKind: "SELECT", QueryTemplate: "SELECT * FROM t WHERE id = ?"},
			"SELECT", map[string]string{"db.system.name": "postgresql", "db.query.text": "SELECT * FROM t WHERE id = ?"}, ""},
		{"pgsql error", &api.PgSQLEvent{ConnColumns: conn("client"), QueryKind: "SELECT", SQLState: "42P01"},
			"SELECT", map[string]string{"db.response.status_code": "42P01"}, "42P01"},
		{"mysql error", &api.MySQLEvent{ConnColumns: conn("client"), QueryKind: "INSERT", RespStatus: "ERR", ErrCode: 1146},
			"INSERT", map[string]string{"db.system.name": "mysql", "db.response.status_code": "1146"}, "1146"},
		{"cql", &api.CQLEvent{ConnColumns: conn("client"), QueryKind: "SELECT", RespOp: "RESULT"},
			"SELECT", map[string]string{"db.system.name": "cassandra"}, ""},
		{"cql error", &api.CQLEvent{ConnColumns: conn("client"), QueryKind: "SELECT", RespOp: "ERROR", ErrorCode: 8704, ErrorName: "Invalid"},
			"SELECT", map[string]string{"db.response.status_code": "8704"}, "Invalid"},
		{"dns nxdomain", &api.DNSEvent{ConnColumns: conn("client"), QueryType: "A", QueryName: "x.example", RCodeName: "NXDOMAIN"},
			"DNS A", map[string]string{"dns.question.name": "x.example", "dns.response_code": "NXDOMAIN"}, "NXDOMAIN"},
		{"amqp", &api.AMQPEvent{ConnColumns: conn("client"), Method: "basic.publish", Exchange: "orders", RoutingKey: "eu"},
			"basic.publish orders", map[string]string{"messaging.system": "rabbitmq", "messaging.operation.name": "basic.publish", "messaging.destination.name": "orders", "messaging.rabbitmq.destination.routing_key": "eu"}, ""},
		{"amqp refused", &api.AMQPEvent{ConnColumns: conn("client"), Method: "queue.declare", QueueName: "q", ReplyCode: 406},
			"queue.declare q", nil, "406"},
		{"kafka", &api.KafkaEvent{ConnColumns: conn("client"), ReqCmd: "Produce", Topic: "t", ErrorCode: 3, ErrorName: "UNKNOWN_TOPIC_OR_PARTITION"},
			"Produce t", map[string]string{"messaging.system": "kafka", "messaging.destination.name": "t"}, "UNKNOWN_TOPIC_OR_PARTITION"},
		{"nats", &api.NATSEvent{ConnColumns: conn("client"), Cmd: "PUB", Subject: "orders.42", SubjectTemplate: "orders.*"},
			"PUB orders.*", map[string]string{"messaging.system": "nats", "messaging.destination.name": "orders.*"}, ""},
	}
	for _, c := range cases {
		d := describe(c.rec, api.RemoteNames{})
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
	d := describe(&api.RedisEvent{ReqCmd: "GET"}, api.RemoteNames{RemoteService: "redis", RemoteNamespace: "shop"})
	if !hasAttr(d.attrs, peerServiceKey.String("shop/redis")) {
		t.Errorf("no peer.service in %v", d.attrs)
	}
}

func hasAttr(attrs []attribute.KeyValue, want attribute.KeyValue) bool {
	for _, a := range attrs {
		if a == want {
			return true
		}
	}
	return false
}

func TestDecodeEvent(t *testing.T) {
	line := []byte(`{"table":"redis_events","v":1,"time_":5,"trace_role":"client","req_cmd":"SET","remote_addr":"10.0.0.9","remote_service":"cache","remote_namespace":"shop"}`)
	rec, names, ok := decodeEvent(api.Header{Table: "redis_events"}, line)
	if r, isRedis := rec.(*api.RedisEvent); !ok || !isRedis || r.ReqCmd != "SET" || r.Time != 5 || names.RemoteService != "cache" {
		t.Fatalf("decodeEvent = %+v, %+v, %v", rec, names, ok)
	}
	for _, h := range []api.Header{{Table: "redis_events", Sample: api.SampleSlow}, {Table: "http_summary"}, {Table: "new_events"}} {
		if _, _, ok := decodeEvent(h, line); ok {
			t.Errorf("decodeEvent(%+v) took the record", h)
		}
	}
	if _, _, ok := decodeEvent(api.Header{Table: "redis_events"}, []byte(`{"table":"redis_events","time_":"x"}`)); ok {
		t.Error("a malformed record was taken")
	}
}

func TestSpanKind(t *testing.T) {
	if spanKind("server") != trace.SpanKindServer || spanKind("client") != trace.SpanKindClient || spanKind("") != trace.SpanKindInternal {
		t.Error("trace roles map to the wrong span kinds")
	}
}
