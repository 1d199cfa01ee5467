// Package protocols is the registry of application protocols the
// conn.Tracker can recognise. Each protocol lives in its own subpackage and
// implements conn.Protocol; add new ones to All.
//
// Adding a protocol (Redis, PostgreSQL, DNS, ...):
//
//   - Infer(first bytes of a call, dir, transport) says how sure it is that
//     a message starts there and which role that implies (a query sent:
//     client). It runs on every call of unrecognised connections: keep it
//     to a few byte comparisons. Return NeedMore for a valid but short
//     prefix, Low for weak binary signatures (accepted only on the first
//     calls of a connection), High when unambiguous.
//   - NewParser gets a conn.Env (role, Fresh, limits, Stats, Out). Feed
//     receives Chunks of one direction at a time: Data (valid only during
//     the call: copy what you keep), Gap (bytes that exist but were not
//     seen: skip them inside a body, resynchronise otherwise), EOF, and for
//     UDP one Chunk per datagram (Datagram, Peer, Gap = uncaptured bytes).
//     Bound every buffer by Env.MaxBufferedBytes and count what is dropped
//     or unmatched in Env.Stats. Never pair across a loss by guessing.
//   - Define the record in probes/api: a struct embedding api.Header and
//     api.ConnColumns, with a TableName method naming a table that ends in
//     api.EventSuffix. Emit it with Env.Out.Emit(rec, requestStart,
//     responseEnd); the Tracker fills the connection columns (pid, comm,
//     addresses, role, time, latency) and the plugin shows any such table.
//   - Observe maps the record to its endpoint for the aggregated table
//     (put it in observe.go). Then add the protocol to registry below.
//   - Test it the way http1 does: table tests through the Tracker, every
//     split point, recorded real exchanges, and fuzz targets.
//
// TLS plaintext from uprobes arrives as the same events with
// Source = conn.SourceTLS; the Tracker then ignores that connection's
// socket bytes, so protocols need nothing for it.
package protocols

import (
	"github.com/kubectl-pixie/kubectl-pixie/probes/api"
	"github.com/kubectl-pixie/kubectl-pixie/probes/api/stats"
	"github.com/kubectl-pixie/kubectl-pixie/probes/conn"
	"github.com/kubectl-pixie/kubectl-pixie/probes/protocols/amqp"
	"github.com/kubectl-pixie/kubectl-pixie/probes/protocols/cql"
	"github.com/kubectl-pixie/kubectl-pixie/probes/protocols/dns"
	"github.com/kubectl-pixie/kubectl-pixie/probes/protocols/http1"
	"github.com/kubectl-pixie/kubectl-pixie/probes/protocols/http2"
	"github.com/kubectl-pixie/kubectl-pixie/probes/protocols/kafka"
	"github.com/kubectl-pixie/kubectl-pixie/probes/protocols/mysql"
	"github.com/kubectl-pixie/kubectl-pixie/probes/protocols/nats"
	"github.com/kubectl-pixie/kubectl-pixie/probes/protocols/pgsql"
	"github.com/kubectl-pixie/kubectl-pixie/probes/protocols/redis"
)

// Protocol is a registered protocol: it parses, and it maps its records to
// the aggregated table's endpoints.
type Protocol interface {
	conn.Protocol
	// Observe maps one of the protocol's records to the protocol's part of
	// an observation: Protocol, Method, Path, Status or Class, ReqBytes and
	// RespBytes (the agent fills service, role, peer, latency and time from
	// the record's connection columns). False for a record it does not know.
	Observe(rec api.Record) (stats.Observation, bool)
}

// registry is every protocol, in order of preference for equal confidence.
var registry = []Protocol{
	http1.Protocol{H2C: http2.Protocol{}},
	http2.Protocol{},
	redis.Protocol{},
	dns.Protocol{},
	pgsql.Protocol{},
	mysql.Protocol{},
	amqp.Protocol{},
	kafka.Protocol{},
	nats.Protocol{},
	cql.Protocol{},
}

// All returns every protocol, in order of preference for equal confidence.
func All() []conn.Protocol {
	ps := make([]conn.Protocol, len(registry))
	for i, p := range registry {
		ps[i] = p
	}
	return ps
}

// Summaries is the protocol whose parser takes the HTTP/1 exchanges the
// tracer summarizes in the kernel (conn.Options.Summaries): the registry's
// HTTP/1, so summarized connections name and aggregate as parsed ones.
func Summaries() conn.Protocol { return registry[0] }

// Observe maps rec, parsed by p, to its endpoint; false when p does not
// aggregate (a protocol outside the registry without Observe).
func Observe(p conn.Protocol, rec api.Record) (stats.Observation, bool) {
	if o, ok := p.(Protocol); ok {
		return o.Observe(rec)
	}
	return stats.Observation{}, false
}

// ByName returns the named protocols ("http", ...) and the names it does
// not know.
func ByName(names ...string) (ps []conn.Protocol, unknown []string) {
	all := All()
next:
	for _, n := range names {
		for _, p := range all {
			if p.Name() == n {
				ps = append(ps, p)
				continue next
			}
		}
		unknown = append(unknown, n)
	}
	return ps, unknown
}
