package memview

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/kubectl-pixie/kubectl-pixie/plugin/gate"
	"github.com/kubectl-pixie/kubectl-pixie/plugin/render"
	"github.com/kubectl-pixie/kubectl-pixie/probes/api/trend"
)

// MemDiff compares the memory of two runs per process name (pod and
// command: PIDs and container IDs change between runs), or per row of
// --group-by in cluster recordings (a workload keeps its name when its
// pods are replaced). Processes that share a name add up; the verdict is
// that of the fastest grower, a group's its rolled-up verdict.
type MemDiff struct {
	Rows   []ProcDiff
	titles [2]string
	row    string // what a row is: PROCESS, WORKLOAD or POD
}

// MemSide is one run of a process name (or group).
type MemSide struct {
	Processes              int
	GrowthPerSec, Low, Hi  float64 // bytes/s, with the 95% interval
	StartRSS, EndRSS, Peak uint64
	Verdict                string
	// Of says which members have Verdict in a group (--group-by) where
	// not all do: "1 of 3 pods, api-7d9-x".
	Of string `json:",omitempty"`
}

// ProcDiff is one process name in both runs (nil: missing from a run).
type ProcDiff struct {
	Name      string
	Base, New *MemSide
	// Marked: "rate" when the growth rates' 95% intervals do not overlap,
	// "verdict" when the verdict changed.
	Marked []string
}

func (v *View) sides() (map[string]*MemSide, []string) {
	m := map[string]*MemSide{}
	var order []string
	if v.o.Group != nil {
		for _, r := range v.groupRows(true) {
			name := groupName(r.Service, r.Node)
			if m[name] != nil {
				continue // two host processes of one name and pid: keep the faster
			}
			e := &MemSide{Processes: r.Processes, GrowthPerSec: r.GrowthBytesPerSec, Low: r.GrowthLowBytesPerSec, Hi: r.GrowthHighBytesPerSec,
				StartRSS: r.StartRSSBytes, EndRSS: r.EndRSSBytes, Peak: r.PeakRSSBytes, Verdict: r.Verdict}
			if r.Units > 1 && r.VerdictCount < r.Units {
				e.Of = fmt.Sprintf("%d of %d %s, %s", r.VerdictCount, r.Units, r.Unit, r.culpritName)
			}
			m[name] = e
			order = append(order, name)
		}
		return m, order
	}
	for _, s := range v.sortedSums() { // fastest grower first
		pod := ""
		if s.PodUID != "" {
			pod = v.podName(s.PodUID)
		}
		name := procName(s.Comm, pod, "")
		e := m[name]
		if e == nil {
			e = &MemSide{Verdict: s.Verdict}
			m[name] = e
			order = append(order, name)
		}
		e.Processes++
		e.GrowthPerSec += s.GrowthBytesPerSec
		e.Low += s.GrowthLowBytesPerSec
		e.Hi += s.GrowthHighBytesPerSec
		e.StartRSS += s.StartRSSBytes
		e.EndRSS += s.EndRSSBytes
		e.Peak += s.PeakRSSBytes
	}
	return m, order
}

// Compare joins the processes of two finished views (replays).
func Compare(base, next *View) *MemDiff {
	b, border := base.sides()
	n, norder := next.sides()
	d := &MemDiff{row: "PROCESS"}
	if g := next.o.Group; g != nil {
		d.row = map[bool]string{false: "WORKLOAD", true: "POD"}[g.Pod]
	}
	for _, name := range append(norder, border...) {
		if slices.ContainsFunc(d.Rows, func(r ProcDiff) bool { return r.Name == name }) {
			continue
		}
		r := ProcDiff{Name: name, Base: b[name], New: n[name]}
		if r.Base != nil && r.New != nil {
			if r.New.Low > r.Base.Hi || r.New.Hi < r.Base.Low {
				r.Marked = append(r.Marked, "rate")
			}
			if r.New.Verdict != r.Base.Verdict {
				r.Marked = append(r.Marked, "verdict")
			}
		}
		d.Rows = append(d.Rows, r)
	}
	return d
}

// Titles names the runs (file names) in the heading.
func (d *MemDiff) Titles(base, next string) { d.titles = [2]string{base, next} }

// MarkedCount is the number of marked changes.
func (d *MemDiff) MarkedCount() int {
	n := 0
	for _, r := range d.Rows {
		n += len(r.Marked)
	}
	return n
}

