package agent

import (
	"net/netip"

	"github.com/kubectl-pixie/kubectl-pixie/probes/api"
)

// maxDNSNames bounds the addresses named by DNS answers a node keeps.
const maxDNSNames = 1 << 14

// dnsNames names addresses by the queries whose traced answers gave them
// (never by a reverse lookup). Bounded: past max, the oldest address is
// forgotten and counted in evicted. Not safe for concurrent use.
type dnsNames struct {
	names   map[netip.Addr]string
	order   []netip.Addr // insertion order, a ring once full
	next    int
	max     int
	evicted uint64
}

func newDNSNames(max int) *dnsNames {
	return &dnsNames{names: map[netip.Addr]string{}, max: max}
}

// learn remembers the addresses of a DNS answer; a later answer for the
// same address renames it.
func (d *dnsNames) learn(ev *api.DNSEvent) {
	if ev.QueryName == "" {
		return
	}
	for _, a := range ev.Answers {
		a = a.Unmap()
		if _, known := d.names[a]; known {
			d.names[a] = ev.QueryName
			continue
		}
		if len(d.order) < d.max {
			d.order = append(d.order, a)
		} else {
			delete(d.names, d.order[d.next])
			d.order[d.next] = a
			d.next = (d.next + 1) % d.max
			d.evicted++
		}
		d.names[a] = ev.QueryName
	}
}

// name is the name DNS gave addr, or "".
func (d *dnsNames) name(addr string) string {
	if len(d.names) == 0 {
		return ""
	}
	a, err := netip.ParseAddr(addr)
	if err != nil {
		return ""
	}
	return d.names[a.Unmap()]
}
