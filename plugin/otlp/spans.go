package otlp

import (
	"cmp"
	"encoding/json"
	"strconv"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	semconv "go.opentelemetry.io/otel/semconv/v1.40.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/kubectl-pixie/kubectl-pixie/plugin/target"
	"github.com/kubectl-pixie/kubectl-pixie/probes/api"
	"github.com/kubectl-pixie/kubectl-pixie/probes/api/stats"
	"github.com/kubectl-pixie/kubectl-pixie/probes/api/vocab"
)

// peerServiceKey names the other side as the trace table does ("shop/api").
const peerServiceKey = attribute.Key("peer.service")

// spanDesc is what one request record says as a span.
type spanDesc struct {
	name  string
	attrs []attribute.KeyValue
	// errType is error.type when the request failed (the same requests the
	// table counts in ERR%), else empty.
	errType string
}

// newRecord returns an empty record of a per-request table, or nil for a
// table this package does not export.
func newRecord(table string) api.Record {
	switch table {
	case api.TableHTTPEvents:
		return &api.HTTPEvent{}
	case api.TableRedisEvents:
		return &api.RedisEvent{}
	case api.TableDNSEvents:
		return &api.DNSEvent{}
	case api.TablePgSQLEvents:
		return &api.PgSQLEvent{}
	case api.TableMySQLEvents:
		return &api.MySQLEvent{}
	case api.TableAMQPEvents:
		return &api.AMQPEvent{}
	case api.TableKafkaEvents:
		return &api.KafkaEvent{}
	case api.TableNATSEvents:
		return &api.NATSEvent{}
	case api.TableCQLEvents:
		return &api.CQLEvent{}
	}
	return nil
}

// decodeEvent reads a per-request record of the stream, with the names
// the plugin gave its remote address. ok is false for other records and
// for the --slow/--errors samples (copies of requests already streamed).
func decodeEvent(h api.Header, line []byte) (rec api.Record, names api.RemoteNames, ok bool) {
	if h.Sample != "" {
		return nil, names, false
	}
	if rec = newRecord(h.Table); rec == nil || json.Unmarshal(line, rec) != nil {
		return nil, names, false
	}
	_ = json.Unmarshal(line, &names)
	return rec, names, true
}

// describe is a request as a span: its name, the semantic-convention
// attributes of its protocol, the connection's and the peer's name.
func describe(rec api.Record, names api.RemoteNames) spanDesc {
	var d spanDesc
	switch r := rec.(type) {
	case *api.HTTPEvent:
		if r.Protocol == vocab.ProtocolGRPC {
			d = describeGRPC(r)
		} else {
			d = describeHTTP(r)
		}
	case *api.RedisEvent:
		d = describeDB(semconv.DBSystemNameRedis, r.ReqCmd, "", "", r.RespError)
	case *api.PgSQLEvent:
		d = describeDB(semconv.DBSystemNamePostgreSQL, r.QueryKind, r.QueryTemplate, r.SQLState, r.SQLState)
	case *api.MySQLEvent:
		d = describeDB(semconv.DBSystemNameMySQL, r.QueryKind, r.QueryTemplate, codeOrEmpty(r.ErrCode), errIf(r.RespStatus == "ERR", codeOrEmpty(r.ErrCode)))
	case *api.CQLEvent:
		d = describeDB(semconv.DBSystemNameCassandra, r.QueryKind, r.QueryTemplate, codeOrEmpty(r.ErrorCode), errIf(r.RespOp == "ERROR", r.ErrorName))
	case *api.DNSEvent:
		d = describeDNS(r)
	case *api.AMQPEvent:
		d = describeMessaging(semconv.MessagingSystemRabbitMQ, r.Method, cmp.Or(r.Exchange, r.QueueName), errIf(r.ReplyCode >= 300, strconv.Itoa(r.ReplyCode)))
		if r.RoutingKey != "" {
			d.attrs = append(d.attrs, semconv.MessagingRabbitMQDestinationRoutingKey(r.RoutingKey))
		}
	case *api.KafkaEvent:
		d = describeMessaging(semconv.MessagingSystemKafka, r.ReqCmd, r.Topic, errIf(r.ErrorCode != 0, r.ErrorName))
	case *api.NATSEvent:
		d = describeMessaging(semconv.MessagingSystemKey.String("nats"), r.Cmd, cmp.Or(r.SubjectTemplate, r.Subject), r.Error)
	}
	if d.name == "" {
		d.name = rec.TableName()
	}
	d.attrs = append(d.attrs, connAttrs(rec.Conn())...)
	if p := peerName(names); p != "" {
		d.attrs = append(d.attrs, peerServiceKey.String(p))
	}
	if d.errType != "" {
		d.attrs = append(d.attrs, semconv.ErrorTypeKey.String(d.errType))
	}
	return d
}

