package pgsql

import (
	"net/netip"
	"testing"

	"github.com/kubectl-pixie/kubectl-pixie/probes/api"
	"github.com/kubectl-pixie/kubectl-pixie/probes/conn"
	"github.com/kubectl-pixie/kubectl-pixie/probes/protocols/internal/prototest"
)

// harness drives a conn.Tracker with the PostgreSQL protocol through
// events, the way the socket tracer does (probes/protocols/internal/prototest).
type harness = prototest.Harness[*api.PgSQLEvent]

func newHarness(tb testing.TB, opts conn.Options) *harness {
	return prototest.New[*api.PgSQLEvent](tb, opts, Protocol{}, netip.MustParseAddrPort("127.0.0.1:5432"))
}
