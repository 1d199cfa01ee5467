package mysql_test

import (
	"testing"

	"github.com/kubectl-pixie/kubectl-pixie/probes/conn"
	"github.com/kubectl-pixie/kubectl-pixie/probes/protocols"
)

// TestNoCrossInference: a MySQL greeting and query are claimed by mysql
// alone, and other protocols' first messages not by mysql.
func TestNoCrossInference(t *testing.T) {
	greeting := "\x4a\x00\x00\x00\x0a10.11.19-MariaDB-0+deb12u1\x00\x07\x00\x00\x00abcdefgh\x00\xfe\xf7\x2d\x02\x00\xff\x81\x15\x00\x00\x00\x00\x00\x00\x1d\x00\x00\x00ijklmnopqrst\x00mysql_native_password\x00"
	firsts := map[string][]string{
		"http":  {"GET / HTTP/1.1\r\nHost: x\r\n\r\n", "POST /q HTTP/1.1\r\n"},
		"redis": {"*1\r\n$4\r\nPING\r\n"},
		"pgsql": {"\x00\x00\x00\x08\x04\xd2\x16\x2f", "\x00\x00\x00\x0d\x00\x03\x00\x00user\x00\x00", "Q\x00\x00\x00\x0dSELECT 1\x00"},
		"mysql": {greeting, "\x09\x00\x00\x00\x03SELECT 1"},
	}
	for name, msgs := range firsts {
		for _, m := range msgs {
			for _, p := range protocols.All() {
				if p.Name() != "mysql" && name != "mysql" {
					continue
				}
				for _, dir := range []conn.Dir{conn.Egress, conn.Ingress} {
					inf := p.Infer([]byte(m), dir, conn.TransportTCP)
					if high := inf.Conf >= conn.Low; high != (p.Name() == name) {
						t.Errorf("%s on %s's %q (%v): %v", p.Name(), name, m, dir, inf.Conf)
					}
				}
			}
		}
	}
}