// WriteTable writes one row per process name: growth rate, RSS at the
// end and verdict, BASE -> NEW; marked changes end in *.
func (d *MemDiff) WriteTable(w io.Writer, p *render.Palette) error {
	fmt.Fprintf(w, "BASE %s  NEW %s\n\n", render.Sanitize(d.titles[0]), render.Sanitize(d.titles[1]))
	t := render.Table{Columns: []render.Column{{Title: d.row}, {Title: "RATE", Right: true}, {Title: "RSS", Right: true}, {Title: "VERDICT"}}}
	for _, r := range d.Rows {
		cell := func(col, s string) render.Cell {
			if !slices.Contains(r.Marked, col) {
				return render.Plain(s)
			}
			return render.Styled(s+" *", p.Warn)
		}
		side := func(s *MemSide, f func(*MemSide) string) string {
			if s == nil {
				return "-"
			}
			return f(s)
		}
		rate := func(s *MemSide) string { return trend.Rate(s.GrowthPerSec) }
		rss := func(s *MemSide) string { return trend.Bytes(float64(s.EndRSS)) }
		verdict := func(s *MemSide) string {
			if s.Of != "" {
				return s.Verdict + " (" + s.Of + ")"
			}
			return s.Verdict
		}
		t.Rows = append(t.Rows, []render.Cell{render.Plain(render.Sanitize(r.Name)),
			cell("rate", side(r.Base, rate)+" → "+side(r.New, rate)),
			render.Plain(side(r.Base, rss) + " → " + side(r.New, rss)),
			cell("verdict", render.Sanitize(side(r.Base, verdict)+" → "+side(r.New, verdict)))})
	}
	for _, l := range t.Lines() {
		fmt.Fprintln(w, l)
	}
	_, err := fmt.Fprintf(w, "\n%d changes marked * (rate: the 95%% intervals of the growth rates do not overlap; verdict: changed)\n", d.MarkedCount())
	return err
}

// memRecord is one process name in -o json.
type memRecord struct {
	Table   string   `json:"table"`
	Process string   `json:"process"`
	Base    *MemSide `json:"base"`
	New     *MemSide `json:"new"`
	Marked  []string `json:"marked"`
}

// TableMemoryDiff is the -o json record of one process name.
const TableMemoryDiff = "memory_diff"

// WriteJSON writes one memory_diff record per process name.
func (d *MemDiff) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	for _, r := range d.Rows {
		// Marked is [] in JSON, never null, when nothing is marked.
		rec := memRecord{Table: TableMemoryDiff, Process: r.Name, Base: r.Base, New: r.New, Marked: append([]string{}, r.Marked...)}
		if err := enc.Encode(rec); err != nil {
			return err
		}
	}
	return nil
}

// DiffGateSchema is what --fail-if rules of a memory diff read: one row
// per process name (rate_per_min > +1MiB: it grows a MiB a minute faster).
var DiffGateSchema = gate.Schema{Diff: true, Columns: map[string]gate.Kind{
	"service": gate.Text, "verdict": gate.Text, "base_verdict": gate.Text, "marked": gate.Text,
	"rate_per_min": gate.Bytes, "rss": gate.Bytes, "peak": gate.Bytes, "growth": gate.Ratio,
}}

// GateSource is the diff as --fail-if rules see it.
func (d *MemDiff) GateSource() gate.Source { return memDiffGate{d} }

type memDiffGate struct{ d *MemDiff }

func memNumbers(s *MemSide) map[string]float64 {
	if s == nil {
		return map[string]float64{}
	}
	growth := 0.0
	if s.StartRSS > 0 {
		growth = (float64(s.EndRSS) - float64(s.StartRSS)) / float64(s.StartRSS)
	}
	return map[string]float64{"rate_per_min": 60 * s.GrowthPerSec, "rss": float64(s.EndRSS), "peak": float64(s.Peak), "growth": growth}
}

func (g memDiffGate) Rows() []gate.Row {
	rows := make([]gate.Row, len(g.d.Rows))
	for i, r := range g.d.Rows {
		verdict := func(s *MemSide) string {
			if s == nil {
				return ""
			}
			return s.Verdict
		}
		vals := map[string]gate.Value{"service": {Str: r.Name}, "verdict": {Str: verdict(r.New)},
			"base_verdict": {Str: verdict(r.Base)}, "marked": {Str: strings.Join(r.Marked, " ")}}
		b, n := memNumbers(r.Base), memNumbers(r.New)
		for col := range memNumbers(&MemSide{}) {
			vals[col] = gate.Value{Num: n[col], Base: b[col], HasBase: r.Base != nil && r.New != nil}
		}
		rows[i] = gate.Row{Ref: i, Label: render.Sanitize(r.Name), Values: vals}
	}
	return rows
}

// Merge adds the processes' memory.
func (g memDiffGate) Merge(rows []gate.Row) gate.Row {
	var b, n MemSide
	for _, r := range rows {
		x := g.d.Rows[r.Ref]
		for _, p := range []struct{ dst, src *MemSide }{{&b, x.Base}, {&n, x.New}} {
			if p.src != nil {
				p.dst.GrowthPerSec += p.src.GrowthPerSec
				p.dst.StartRSS += p.src.StartRSS
				p.dst.EndRSS += p.src.EndRSS
				p.dst.Peak += p.src.Peak
			}
		}
	}
	bn, nn := memNumbers(&b), memNumbers(&n)
	vals := map[string]gate.Value{}
	for col := range nn {
		vals[col] = gate.Value{Num: nn[col], Base: bn[col], HasBase: len(rows) > 0}
	}
	return gate.Row{Values: vals}
}

func (memDiffGate) Call(string, string) (gate.Value, bool) { return gate.Value{}, false }
