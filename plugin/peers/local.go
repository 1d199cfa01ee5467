package peers

import (
	"net/netip"

	"github.com/kubectl-pixie/kubectl-pixie/probes/api"
)

// Listeners name the processes behind local addresses (--local): the
// agent's listening_ports.
type Listeners struct {
	byAddr map[netip.AddrPort][]api.ListeningPort
	byPort map[uint16][]api.ListeningPort // wildcard listeners (0.0.0.0, ::)
}

// NewListeners indexes ls.
func NewListeners(ls []api.ListeningPort) Listeners {
	l := Listeners{byAddr: map[netip.AddrPort][]api.ListeningPort{}, byPort: map[uint16][]api.ListeningPort{}}
	for _, p := range ls {
		a, err := netip.ParseAddr(p.Addr)
		if err != nil {
			continue
		}
		if a.IsUnspecified() {
			l.byPort[p.Port] = append(l.byPort[p.Port], p)
		} else {
			ap := netip.AddrPortFrom(a.Unmap(), p.Port)
			l.byAddr[ap] = append(l.byAddr[ap], p)
		}
	}
	return l
}

// Owner names the process listening on addr ("ip:port") as
// api.ProcessName does; "" when none listens there (see Listener).
func (l Listeners) Owner(addr string, served map[string]bool) string {
	if p, ok := l.Listener(addr, served); ok {
		return api.ProcessName(p.Comm, p.PID)
	}
	return ""
}

// Listener is the socket listening on addr ("ip:port"), preferring a
// process that served requests (nginx's worker, not its master; served
// holds api.ProcessName names), then a traced one, then the lowest PID.
func (l Listeners) Listener(addr string, served map[string]bool) (api.ListeningPort, bool) {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		return api.ListeningPort{}, false
	}
	cands := l.byAddr[netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())]
	if len(cands) == 0 {
		cands = l.byPort[ap.Port()]
	}
	var best api.ListeningPort
	bestName, bestRank := "", -1
	for _, c := range cands {
		name := api.ProcessName(c.Comm, c.PID)
		rank := 0
		switch {
		case served[name]:
			rank = 2
		case c.Traced:
			rank = 1
		}
		if rank > bestRank || rank == bestRank && name < bestName {
			best, bestName, bestRank = c, name, rank
		}
	}
	return best, bestRank >= 0
}
