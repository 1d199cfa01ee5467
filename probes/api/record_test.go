package api

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// http_events kept its column order when HTTPEvent came to embed
// ConnColumns: readers of -o json see the same bytes.
func TestHTTPEventColumnOrder(t *testing.T) {
	ev := &HTTPEvent{
		Header: Header{Table: TableHTTPEvents, V: Version, Seq: 7},
		ConnColumns: ConnColumns{Time: 1, PID: 2, Comm: "c", LocalAddr: "l", LocalPort: 3, RemoteAddr: "r",
			RemotePort: 4, TraceRole: "client", Latency: 5, ContainerID: "k", PodUID: "u"},
		MajorVersion: 2, MinorVersion: 0, ReqMethod: "POST", ReqPath: "/p", ReqHeaders: map[string]string{"a": "<b>"},
		ReqBody: "q", ReqBodySize: 6, RespStatus: 200, RespMessage: "m", RespHeaders: map[string]string{},
		RespBody: "s", RespBodySize: 8, Protocol: "grpc", GRPCStatus: "0",
	}
	b, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"table":"http_events","v":1,"seq":7,"time_":1,"pid":2,"comm":"c","local_addr":"l","local_port":3,` +
		`"remote_addr":"r","remote_port":4,"trace_role":"client","major_version":2,"minor_version":0,"req_method":"POST",` +
		`"req_path":"/p","req_headers":{"a":"\u003cb\u003e"},"req_body":"q","req_body_size":6,"resp_status":200,` +
		`"resp_message":"m","resp_headers":{},"resp_body":"s","resp_body_size":8,"latency":5,"container_id":"k",` +
		`"pod_uid":"u","protocol":"grpc","grpc_status":"0"}`
	if string(b) != want {
		t.Errorf("http_events:\n got %s\nwant %s", b, want)
	}
	// The agent's encoder keeps HTML characters; so must the column order.
	var plain bytes.Buffer
	enc := json.NewEncoder(&plain)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(ev); err != nil || !strings.Contains(plain.String(), `"req_headers":{"a":"<b>"}`) {
		t.Errorf("without HTML escaping: %v %s", err, plain.String())
	}
	var back HTTPEvent
	if err := json.Unmarshal(b, &back); err != nil || !reflect.DeepEqual(&back, ev) {
		t.Errorf("round trip: %v\n got %+v\nwant %+v", err, back, *ev)
	}
}

// Every column of HTTPEvent has its place in httpEventWire.
func TestHTTPEventWireHasEveryColumn(t *testing.T) {
	columns := func(typ reflect.Type) map[string]bool {
		m := map[string]bool{}
		var walk func(reflect.Type)
		walk = func(typ reflect.Type) {
			for f := range typ.Fields() {
				if f.Anonymous {
					walk(f.Type)
					continue
				}
				m[f.Tag.Get("json")] = true
			}
		}
		walk(typ)
		return m
	}
	ev, wire := columns(reflect.TypeFor[HTTPEvent]()), columns(reflect.TypeFor[httpEventWire]())
	if !reflect.DeepEqual(ev, wire) {
		t.Errorf("HTTPEvent columns %v, httpEventWire columns %v", ev, wire)
	}
}

func TestRecordsAreEventTables(t *testing.T) {
	for _, r := range []Record{&HTTPEvent{}, &RedisEvent{}, &DNSEvent{}, &PgSQLEvent{}, &MySQLEvent{}, &AMQPEvent{}, &KafkaEvent{}, &NATSEvent{}, &CQLEvent{}} {
		if !IsEventTable(r.TableName()) || r.Conn() == nil || r.Head() == nil {
			t.Errorf("%T: table %q", r, r.TableName())
		}
	}
	for _, table := range []string{TableHTTPStats, TableHTTPSummary, TableProbeStats, TableProbeLog, TableProbeReady,
		TableStackTraces, TableProcessStats, TableMemorySummary, TableAllocStacks} {
		if IsEventTable(table) {
			t.Errorf("%s is not a per-request table", table)
		}
	}
}
