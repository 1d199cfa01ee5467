package protocols

import (
	"strings"
	"testing"

	"github.com/kubectl-pixie/kubectl-pixie/probes/api"
	"github.com/kubectl-pixie/kubectl-pixie/probes/api/stats"
)

// Each protocol maps its records to endpoints (and declines others').
func TestObserve(t *testing.T) {
	long := strings.Repeat("x", 200)
	for _, tc := range []struct {
		proto string
		rec   api.Record
		want  stats.Observation
	}{
		{"http", &api.HTTPEvent{ReqMethod: "GET", ReqPath: "/a/1", RespStatus: 503, ReqBodySize: 1, RespBodySize: 2},
			stats.Observation{Method: "GET", Path: "/a/1", Status: 503, ReqBytes: 1, RespBytes: 2}},
		{"http2", &api.HTTPEvent{ReqMethod: "GET", ReqPath: "/b", RespStatus: 200},
			stats.Observation{Method: "GET", Path: "/b", Status: 200}},
		{"http2", &api.HTTPEvent{Protocol: "grpc", ReqPath: "/p.S/M", GRPCStatus: "14", RespStatus: 200},
			stats.Observation{Protocol: "grpc", Method: "/p.S/M", Class: "UNAVAILABLE"}},
		{"http2", &api.HTTPEvent{Protocol: "grpc", ReqPath: "/p.S/M", RespStatus: 502},
			stats.Observation{Protocol: "grpc", Method: "/p.S/M", Class: "http 502"}},
		{"http2", &api.HTTPEvent{Protocol: "grpc", ReqPath: "/p.S/M", RespStatus: 200},
			stats.Observation{Protocol: "grpc", Method: "/p.S/M", Class: "err"}},
		{"redis", &api.RedisEvent{ReqCmd: "GET", RespError: "WRONGTYPE", ReqBytes: 3},
			stats.Observation{Protocol: "redis", Method: "GET", Class: "WRONGTYPE", ReqBytes: 3}},
		{"dns", &api.DNSEvent{QueryType: "A", QueryName: "x.test", RCodeName: "NXDOMAIN"},
			stats.Observation{Protocol: "dns", Method: "A", Path: "x.test", Class: "NXDOMAIN"}},
		{"pgsql", &api.PgSQLEvent{ReqCmd: "QUERY", QueryKind: "SELECT", QueryTemplate: "SELECT a FROM t", SQLState: "42P01"},
			stats.Observation{Protocol: "pgsql", Method: "SELECT", Path: "a FROM t", Class: "42P01"}},
		{"pgsql", &api.PgSQLEvent{ReqCmd: "PREPARE", QueryTemplate: "?"},
			stats.Observation{Protocol: "pgsql", Method: "PREPARE", Path: "?", Class: "OK"}},
		{"mysql", &api.MySQLEvent{ReqCmd: "QUERY", QueryKind: "SELECT", QueryTemplate: "SELECTx", RespStatus: "ERR", ErrCode: 1146},
			stats.Observation{Protocol: "mysql", Method: "SELECT", Path: "SELECTx", Class: "1146"}},
		{"amqp", &api.AMQPEvent{Method: "basic.publish", Exchange: "e", RoutingKey: "k"},
			stats.Observation{Protocol: "amqp", Method: "basic.publish", Path: "e/k", Class: "OK"}},
		{"amqp", &api.AMQPEvent{Method: "basic.publish", Exchange: long},
			stats.Observation{Protocol: "amqp", Method: "basic.publish", Path: long[:120] + "…", Class: "OK"}},
		{"amqp", &api.AMQPEvent{Method: "queue.declare", Exchange: "e", ReplyCode: 406},
			stats.Observation{Protocol: "amqp", Method: "queue.declare", Class: "406"}},
		{"kafka", &api.KafkaEvent{ReqCmd: "Produce", Topic: "t", ErrorName: "UNKNOWN_TOPIC_OR_PARTITION"},
			stats.Observation{Protocol: "kafka", Method: "Produce", Path: "t", Class: "UNKNOWN_TOPIC_OR_PARTITION"}},
		{"nats", &api.NATSEvent{Cmd: "PUB", SubjectTemplate: "orders.*", Error: `Permissions Violation for Publish to "orders.1"`},
			stats.Observation{Protocol: "nats", Method: "PUB", Path: "orders.*", Class: "Permissions Violation"}},
		{"cql", &api.CQLEvent{ReqOp: "EXECUTE", QueryKind: "SELECT", QueryTemplate: "SELECT name FROM ks.items WHERE id = ?", ErrorName: "ReadTimeout"},
			stats.Observation{Protocol: "cql", Method: "SELECT", Path: "name FROM ks.items WHERE id = ?", Class: "ReadTimeout"}},
		{"cql", &api.CQLEvent{ReqOp: "OPTIONS"},
			stats.Observation{Protocol: "cql", Method: "OPTIONS", Class: "OK"}},
	} {
		ps, _ := ByName(tc.proto)
		got, ok := Observe(ps[0], tc.rec)
		if !ok || got != tc.want {
			t.Errorf("%s %T: got %+v, %v; want %+v", tc.proto, tc.rec, got, ok, tc.want)
		}
	}
	for _, p := range All() {
		if _, ok := Observe(p, &echoRecord{}); ok {
			t.Errorf("%s observes a record that is not its own", p.Name())
		}
	}
	if _, ok := Observe(nil, &api.RedisEvent{}); ok {
		t.Error("a protocol outside the registry without Observe aggregates")
	}
}

type echoRecord struct {
	api.Header
	api.ConnColumns
}

func (*echoRecord) TableName() string { return "echo_events" }
