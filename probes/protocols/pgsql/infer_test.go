package pgsql_test

import (
	"testing"

	"github.com/kubectl-pixie/kubectl-pixie/probes/conn"
	"github.com/kubectl-pixie/kubectl-pixie/probes/protocols"
)

// TestNoCrossInference: PostgreSQL's first client messages are claimed by
// pgsql alone, and other protocols' first messages not by pgsql.
func TestNoCrossInference(t *testing.T) {
	firsts := map[string][]string{
		"http":  {"GET / HTTP/1.1\r\nHost: x\r\n\r\n", "POST /q HTTP/1.1\r\n"},
		"redis": {"*1\r\n$4\r\nPING\r\n"},
		"pgsql": {"\x00\x00\x00\x08\x04\xd2\x16\x2f", "\x00\x00\x00\x0d\x00\x03\x00\x00user\x00\x00", "Q\x00\x00\x00\x0dSELECT 1\x00"},
	}
	for name, msgs := range firsts {
		for _, m := range msgs {
			for _, p := range protocols.All() {
				if p.Name() != "pgsql" && name != "pgsql" {
					continue
				}
				inf := p.Infer([]byte(m), conn.Egress, conn.TransportTCP)
				if high := inf.Conf >= conn.Low; high != (p.Name() == name) {
					t.Errorf("%s on %s's %q: %v", p.Name(), name, m, inf.Conf)
				}
			}
		}
	}
}
