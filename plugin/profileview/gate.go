package profileview

import (
	"github.com/kubectl-pixie/kubectl-pixie/plugin/flame"
	"github.com/kubectl-pixie/kubectl-pixie/plugin/gate"
	"github.com/kubectl-pixie/kubectl-pixie/plugin/render"
)

// GateSchema is what --fail-if rules of profile read: one row per
// function (per process name when several), with its share of the
// samples, and self("NAME") and total("NAME") of one function by name.
var GateSchema = gate.Schema{
	Columns: map[string]gate.Kind{"function": gate.Text, "module": gate.Text, "comm": gate.Text,
		"self": gate.Ratio, "total": gate.Ratio, "samples": gate.Number},
	Funcs: map[string]gate.Kind{"self": gate.Ratio, "total": gate.Ratio},
}

// GateSource is the final profile as --fail-if rules see it.
func (v *View) GateSource() gate.Source {
	return profGate{funcs: v.prof.Top(0), all: float64(v.prof.Total())}
}

type profGate struct {
	funcs []flame.Func
	all   float64 // samples
}

func (g profGate) share(n uint64) gate.Value {
	if g.all == 0 {
		return gate.Value{}
	}
	return gate.Value{Num: float64(n) / g.all}
}

func (g profGate) Rows() []gate.Row {
	rows := make([]gate.Row, len(g.funcs))
	for i, f := range g.funcs {
		label := f.Name
		if f.Comm != "" {
			label = f.Comm + " " + label
		}
		rows[i] = gate.Row{Ref: i, Label: render.Sanitize(label), Values: map[string]gate.Value{
			"function": {Str: f.Name}, "module": {Str: f.Module}, "comm": {Str: f.Comm},
			"self": g.share(f.Self), "total": g.share(f.Total), "samples": {Num: g.all},
		}}
	}
	return rows
}

// Merge adds the functions' self samples (total shares may overlap: one
// stack holds several functions).
func (g profGate) Merge(rows []gate.Row) gate.Row {
	var self, total uint64
	for _, r := range rows {
		self += g.funcs[r.Ref].Self
		total += g.funcs[r.Ref].Total
	}
	return gate.Row{Values: map[string]gate.Value{"self": g.share(self), "total": g.share(min(total, uint64(g.all))), "samples": {Num: g.all}}}
}

// Call is self("NAME") or total("NAME"): the function's share, all
// processes together.
func (g profGate) Call(fn, name string) (gate.Value, bool) {
	var n uint64
	for _, f := range g.funcs {
		if f.Name != name {
			continue
		}
		switch fn {
		case "self":
			n += f.Self
		case "total":
			n += f.Total
		}
	}
	return g.share(n), fn == "self" || fn == "total"
}
