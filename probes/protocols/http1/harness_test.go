package http1

import (
	"net/netip"
	"testing"

	"github.com/kubectl-pixie/kubectl-pixie/probes/api"
	"github.com/kubectl-pixie/kubectl-pixie/probes/conn"
	"github.com/kubectl-pixie/kubectl-pixie/probes/protocols/internal/prototest"
)

// harness drives a conn.Tracker with the HTTP/1 protocol through
// events, the way the socket tracer does (probes/protocols/internal/prototest).
type harness = prototest.Harness[*api.HTTPEvent]

var (
	clientAddr = prototest.Client
	serverAddr = netip.MustParseAddrPort("127.0.0.1:8080")
)

const (
	tStep = prototest.Step
	tCall = prototest.Call
)

// newHarness builds a harness whose records keep everything captured
// (full data access) unless opts asks for a mode: parsing tests compare
// paths, headers and bodies; the redaction tests name their mode.
func newHarness(tb testing.TB, opts conn.Options) *harness {
	if opts.Access == "" {
		opts.Access = api.DataAccessFull
	}
	return prototest.New[*api.HTTPEvent](tb, opts, Protocol{}, serverAddr)
}
