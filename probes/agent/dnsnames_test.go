package agent

import (
	"net/netip"
	"testing"

	"github.com/kubectl-pixie/kubectl-pixie/probes/api"
)

func dnsAnswer(name string, addrs ...string) *api.DNSEvent {
	ev := &api.DNSEvent{QueryName: name}
	for _, a := range addrs {
		ev.Answers = append(ev.Answers, netip.MustParseAddr(a))
	}
	return ev
}

func TestDNSNames(t *testing.T) {
	d := newDNSNames(2)
	if d.name("10.0.0.1") != "" {
		t.Fatal("named before any answer")
	}
	d.learn(dnsAnswer("a.test", "10.0.0.1", "::ffff:10.0.0.2"))
	if d.name("10.0.0.1") != "a.test" || d.name("10.0.0.2") != "a.test" || d.name("::ffff:10.0.0.1") != "a.test" {
		t.Errorf("names %v", d.names)
	}
	if d.name("10.0.0.3") != "" || d.name("not an ip") != "" {
		t.Error("named an address no answer gave")
	}
	// A later answer renames an address it keeps, without evicting.
	d.learn(dnsAnswer("b.test", "10.0.0.1"))
	if d.name("10.0.0.1") != "b.test" || d.evicted != 0 {
		t.Errorf("renamed: %v, evicted %d", d.names, d.evicted)
	}
	// Full: the oldest address goes, and is counted.
	d.learn(dnsAnswer("c.test", "10.0.0.3"))
	if d.name("10.0.0.1") != "" || d.name("10.0.0.2") != "a.test" || d.name("10.0.0.3") != "c.test" || d.evicted != 1 || len(d.names) != 2 {
		t.Errorf("after eviction: %v, evicted %d", d.names, d.evicted)
	}
	d.learn(dnsAnswer("", "10.0.0.4"))
	if d.name("10.0.0.4") != "" {
		t.Error("named by an answer without a query name")
	}
}
