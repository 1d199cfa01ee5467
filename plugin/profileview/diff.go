package profileview

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"time"

	"github.com/kubectl-pixie/kubectl-pixie/plugin/flame"
	"github.com/kubectl-pixie/kubectl-pixie/plugin/gate"
	"github.com/kubectl-pixie/kubectl-pixie/plugin/render"
)

// Thresholds decide which functions' self time is marked as changed.
type Thresholds struct {
	// MinSamples: the larger run has at least this many self samples of
	// the function (a function new in NEW has none in BASE).
	MinSamples uint64
	// MinChange is the smallest change marked, relative to BASE.
	MinChange float64
}

// DefaultThresholds are the diff command's defaults.
var DefaultThresholds = Thresholds{MinSamples: 100, MinChange: 0.1}

// zMarked is the z score a change of self samples must reach: samples
// are Poisson counts, so a rate's standard error is sqrt(count)/window.
const zMarked = 3

// ProfileDiff compares two profiles function by function (self time)
// and draws NEW's flame graph coloured by change.
type ProfileDiff struct {
	*flame.Diff
	Funcs  []FuncDiff
	th     Thresholds
	titles [2]string
}

// FuncDiff is one function's self time in both runs.
type FuncDiff struct {
	flame.FuncDiff
	BaseCPU, NewCPU float64 // fractions of one CPU
	Marked          bool
}

// Compare compares two finished views (replays).
func Compare(base, next *View, th Thresholds) *ProfileDiff {
	d := &ProfileDiff{Diff: flame.NewDiff(base.prof, next.prof), th: th}
	for _, f := range d.Diff.Funcs() {
		if f.Base == 0 && f.New == 0 {
			continue // no self time in either run: the flame graph shows it
		}
		fd := FuncDiff{FuncDiff: f, BaseCPU: flame.CPU(base.prof, f.Base), NewCPU: flame.CPU(next.prof, f.New)}
		fd.Marked = d.changed(f.Base, f.New)
		d.Funcs = append(d.Funcs, fd)
	}
	return d
}

// changed: enough samples, a Poisson z score of zMarked and MinChange.
func (d *ProfileDiff) changed(b, n uint64) bool {
	if max(b, n) < d.th.MinSamples {
		return false
	}
	tb, tn := seconds(d.Base), seconds(d.New)
	rb, rn := float64(b)/tb, float64(n)/tn
	z := (rn - rb) / math.Sqrt(float64(b)/(tb*tb)+float64(n)/(tn*tn))
	return math.Abs(z) >= zMarked && math.Abs(rn-rb) >= d.th.MinChange*rb
}

// seconds is a profile's window, or 1 when unknown (counts compare as
// they are).
func seconds(p *flame.Profile) float64 {
	if p.DurationNs <= 0 {
		return 1
	}
	return float64(p.DurationNs) / 1e9
}

// Titles names the runs (file names) in headings.
func (d *ProfileDiff) Titles(base, next string) { d.titles = [2]string{base, next} }

// MarkedCount is the number of marked functions.
func (d *ProfileDiff) MarkedCount() int {
	n := 0
	for _, f := range d.Funcs {
		if f.Marked {
			n++
		}
	}
	return n
}

// maxFuncRows bounds the table: the largest changes come first.
const maxFuncRows = 15

// WriteTerminal writes the heading, the functions whose self time changed
// most (marked ones end in *), the legend and the differential flame
// graph.
func (d *ProfileDiff) WriteTerminal(w io.Writer, p *render.Palette, o flame.TermOptions) error {
	fmt.Fprintf(w, "BASE %s (%s samples, %s)  NEW %s (%s samples, %s)\n\n",
		render.Sanitize(d.titles[0]), render.FormatCount(d.Base.Total()), render.FormatWindow(time.Duration(d.Base.DurationNs)),
		render.Sanitize(d.titles[1]), render.FormatCount(d.New.Total()), render.FormatWindow(time.Duration(d.New.DurationNs)))
	t := render.Table{Columns: []render.Column{{Title: "FUNCTION (self)"}, {Title: "BASE CPU", Right: true},
		{Title: "NEW CPU", Right: true}, {Title: "CHANGE", Right: true}, {Title: "SAMPLES", Right: true}, {Title: "MODULE"}},
		MaxWidth: o.Width, Shrink: 0}
	for _, f := range d.Funcs[:min(len(d.Funcs), maxFuncRows)] {
		change := fmt.Sprintf("%+.1f%%", 100*(f.NewCPU-f.BaseCPU))
		cell := render.Plain(change)
		if f.Marked {
			style := p.OK
			if f.NewCPU > f.BaseCPU {
				style = p.Error
			}
			cell = render.Styled(change+" *", style)
		}
		name := render.Sanitize(f.Name)
		if f.Comm != "" {
			name = render.Sanitize(f.Comm) + " " + name
		}
		t.Rows = append(t.Rows, []render.Cell{render.Plain(name),
			render.Plain(render.FormatPercent(100*f.BaseCPU) + "%"), render.Plain(render.FormatPercent(100*f.NewCPU) + "%"), cell,
			render.Plain(render.FormatCount(f.Base) + " → " + render.FormatCount(f.New)), render.Plain(render.Sanitize(f.Module))})
	}
	for _, l := range t.Lines() {
		fmt.Fprintln(w, l)
	}
	fmt.Fprintf(w, "\n%d functions marked * (CPU of one core; >= %d samples in one run, z >= %d, >= %s%% of BASE)\n\n",
		d.MarkedCount(), d.th.MinSamples, zMarked, render.FormatPercent(100*d.th.MinChange))
	fmt.Fprintln(w, "NEW's flame graph, each frame's change from BASE on the right (red: more CPU, blue: less)")
	return d.Diff.WriteTerminal(w, o)
}

