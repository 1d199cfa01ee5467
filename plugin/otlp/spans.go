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

// peerServiceKey names the other side as the trace table does
// ("shop/api"): the key before semconv v1.39 made it service.peer.name,
// still the one service graphs of tracing backends read.
const peerServiceKey = attribute.Key("peer.service")

// event is what a span needs of any per-request record: its connection,
// the names the plugin gave its remote address, and the observation the
// agent counted it as (Header.Obs, which --otlp-endpoint asks for), so no
// record type is listed here.
type event struct {
	api.Header
	api.ConnColumns
	api.RemoteNames
	// listener is the name of the local process listening on a client's
	// loopback server address (--local), else empty.
	listener string
}

// decodeEvent reads a per-request record of the stream. ok is false for
// other records, for the --slow/--errors samples (copies of requests
// already streamed) and for records without an observation (an agent
// older than the plugin).
func decodeEvent(h api.Header, line []byte) (ev event, ok bool) {
	if !api.IsEventTable(h.Table) || h.Sample != "" || json.Unmarshal(line, &ev) != nil {
		return ev, false
	}
	return ev, ev.Obs != nil
}

// spanDesc is what one request says as a span.
type spanDesc struct {
	name  string
	attrs []attribute.KeyValue
	// errType is error.type when the request failed (the same requests the
	// table counts in ERR%), else empty.
	errType string
}

// describe is a request as a span: its name, the semantic-convention
// attributes of its protocol, the connection's and the peer's name.
func describe(ev *event) spanDesc {
	o := ev.Obs
	var d spanDesc
	switch o.Protocol {
	case "":
		d = describeHTTP(o)
	case vocab.ProtocolGRPC:
		d = describeGRPC(o)
	case vocab.ProtocolRedis, vocab.ProtocolPgSQL, vocab.ProtocolMySQL, vocab.ProtocolCQL:
		d = describeDB(o)
	case vocab.ProtocolAMQP, vocab.ProtocolKafka, vocab.ProtocolNATS:
		d = describeMessaging(o)
	case vocab.ProtocolDNS:
		d = describeDNS(o)
	default:
		d = spanDesc{name: strings.TrimSpace(o.Protocol + " " + o.Method)}
	}
	if api.ObservedError(o) {
		d.errType = errorType(o)
		d.attrs = append(d.attrs, semconv.ErrorTypeKey.String(d.errType))
	}
	d.attrs = append(d.attrs, connAttrs(&ev.ConnColumns)...)
	d.attrs = append(d.attrs, peerAttrs(ev)...)
	return d
}

// peerAttrs name the service on the other side: in a cluster its
// workload, Service or node as the table names it; with --local a
// loopback server's listening process. service.peer.name (and
// .namespace) is the semantic conventions' key for it since v1.39, set
// where it equals the service.name (and service.namespace) this exporter
// gives that side's own spans: a workload, a process. peer.service, the
// key it replaced, stays for the backends that read it.
func peerAttrs(ev *event) []attribute.KeyValue {
	if ev.RemoteWorkload != "" {
		ns, name := ev.RemoteNamespace, target.WorkloadName(ev.RemoteWorkload)
		return []attribute.KeyValue{peerServiceKey.String(ns + "/" + name), semconv.ServicePeerNamespace(ns), semconv.ServicePeerName(name)}
	}
	if p := peerName(ev.RemoteNames); p != "" {
		return []attribute.KeyValue{peerServiceKey.String(p)}
	}
	if ev.listener != "" && ev.TraceRole == vocab.RoleClient {
		return []attribute.KeyValue{peerServiceKey.String(ev.listener), semconv.ServicePeerName(ev.listener)}
	}
	return nil
}

// errorType is a failed request's status: its code or class.
func errorType(o *stats.Observation) string {
	if o.Protocol == "" {
		if o.Status == 0 {
			return "no response"
		}
		return strconv.Itoa(o.Status)
	}
	if o.Class == "" || o.Class == stats.StatusErr {
		return "no response"
	}
	return o.Class
}

func describeHTTP(o *stats.Observation) spanDesc {
	path, _, _ := strings.Cut(o.Path, "?")
	route := stats.Template(o.Path)
	d := spanDesc{name: o.Method + " " + route, attrs: []attribute.KeyValue{
		semconv.HTTPRequestMethodKey.String(o.Method),
		semconv.URLPath(path),
		semconv.HTTPRoute(route),
	}}
	if o.Status > 0 {
		d.attrs = append(d.attrs, semconv.HTTPResponseStatusCode(o.Status))
	}
	return d
}

