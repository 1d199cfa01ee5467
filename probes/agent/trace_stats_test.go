//go:build linux

package agent

import (
	"testing"

	"github.com/kubectl-pixie/kubectl-pixie/probes/conn"
	"github.com/kubectl-pixie/kubectl-pixie/probes/socktrace"
)

// Connections evicted to keep the parsers within the memory budget are
// losses in the footer, under their own reason.
func TestProbeStatsCountsBudgetEvictions(t *testing.T) {
	ps := probeStats(socktrace.Stats{}, conn.Stats{BudgetConns: 7, EvictedConns: 2}, 0, 0, 0, true)
	if ps.LostBy["budget_evicted_conns"] != 7 || ps.EventsLost != 9 {
		t.Fatalf("lost_by %v, events_lost %d", ps.LostBy, ps.EventsLost)
	}
}