// funcRecord is one function in -o json.
type funcRecord struct {
	Table       string  `json:"table"`
	Function    string  `json:"function"`
	Module      string  `json:"module"`
	Comm        string  `json:"comm,omitempty"`
	BaseSamples uint64  `json:"base_samples"`
	NewSamples  uint64  `json:"new_samples"`
	BaseCPU     float64 `json:"base_cpu"`
	NewCPU      float64 `json:"new_cpu"`
	Marked      bool    `json:"marked"`
}

// TableFunctionDiff is the -o json record of one function.
const TableFunctionDiff = "function_diff"

// WriteJSON writes one function_diff record per function.
func (d *ProfileDiff) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	for _, f := range d.Funcs {
		err := enc.Encode(funcRecord{Table: TableFunctionDiff, Function: f.Name, Module: f.Module, Comm: f.Comm,
			BaseSamples: f.Base, NewSamples: f.New, BaseCPU: f.BaseCPU, NewCPU: f.NewCPU, Marked: f.Marked})
		if err != nil {
			return err
		}
	}
	return nil
}

// DiffGateSchema is what --fail-if rules of a profile diff read: one row
// per function, cpu its self time as a share of one CPU (cpu > +10%: it
// gained a tenth of a CPU), self its share of the run's samples.
var DiffGateSchema = gate.Schema{Diff: true, Columns: map[string]gate.Kind{
	"function": gate.Text, "module": gate.Text, "comm": gate.Text, "marked": gate.Text,
	"cpu": gate.Ratio, "self": gate.Ratio, "samples": gate.Number,
}}

// GateSource is the diff as --fail-if rules see it.
func (d *ProfileDiff) GateSource() gate.Source { return diffGate{d} }

type diffGate struct{ d *ProfileDiff }

func share(n, total uint64) float64 {
	if total == 0 {
		return 0
	}
	return float64(n) / float64(total)
}

func (g diffGate) row(label string, base, next uint64, baseCPU, newCPU float64) gate.Row {
	v := func(b, n float64) gate.Value { return gate.Value{Num: n, Base: b, HasBase: true} }
	return gate.Row{Label: label, Values: map[string]gate.Value{
		"cpu": v(baseCPU, newCPU), "self": v(share(base, g.d.Base.Total()), share(next, g.d.New.Total())),
		"samples": v(float64(base), float64(next)),
	}}
}

func (g diffGate) Rows() []gate.Row {
	rows := make([]gate.Row, len(g.d.Funcs))
	for i, f := range g.d.Funcs {
		label := f.Name
		if f.Comm != "" {
			label = f.Comm + " " + label
		}
		rows[i] = g.row(render.Sanitize(label), f.Base, f.New, f.BaseCPU, f.NewCPU)
		rows[i].Ref = i
		marked := ""
		if f.Marked {
			marked = "self"
		}
		for k, s := range map[string]string{"function": f.Name, "module": f.Module, "comm": f.Comm, "marked": marked} {
			rows[i].Values[k] = gate.Value{Str: s}
		}
	}
	return rows
}

// Merge adds the functions' self samples.
func (g diffGate) Merge(rows []gate.Row) gate.Row {
	var b, n uint64
	for _, r := range rows {
		b += g.d.Funcs[r.Ref].Base
		n += g.d.Funcs[r.Ref].New
	}
	return g.row("", b, n, flame.CPU(g.d.Base, b), flame.CPU(g.d.New, n))
}

func (diffGate) Call(string, string) (gate.Value, bool) { return gate.Value{}, false }
