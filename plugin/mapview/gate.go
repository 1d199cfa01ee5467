package mapview

import (
	"github.com/kubectl-pixie/kubectl-pixie/plugin/gate"
	"github.com/kubectl-pixie/kubectl-pixie/plugin/render"
	"github.com/kubectl-pixie/kubectl-pixie/probes/api/stats"
)

// GateSchema is what --fail-if rules of map read: one row per edge.
var GateSchema = gate.Schema{Columns: map[string]gate.Kind{
	"requestor": gate.Text, "responder": gate.Text, "protocol": gate.Text,
	"req": gate.Number, "rps": gate.Number, "errors": gate.Number, "error_rate": gate.Ratio,
	"p50": gate.Duration, "p90": gate.Duration, "p99": gate.Duration, "bytes": gate.Bytes,
}}

// GateSource is the final map as --fail-if rules see it.
func (v *View) GateSource() gate.Source {
	return edgeGate{edges: v.Edges(), seconds: v.elapsed().Seconds()}
}

type edgeGate struct {
	edges   []Edge
	seconds float64
}

func (g edgeGate) Rows() []gate.Row {
	rows := make([]gate.Row, len(g.edges))
	for i := range g.edges {
		e := &g.edges[i]
		rows[i] = g.row(e, i)
		rows[i].Label = render.Sanitize(e.Requestor + " -> " + e.Responder + " " + e.Protocol)
	}
	return rows
}

func (g edgeGate) row(e *Edge, ref int) gate.Row {
	num := func(f float64) gate.Value { return gate.Value{Num: f} }
	rps := 0.0
	if g.seconds > 0 {
		rps = float64(e.Requests) / g.seconds
	}
	return gate.Row{Ref: ref, Values: map[string]gate.Value{
		"requestor": {Str: e.Requestor}, "responder": {Str: e.Responder}, "protocol": {Str: e.Protocol},
		"req": num(float64(e.Requests)), "rps": num(rps), "errors": num(float64(e.Errors)), "error_rate": num(e.ErrorRate()),
		"p50": num(e.Quantile(0.5)), "p90": num(e.Quantile(0.9)), "p99": num(e.Quantile(0.99)),
		"bytes": num(float64(e.BytesSent + e.BytesRecv)),
	}}
}

// Merge adds the edges' counts and merges their latency sketches.
func (g edgeGate) Merge(rows []gate.Row) gate.Row {
	m := Edge{Latency: stats.NewSketch()}
	for _, r := range rows {
		e := &g.edges[r.Ref]
		m.Requests += e.Requests
		m.Errors += e.Errors
		m.BytesSent += e.BytesSent
		m.BytesRecv += e.BytesRecv
		if e.Latency != nil {
			m.Latency.Merge(e.Latency)
		}
	}
	return g.row(&m, -1)
}

func (edgeGate) Call(string, string) (gate.Value, bool) { return gate.Value{}, false }
