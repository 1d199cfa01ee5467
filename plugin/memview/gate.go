package memview

import (
	"fmt"

	"github.com/kubectl-pixie/kubectl-pixie/plugin/gate"
	"github.com/kubectl-pixie/kubectl-pixie/plugin/render"
	"github.com/kubectl-pixie/kubectl-pixie/probes/api"
)

// GateSchema is what --fail-if rules of memory read: one row per process
// with the agent's final verdict.
var GateSchema = gate.Schema{Columns: map[string]gate.Kind{
	"service": gate.Text, "pod": gate.Text, "comm": gate.Text, "verdict": gate.Text, "pid": gate.Number,
	"growth": gate.Ratio, "rate_per_min": gate.Bytes, "rss": gate.Bytes, "peak": gate.Bytes, "limit_use": gate.Ratio, "r2": gate.Number,
}}

// GateSource is the final verdicts as --fail-if rules see them.
func (v *View) GateSource() gate.Source { return memGate{v: v, sums: v.sortedSums()} }

type memGate struct {
	v    *View
	sums []api.MemorySummary
}

func (g memGate) Rows() []gate.Row {
	rows := make([]gate.Row, len(g.sums))
	for i := range g.sums {
		s := &g.sums[i]
		pod := ""
		if s.PodUID != "" {
			pod = g.v.podName(s.PodUID)
		}
		name := procName(s.Comm, pod, s.ContainerID)
		rows[i] = numbers(float64(s.StartRSSBytes), float64(s.EndRSSBytes), float64(s.PeakRSSBytes), s.GrowthBytesPerSec)
		rows[i].Ref = i
		rows[i].Label = render.Sanitize(fmt.Sprintf("%s %d", name, s.PID))
		for k, t := range map[string]string{"service": name, "pod": pod, "comm": s.Comm, "verdict": s.Verdict} {
			rows[i].Values[k] = gate.Value{Str: t}
		}
		rows[i].Values["pid"] = gate.Value{Num: float64(s.PID)}
		rows[i].Values["limit_use"] = gate.Value{Num: s.PercentOfLimit / 100}
		rows[i].Values["r2"] = gate.Value{Num: s.RSquared}
	}
	return rows
}

// numbers are the columns a merged row has too.
func numbers(start, end, peak, perSec float64) gate.Row {
	growth := 0.0
	if start > 0 {
		growth = (end - start) / start
	}
	return gate.Row{Values: map[string]gate.Value{"growth": {Num: growth}, "rate_per_min": {Num: 60 * perSec}, "rss": {Num: end}, "peak": {Num: peak}}}
}

// Merge adds the processes' memory: growth is the sum's.
func (g memGate) Merge(rows []gate.Row) gate.Row {
	var start, end, peak, rate float64
	for _, r := range rows {
		s := &g.sums[r.Ref]
		start, end, peak, rate = start+float64(s.StartRSSBytes), end+float64(s.EndRSSBytes), peak+float64(s.PeakRSSBytes), rate+s.GrowthBytesPerSec
	}
	return numbers(start, end, peak, rate)
}

func (memGate) Call(string, string) (gate.Value, bool) { return gate.Value{}, false }
