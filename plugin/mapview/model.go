// Package mapview turns a trace's aggregated rows into a service map: one
// edge per (requestor, responder, protocol) with its requests, errors,
// latency and bytes, shown as an adjacency table with a tree from each
// entry point, or written as service_map records, DOT or Mermaid. It is a
// driver.View.
package mapview

import (
	"cmp"
	"net/netip"
	"slices"
	"time"

	"github.com/kubectl-pixie/kubectl-pixie/plugin/peers"
	"github.com/kubectl-pixie/kubectl-pixie/probes/api"
	"github.com/kubectl-pixie/kubectl-pixie/probes/api/stats"
	"github.com/kubectl-pixie/kubectl-pixie/probes/api/vocab"
)

// Edge is the traffic from a requestor to a responder over one protocol
// in the window. Bytes are from the requestor's side: Sent is what its
// requests carried, Recv what the responses did.
type Edge struct {
	Requestor, Responder     string
	RequestorIP, ResponderIP string // empty when rows of several addresses merge under one name
	ResponderDNS             string // the name, when a traced DNS answer named the responder
	Protocol                 string
	Requests, Errors         uint64
	BytesSent, BytesRecv     uint64
	Latency                  *stats.Sketch // ns
}

// ErrorRate is Errors/Requests (0 without requests).
func (e *Edge) ErrorRate() float64 {
	if e.Requests == 0 {
		return 0
	}
	return float64(e.Errors) / float64(e.Requests)
}

// Quantile of the latency in ns (0 without requests).
func (e *Edge) Quantile(q float64) float64 {
	if e.Latency == nil || e.Latency.Count() == 0 {
		return 0
	}
	return e.Latency.Quantile(q)
}

// PerSecond is n over the window (0 for an empty window).
func PerSecond(n uint64, window time.Duration) float64 {
	if window <= 0 {
		return 0
	}
	return float64(n) / window.Seconds()
}

// protocolHTTP names HTTP edges (HTTP rows carry no protocol).
const protocolHTTP = "http"

type edgeKey struct{ requestor, responder, protocol string }

// Edges builds the map from the window's rows: a request counts once,
// from the responder's server-side row when the responder is traced (it
// served requests), else from the requestor's client-side row. A client
// row's responder that the cluster did not name (still an address) is
// the traced process listening there, else the name a traced DNS answer
// gave the address, else the untraced process listening there, else the
// address.
func Edges(rows []stats.Endpoint, ls []api.ListeningPort) []Edge {
	served := map[string]bool{}
	for _, r := range rows {
		if r.Role == vocab.RoleServer {
			served[r.Service] = true
		}
	}
	names := peers.NewListeners(ls)
	edges := map[edgeKey]*Edge{}
	for _, r := range rows {
		var e Edge
		switch r.Role {
		case vocab.RoleServer:
			e = Edge{Requestor: r.Peer, Responder: r.Service}
			if _, err := netip.ParseAddr(r.Peer); err == nil {
				e.RequestorIP = r.Peer
			}
			if e.Requestor == "" {
				e.Requestor = "unknown"
			}
		case vocab.RoleClient:
			e = Edge{Requestor: r.Service, Responder: r.Peer}
			if ap, err := netip.ParseAddrPort(r.Peer); err == nil {
				e.ResponderIP = ap.Addr().String()
				e.Responder, e.ResponderDNS = responderOf(r, names.Owner(r.Peer, served), served)
			}
			if served[e.Responder] {
				continue // counted on the server side
			}
		default:
			continue
		}
		e.Protocol = cmp.Or(r.Protocol, protocolHTTP)
		k := edgeKey{e.Requestor, e.Responder, e.Protocol}
		acc := edges[k]
		if acc == nil {
			e.Latency = stats.NewSketch()
			acc = &e
			edges[k] = acc
		}
		// A name over several addresses (DNS round robin) has no one IP.
		if acc.RequestorIP != e.RequestorIP {
			acc.RequestorIP = ""
		}
		if acc.ResponderIP != e.ResponderIP {
			acc.ResponderIP = ""
		}
		acc.Requests += r.Count
		acc.Errors += r.Errors
		acc.BytesSent += r.ReqBytes
		acc.BytesRecv += r.RespBytes
		if r.Latency != nil {
			acc.Latency.Merge(r.Latency)
		}
	}
	out := make([]Edge, 0, len(edges))
	for _, e := range edges {
		out = append(out, *e)
	}
	slices.SortFunc(out, func(a, b Edge) int {
		return cmp.Or(cmp.Compare(b.Requests, a.Requests), cmp.Compare(a.Requestor, b.Requestor),
			cmp.Compare(a.Responder, b.Responder), cmp.Compare(a.Protocol, b.Protocol))
	})
	return out
}

// responderOf names a client row's server address: a traced listener
// first (its own rows count the requests), then the DNS name, then an
// untraced listener, else the address; dns is the name when it was used.
func responderOf(r stats.Endpoint, owner string, served map[string]bool) (name, dns string) {
	switch {
	case owner != "" && served[owner]:
		return owner, ""
	case r.PeerDNS != "":
		return r.PeerDNS, r.PeerDNS
	case owner != "":
		return owner, ""
	}
	return r.Peer, ""
}