func describeHTTP(e *api.HTTPEvent) spanDesc {
	method := e.ReqMethod
	path, _, _ := strings.Cut(e.ReqPath, "?")
	route := stats.Template(e.ReqPath)
	d := spanDesc{name: method + " " + route, attrs: []attribute.KeyValue{
		semconv.HTTPRequestMethodKey.String(method),
		semconv.URLPath(path),
		semconv.HTTPRoute(route),
		semconv.NetworkProtocolName("http"),
		semconv.NetworkProtocolVersion(httpVersion(e)),
	}}
	if e.RespStatus > 0 {
		d.attrs = append(d.attrs, semconv.HTTPResponseStatusCode(e.RespStatus))
	}
	if stats.IsError(stats.StatusClass(e.RespStatus)) {
		d.errType = strconv.Itoa(e.RespStatus)
		if e.RespStatus == 0 {
			d.errType = "no response"
		}
	}
	return d
}

func httpVersion(e *api.HTTPEvent) string {
	if e.MajorVersion >= 2 {
		return strconv.Itoa(e.MajorVersion)
	}
	return strconv.Itoa(max(e.MajorVersion, 1)) + "." + strconv.Itoa(e.MinorVersion)
}

// grpcCodes are the canonical names of gRPC status codes.
var grpcCodes = [...]string{"OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND", "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED"}

func describeGRPC(e *api.HTTPEvent) spanDesc {
	method := strings.TrimPrefix(e.ReqPath, "/")
	d := spanDesc{name: method, attrs: []attribute.KeyValue{semconv.RPCSystemNameGRPC, semconv.RPCMethod(method)}}
	status := "no status"
	if n, err := strconv.Atoi(e.GRPCStatus); err == nil && n >= 0 && n < len(grpcCodes) {
		status = grpcCodes[n]
	} else if e.GRPCStatus != "" {
		status = e.GRPCStatus
	}
	if e.GRPCStatus != "" {
		d.attrs = append(d.attrs, semconv.RPCResponseStatusCode(status))
	}
	if status != "OK" {
		d.errType = status
	}
	return d
}

// describeDB: operation is the command or statement kind, query the
// statement template (literals already replaced by the agent).
func describeDB(system attribute.KeyValue, operation, query, code, errType string) spanDesc {
	d := spanDesc{name: cmp.Or(operation, system.Value.AsString()), errType: errType, attrs: []attribute.KeyValue{system}}
	if operation != "" {
		d.attrs = append(d.attrs, semconv.DBOperationName(operation))
	}
	if query != "" {
		d.attrs = append(d.attrs, semconv.DBQueryText(query))
	}
	if code != "" {
		d.attrs = append(d.attrs, semconv.DBResponseStatusCode(code))
	}
	return d
}

func describeMessaging(system attribute.KeyValue, operation, destination, errType string) spanDesc {
	d := spanDesc{name: strings.TrimSpace(operation + " " + destination), errType: errType, attrs: []attribute.KeyValue{system, semconv.MessagingOperationName(operation)}}
	if destination != "" {
		d.attrs = append(d.attrs, semconv.MessagingDestinationName(destination))
	}
	return d
}

// dnsQuestionTypeKey and dnsResponseCodeKey: semantic conventions name
// the question only.
const (
	dnsQuestionTypeKey = attribute.Key("dns.question.type")
	dnsResponseCodeKey = attribute.Key("dns.response_code")
)

func describeDNS(e *api.DNSEvent) spanDesc {
	d := spanDesc{name: "DNS " + e.QueryType, attrs: []attribute.KeyValue{
		semconv.DNSQuestionName(e.QueryName),
		dnsQuestionTypeKey.String(e.QueryType),
		dnsResponseCodeKey.String(e.RCodeName),
	}}
	if e.RCodeName != "NOERROR" {
		d.errType = cmp.Or(e.RCodeName, "no response")
	}
	return d
}

// connAttrs are the connection's ends as the semantic conventions name
// them from the traced side: a server's client, a client's server.
func connAttrs(c *api.ConnColumns) []attribute.KeyValue {
	a := []attribute.KeyValue{semconv.NetworkPeerAddress(c.RemoteAddr), semconv.NetworkPeerPort(int(c.RemotePort))}
	switch c.TraceRole {
	case vocab.RoleServer:
		a = append(a, semconv.ServerPort(int(c.LocalPort)), semconv.ClientAddress(c.RemoteAddr), semconv.ClientPort(int(c.RemotePort)))
	case vocab.RoleClient:
		a = append(a, semconv.ServerAddress(c.RemoteAddr), semconv.ServerPort(int(c.RemotePort)))
	}
	return a
}

// spanKind is the record's trace role as a span kind.
func spanKind(role string) trace.SpanKind {
	switch role {
	case vocab.RoleServer:
		return trace.SpanKindServer
	case vocab.RoleClient:
		return trace.SpanKindClient
	}
	return trace.SpanKindInternal
}

// peerName names the remote side as the trace table does: a pod by its
// workload, a Service, a node; "" for an address the cluster does not know.
func peerName(n api.RemoteNames) string {
	switch {
	case n.RemoteWorkload != "":
		return n.RemoteNamespace + "/" + target.WorkloadName(n.RemoteWorkload)
	case n.RemoteService != "":
		return n.RemoteNamespace + "/" + n.RemoteService
	}
	return n.RemoteNode
}

func codeOrEmpty(n int) string {
	if n == 0 {
		return ""
	}
	return strconv.Itoa(n)
}

func errIf(failed bool, errType string) string {
	if !failed {
		return ""
	}
	return cmp.Or(errType, "error")
}
