// Package protocols is the registry of application protocols the
// conn.Tracker can recognise. Each protocol lives in its own subpackage and
// implements conn.Protocol; add new ones to All.
package protocols

import (
	"github.com/kubectl-pixie/kubectl-pixie/probes/conn"
	"github.com/kubectl-pixie/kubectl-pixie/probes/protocols/http1"
)

// All returns every protocol, in order of preference for equal confidence.
func All() []conn.Protocol {
	return []conn.Protocol{http1.Protocol{}}
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
