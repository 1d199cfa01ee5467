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
//   - Emit an api record with Env.Out.Emit(rec, requestStart, responseEnd)
//     and add its type to the switch in conn's tracked.Emit, which fills
//     the connection columns (pid, comm, addresses, role, time, latency).
//   - Test it the way http1 does: table tests through the Tracker, every
//     split point, recorded real exchanges, and fuzz targets.
//
// TLS plaintext from uprobes arrives as the same events with
// Source = conn.SourceTLS; the Tracker then ignores that connection's
// socket bytes, so protocols need nothing for it.
package protocols

import (
	"github.com/kubectl-pixie/kubectl-pixie/probes/conn"
	"github.com/kubectl-pixie/kubectl-pixie/probes/protocols/amqp"
	"github.com/kubectl-pixie/kubectl-pixie/probes/protocols/dns"
	"github.com/kubectl-pixie/kubectl-pixie/probes/protocols/http1"
	"github.com/kubectl-pixie/kubectl-pixie/probes/protocols/http2"
	"github.com/kubectl-pixie/kubectl-pixie/probes/protocols/kafka"
	"github.com/kubectl-pixie/kubectl-pixie/probes/protocols/mysql"
	"github.com/kubectl-pixie/kubectl-pixie/probes/protocols/pgsql"
	"github.com/kubectl-pixie/kubectl-pixie/probes/protocols/redis"
)

// All returns every protocol, in order of preference for equal confidence.
func All() []conn.Protocol {
	return []conn.Protocol{http1.Protocol{}, http2.Protocol{}, redis.Protocol{}, dns.Protocol{}, pgsql.Protocol{}, mysql.Protocol{}, amqp.Protocol{}, kafka.Protocol{}}
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