func describeGRPC(o *stats.Observation) spanDesc {
	method := strings.TrimPrefix(o.Method, "/")
	d := spanDesc{name: method, attrs: []attribute.KeyValue{semconv.RPCSystemNameGRPC, semconv.RPCMethod(method)}}
	if o.Class != "" && o.Class != stats.StatusErr {
		d.attrs = append(d.attrs, semconv.RPCResponseStatusCode(o.Class))
	}
	return d
}

// dbSystems name the traced databases as the semantic conventions do.
var dbSystems = map[string]attribute.KeyValue{
	vocab.ProtocolRedis: semconv.DBSystemNameRedis,
	vocab.ProtocolPgSQL: semconv.DBSystemNamePostgreSQL,
	vocab.ProtocolMySQL: semconv.DBSystemNameMySQL,
	vocab.ProtocolCQL:   semconv.DBSystemNameCassandra,
}

// describeDB: Method is the command or statement kind, Path the statement
// template (literals already replaced by the agent).
func describeDB(o *stats.Observation) spanDesc {
	d := spanDesc{name: cmp.Or(o.Method, o.Protocol), attrs: []attribute.KeyValue{dbSystems[o.Protocol]}}
	if o.Method != "" {
		d.attrs = append(d.attrs, semconv.DBOperationName(o.Method))
	}
	if o.Path != "" {
		d.attrs = append(d.attrs, semconv.DBQueryText(o.Path))
	}
	if o.Class != "" && o.Class != "OK" && o.Class != stats.StatusErr {
		d.attrs = append(d.attrs, semconv.DBResponseStatusCode(o.Class))
	}
	return d
}

// messagingSystems name the traced brokers as the semantic conventions do.
var messagingSystems = map[string]attribute.KeyValue{
	vocab.ProtocolAMQP:  semconv.MessagingSystemRabbitMQ,
	vocab.ProtocolKafka: semconv.MessagingSystemKafka,
	vocab.ProtocolNATS:  semconv.MessagingSystemKey.String("nats"),
}

// describeMessaging: Method is the operation, Path the destination.
func describeMessaging(o *stats.Observation) spanDesc {
	d := spanDesc{name: strings.TrimSpace(o.Method + " " + o.Path), attrs: []attribute.KeyValue{messagingSystems[o.Protocol], semconv.MessagingOperationName(o.Method)}}
	if o.Path != "" {
		d.attrs = append(d.attrs, semconv.MessagingDestinationName(o.Path))
	}
	return d
}

// dnsQuestionTypeKey and dnsResponseCodeKey: semantic conventions name
// the question only.
const (
	dnsQuestionTypeKey = attribute.Key("dns.question.type")
	dnsResponseCodeKey = attribute.Key("dns.response_code")
)

// describeDNS: Method is the query type, Path the name, Class the RCODE.
func describeDNS(o *stats.Observation) spanDesc {
	return spanDesc{name: "DNS " + o.Method, attrs: []attribute.KeyValue{
		semconv.DNSQuestionName(o.Path),
		dnsQuestionTypeKey.String(o.Method),
		dnsResponseCodeKey.String(o.Class),
	}}
}

// connAttrs are the connection's ends as the semantic conventions name
// them from the traced side: a server's client, a client's server. A
// client's server.address is the name it resolved, when its traced DNS
// answer gave the address ("domain name if available without reverse DNS
// lookup"); network.peer.address stays the IP.
func connAttrs(c *api.ConnColumns) []attribute.KeyValue {
	a := []attribute.KeyValue{semconv.NetworkPeerAddress(c.RemoteAddr), semconv.NetworkPeerPort(int(c.RemotePort))}
	switch c.TraceRole {
	case vocab.RoleServer:
		a = append(a, semconv.ServerPort(int(c.LocalPort)), semconv.ClientAddress(c.RemoteAddr), semconv.ClientPort(int(c.RemotePort)))
	case vocab.RoleClient:
		a = append(a, semconv.ServerAddress(cmp.Or(c.RemoteDNS, c.RemoteAddr)), semconv.ServerPort(int(c.RemotePort)))
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
