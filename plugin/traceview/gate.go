package traceview

import (
	"github.com/kubectl-pixie/kubectl-pixie/plugin/gate"
	"github.com/kubectl-pixie/kubectl-pixie/plugin/render"
	"github.com/kubectl-pixie/kubectl-pixie/probes/api"
	"github.com/kubectl-pixie/kubectl-pixie/probes/api/stats"
)

// GateSchema is what --fail-if rules of trace read: one row per endpoint
// of the table (its status classes together).
var GateSchema = gate.Schema{Columns: map[string]gate.Kind{
	"service": gate.Text, "endpoint": gate.Text, "protocol": gate.Text, "method": gate.Text, "path": gate.Text,
	"peer": gate.Text, "role": gate.Text,
	"req": gate.Number, "rps": gate.Number, "errors": gate.Number, "error_rate": gate.Ratio,
	"p50": gate.Duration, "p90": gate.Duration, "p99": gate.Duration, "max": gate.Duration, "bytes": gate.Bytes,
}}

// GateSource is the final table as --fail-if rules see it.
func (v *View) GateSource() gate.Source {
	return traceGate{eps: render.EndpointGroups(v.model.Rows(), v.o.Select), seconds: v.elapsed().Seconds()}
}

type traceGate struct {
	eps     []stats.Endpoint
	seconds float64
}

func (g traceGate) Rows() []gate.Row {
	rows := make([]gate.Row, len(g.eps))
	for i := range g.eps {
		e := &g.eps[i]
		rows[i] = g.row(e, i)
		rows[i].Label = render.Sanitize(e.Service + " " + api.EndpointText(e.Protocol, e.Method, e.Path))
	}
	return rows
}

// row has the endpoint's numbers (and text, but for a merged row).
func (g traceGate) row(e *stats.Endpoint, ref int) gate.Row {
	num := func(f float64) gate.Value { return gate.Value{Num: f} }
	text := func(s string) gate.Value { return gate.Value{Str: s} }
	q := []float64{0, 0, 0}
	if e.Latency != nil && e.Latency.Count() > 0 {
		q = e.Latency.Quantiles(0.5, 0.9, 0.99)
	}
	rps := 0.0
	if g.seconds > 0 {
		rps = float64(e.Count) / g.seconds
	}
	maxNs := 0.0
	if e.Latency != nil {
		maxNs = e.Latency.Max()
	}
	return gate.Row{Ref: ref, Values: map[string]gate.Value{
		"service": text(e.Service), "endpoint": text(api.EndpointText(e.Protocol, e.Method, e.Path)),
		"protocol": text(api.ProtocolName(e.Protocol)), "method": text(e.Method), "path": text(e.Path),
		"peer": text(e.Peer), "role": text(e.Role),
		"req": num(float64(e.Count)), "rps": num(rps), "errors": num(float64(e.Errors)), "error_rate": num(e.ErrorRate()),
		"p50": num(q[0]), "p90": num(q[1]), "p99": num(q[2]), "max": num(maxNs), "bytes": num(float64(e.ReqBytes + e.RespBytes)),
	}}
}

// Merge adds the rows' counts and merges their latency sketches.
func (g traceGate) Merge(rows []gate.Row) gate.Row {
	m := stats.Endpoint{Latency: stats.NewSketch()}
	for _, r := range rows {
		e := &g.eps[r.Ref]
		m.Count += e.Count
		m.Errors += e.Errors
		m.ReqBytes += e.ReqBytes
		m.RespBytes += e.RespBytes
		if e.Latency != nil {
			m.Latency.Merge(e.Latency)
		}
	}
	return g.row(&m, -1)
}

func (traceGate) Call(string, string) (gate.Value, bool) { return gate.Value{}, false }
