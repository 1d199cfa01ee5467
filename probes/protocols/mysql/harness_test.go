package mysql

import (
	"net/netip"
	"testing"

	"github.com/kubectl-pixie/kubectl-pixie/probes/api"
	"github.com/kubectl-pixie/kubectl-pixie/probes/conn"
	"github.com/kubectl-pixie/kubectl-pixie/probes/protocols/internal/prototest"
)

// harness drives a conn.Tracker with the MySQL protocol through
// events, the way the socket tracer does (probes/protocols/internal/prototest).
type harness = prototest.Harness[*api.MySQLEvent]

func newHarness(tb testing.TB, opts conn.Options) *harness {
	return prototest.New[*api.MySQLEvent](tb, opts, Protocol{}, netip.MustParseAddrPort("127.0.0.1:3306"))
}
