package pgsql

import (
	"testing"

	"github.com/kubectl-pixie/kubectl-pixie/probes/conn"
)

// BenchmarkTracker: one pgbench-style extended query (Parse, Bind,
// Describe, Execute, Sync) and its answer per iteration, through the
// Tracker as the agent runs it for tables (no query or result text).
func BenchmarkTracker(b *testing.B) {
	h := newHarness(b, conn.Options{BodyLimit: -1, NoHeaders: true})
	h.Open(conn.RoleServer)
	h.In(startup)
	h.Out(authOK + ready)
	req := parse("", "SELECT abalance FROM pgbench_accounts WHERE aid = $1") + bind("", "", "4242") + describe + execute("") + sync
	resp := parseOK + bindOK + rowDesc + dataRow("0") + complete("SELECT 1") + ready
	b.ReportAllocs()
	for b.Loop() {
		h.In(req)
		h.Out(resp)
		h.Recs = h.Recs[:0]
	}
}
