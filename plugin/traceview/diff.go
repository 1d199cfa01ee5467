package traceview

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/kubectl-pixie/kubectl-pixie/plugin/gate"
	"github.com/kubectl-pixie/kubectl-pixie/plugin/render"
	"github.com/kubectl-pixie/kubectl-pixie/probes/api"
	"github.com/kubectl-pixie/kubectl-pixie/probes/api/stats"
)

// Thresholds decide which changes of a diff are marked. A change is
// marked only when each run has MinRequests requests of the endpoint:
// with fewer, a p99 is a handful of requests.
type Thresholds struct {
	MinRequests uint64
	// MinChange is the smallest relative change marked (rate and
	// latencies): 0.1 ignores the jitter of a busy node below 10%.
	MinChange float64
	// MinDelta is the smallest latency change marked: below it, scheduling
	// noise moves percentiles of fast endpoints by large fractions.
	MinDelta time.Duration
}

// DefaultThresholds are the diff command's defaults.
var DefaultThresholds = Thresholds{MinRequests: 100, MinChange: 0.1, MinDelta: time.Millisecond}

// zMarked is the two-sided z score a change of rate or error share must
// reach (about 3 in 1000 unchanged endpoints marked by chance).
const zMarked = 3

// EndpointDiff is one endpoint (service, protocol, method, path, peer,
// role; status classes together) in the two runs. Base or New is nil
// when the endpoint is missing from that run.
type EndpointDiff struct {
	Service, Endpoint string
	Base, New         *stats.Endpoint
	// Marked are the changed columns: rps, error_rate, p50, p99.
	Marked []string
}

// TraceDiff compares two trace runs.
type TraceDiff struct {
	Rows                  []EndpointDiff
	BaseSecs, NewSecs     float64
	BaseTotal, NewTotal   uint64
	th                    Thresholds
	alpha                 float64 // the sketches' relative error
	baseLabel, newLabel   string
	baseWindow, newWindow time.Duration
	heads                 [2]string // the first two columns' titles
}

// Compare joins the endpoints of two finished views (replays) and marks
// the changes that pass th.
func Compare(base, next *View, th Thresholds) *TraceDiff {
	return CompareRows(render.EndpointGroups(base.model.Rows(), render.TraceSelect{}), render.EndpointGroups(next.model.Rows(), render.TraceSelect{}),
		base.elapsed().Seconds(), next.elapsed().Seconds(), th)
}

// CompareRows joins two runs' rows (one per endpoint or edge: status
// classes merged), whose windows were baseSecs and newSecs long.
func CompareRows(baseRows, newRows []stats.Endpoint, baseSecs, newSecs float64, th Thresholds) *TraceDiff {
	d := &TraceDiff{BaseSecs: baseSecs, NewSecs: newSecs, th: th, alpha: stats.DefaultRelativeAccuracy, heads: [2]string{"SERVICE", "ENDPOINT"}}
	idx := map[stats.Key]int{}
	add := func(eps []stats.Endpoint, isBase bool) {
		for i := range eps {
			e := &eps[i]
			k := e.Key
			k.StatusClass = ""
			j, ok := idx[k]
			if !ok {
				j = len(d.Rows)
				idx[k] = j
				d.Rows = append(d.Rows, EndpointDiff{Service: e.Service, Endpoint: api.EndpointText(e.Protocol, e.Method, e.Path)})
			}
			if e.Latency != nil {
				d.alpha = max(d.alpha, e.Latency.RelativeAccuracy())
			}
			if isBase {
				d.Rows[j].Base, d.BaseTotal = e, d.BaseTotal+e.Count
			} else {
				d.Rows[j].New, d.NewTotal = e, d.NewTotal+e.Count
			}
		}
	}
	add(baseRows, true)
	add(newRows, false)
	for i := range d.Rows {
		d.Rows[i].Marked = d.marks(&d.Rows[i])
	}
	slices.SortStableFunc(d.Rows, func(a, b EndpointDiff) int {
		if c := cmp.Compare(len(b.Marked), len(a.Marked)); c != 0 {
			return c
		}
		if c := cmp.Compare(max(count(b.Base), count(b.New)), max(count(a.Base), count(a.New))); c != 0 {
			return c
		}
		return cmp.Compare(a.Service+" "+a.Endpoint, b.Service+" "+b.Endpoint)
	})
	return d
}

func count(e *stats.Endpoint) uint64 {
	if e == nil {
		return 0
	}
	return e.Count
}

// Heads renames the first two columns (a map's EDGE and PROTOCOL).
func (d *TraceDiff) Heads(first, second string) { d.heads = [2]string{first, second} }

// Titles names the runs in the table's heading (file names, windows).
func (d *TraceDiff) Titles(base, next string, baseWindow, newWindow time.Duration) {
	d.baseLabel, d.newLabel, d.baseWindow, d.newWindow = base, next, baseWindow, newWindow
}

func quantiles(e *stats.Endpoint) (p50, p99 float64) {
	if e == nil || e.Latency == nil || e.Latency.Count() == 0 {
		return 0, 0
	}
	q := e.Latency.Quantiles(0.5, 0.99)
	return q[0], q[1]
}

// marks are the columns whose change passes the thresholds.
func (d *TraceDiff) marks(r *EndpointDiff) []string {
	if r.Base == nil || r.New == nil || r.Base.Count < d.th.MinRequests || r.New.Count < d.th.MinRequests {
		return nil
	}
	var out []string
	b, n := float64(r.Base.Count), float64(r.New.Count)
	if d.BaseSecs > 0 && d.NewSecs > 0 {
		br, nr := b/d.BaseSecs, n/d.NewSecs
		// Counts are Poisson: the rates' difference over its standard error.
		z := (nr - br) / math.Sqrt(b/(d.BaseSecs*d.BaseSecs)+n/(d.NewSecs*d.NewSecs))
		if math.Abs(z) >= zMarked && math.Abs(nr-br) >= d.th.MinChange*br {
			out = append(out, "rps")
		}
	}
	// Two proportions: the pooled share's standard error.
	pb, pn := r.Base.ErrorRate(), r.New.ErrorRate()
	pool := float64(r.Base.Errors+r.New.Errors) / (b + n)
	if se := math.Sqrt(pool * (1 - pool) * (1/b + 1/n)); se > 0 && math.Abs(pn-pb)/se >= zMarked {
		out = append(out, "error_rate")
	}
	b50, b99 := quantiles(r.Base)
	n50, n99 := quantiles(r.New)
	for _, q := range []struct {
		col  string
		b, n float64
	}{{"p50", b50, n50}, {"p99", b99, n99}} {
		if d.latencyChanged(q.b, q.n) {
			out = append(out, q.col)
		}
	}
	return out
}

// latencyChanged: beyond both sketches' error (each estimate is within
// alpha of its run's true quantile, so twice alpha of the larger), the
// relative floor and the absolute floor.
func (d *TraceDiff) latencyChanged(b, n float64) bool {
	delta := math.Abs(n - b)
	return delta > 2*d.alpha*max(b, n) && delta >= d.th.MinChange*b && delta >= float64(d.th.MinDelta)
}

func (d *TraceDiff) rps(e *stats.Endpoint, secs float64) float64 {
	if e == nil || secs <= 0 {
		return 0
	}
	return float64(e.Count) / secs
}

// MarkedCount is the number of marked changes.
func (d *TraceDiff) MarkedCount() int {
	n := 0
	for _, r := range d.Rows {
		n += len(r.Marked)
	}
	return n
}

// WriteTable writes the heading, one row per endpoint (BASE -> NEW and
// the change; marked changes end in *) and the legend.
func (d *TraceDiff) WriteTable(w io.Writer, p *render.Palette, width int) error {
	fmt.Fprintf(w, "BASE %s (%s, %s requests)  NEW %s (%s, %s requests)\n\n",
		render.Sanitize(d.baseLabel), render.FormatWindow(d.baseWindow), render.FormatCount(d.BaseTotal),
		render.Sanitize(d.newLabel), render.FormatWindow(d.newWindow), render.FormatCount(d.NewTotal))
	t := render.Table{Columns: []render.Column{{Title: d.heads[0]}, {Title: d.heads[1]}, {Title: "REQ", Right: true},
		{Title: "RPS", Right: true}, {Title: "ERR%", Right: true}, {Title: "P50", Right: true}, {Title: "P99", Right: true}},
		MaxWidth: width, Shrink: 1}
	for i := range d.Rows {
		t.Rows = append(t.Rows, d.tableRow(&d.Rows[i], p))
	}
	for _, l := range t.Lines() {
		fmt.Fprintln(w, l)
	}
	_, err := fmt.Fprintf(w, "\n%d changes marked * (each run >= %d requests of the endpoint; rate and ERR%%: z >= %d; latency: beyond twice the sketches' %s%% error, >= %s%% and >= %s)\n",
		d.MarkedCount(), d.th.MinRequests, zMarked, render.FormatPercent(100*d.alpha), render.FormatPercent(100*d.th.MinChange), d.th.MinDelta)
	return err
}

func (d *TraceDiff) tableRow(r *EndpointDiff, p *render.Palette) []render.Cell {
	marked := func(col string) bool { return slices.Contains(r.Marked, col) }
	cell := func(col, s string, worse bool) render.Cell {
		if !marked(col) {
			return render.Plain(s)
		}
		s += " *"
		if worse {
			return render.Styled(s, p.Error)
		}
		return render.Styled(s, p.OK)
	}
	b50, b99 := quantiles(r.Base)
	n50, n99 := quantiles(r.New)
	br, nr := d.rps(r.Base, d.BaseSecs), d.rps(r.New, d.NewSecs)
	side := func(e *stats.Endpoint, s string) string {
		if e == nil {
			return "-"
		}
		return s
	}
	arrow := func(e1, e2 *stats.Endpoint, a, b string) string { return side(e1, a) + " → " + side(e2, b) }
	return []render.Cell{
		render.Plain(render.Sanitize(r.Service)), render.Plain(render.Sanitize(r.Endpoint)),
		render.Plain(arrow(r.Base, r.New, render.FormatCount(count(r.Base)), render.FormatCount(count(r.New)))),
		cell("rps", arrow(r.Base, r.New, render.FormatRate(br), render.FormatRate(nr))+relative(br, nr), nr < br),
		cell("error_rate", arrow(r.Base, r.New, pct(r.Base), pct(r.New)), ratio(r.New) > ratio(r.Base)),
		cell("p50", arrow(r.Base, r.New, render.FormatLatency(b50), render.FormatLatency(n50))+relative(b50, n50), n50 > b50),
		cell("p99", arrow(r.Base, r.New, render.FormatLatency(b99), render.FormatLatency(n99))+relative(b99, n99), n99 > b99),
	}
}

func ratio(e *stats.Endpoint) float64 {
	if e == nil {
		return 0
	}
	return e.ErrorRate()
}

func pct(e *stats.Endpoint) string { return render.FormatPercent(100 * ratio(e)) }

// relative is " (+12%)", or "" when either side is zero.
func relative(b, n float64) string {
	if b == 0 || n == 0 {
		return ""
	}
	return fmt.Sprintf(" (%+.0f%%)", 100*(n-b)/b)
}

// diffSide is one run of an endpoint in -o json.
type diffSide struct {
	Count     uint64  `json:"count"`
	Errors    uint64  `json:"errors"`
	RPS       float64 `json:"rps"`
	ErrorRate float64 `json:"error_rate"`
	P50Ns     float64 `json:"p50_ns"`
	P99Ns     float64 `json:"p99_ns"`
}

// diffRecord is one endpoint in -o json.
type diffRecord struct {
	Table    string    `json:"table"`
	Service  string    `json:"service"`
	Endpoint string    `json:"endpoint"`
	Base     *diffSide `json:"base"`
	New      *diffSide `json:"new"`
	Marked   []string  `json:"marked"`
}

// TableEndpointDiff is the -o json record of one endpoint.
const TableEndpointDiff = "endpoint_diff"

func (d *TraceDiff) side(e *stats.Endpoint, secs float64) *diffSide {
	if e == nil {
		return nil
	}
	p50, p99 := quantiles(e)
	return &diffSide{Count: e.Count, Errors: e.Errors, RPS: d.rps(e, secs), ErrorRate: e.ErrorRate(), P50Ns: p50, P99Ns: p99}
}

// WriteJSON writes one endpoint_diff record per row.
func (d *TraceDiff) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	for i := range d.Rows {
		r := &d.Rows[i]
		// Marked is [] in JSON, never null, when nothing is marked.
		rec := diffRecord{Table: TableEndpointDiff, Service: r.Service, Endpoint: r.Endpoint,
			Base: d.side(r.Base, d.BaseSecs), New: d.side(r.New, d.NewSecs), Marked: append([]string{}, r.Marked...)}
		if err := enc.Encode(rec); err != nil {
			return err
		}
	}
	return nil
}

// DiffGateSchema is what --fail-if rules of a trace diff read: the trace
// columns, NEW's values, BASE's as the base of changes, and marked (the
// marked columns, space-separated).
var DiffGateSchema = func() gate.Schema {
	s := gate.Schema{Columns: map[string]gate.Kind{"marked": gate.Text, "status": gate.Text}, Diff: true}
	for _, c := range []string{"service", "endpoint"} {
		s.Columns[c] = gate.Text
	}
	for _, c := range []string{"req", "rps", "errors"} {
		s.Columns[c] = gate.Number
	}
	s.Columns["error_rate"] = gate.Ratio
	for _, c := range []string{"p50", "p99"} {
		s.Columns[c] = gate.Duration
	}
	return s
}()

// GateSource is the diff as --fail-if rules see it.
func (d *TraceDiff) GateSource() gate.Source { return diffGate{d} }

type diffGate struct{ d *TraceDiff }

func (g diffGate) numbers(e *stats.Endpoint, secs float64) map[string]float64 {
	if e == nil {
		return map[string]float64{}
	}
	p50, p99 := quantiles(e)
	return map[string]float64{"req": float64(e.Count), "rps": g.d.rps(e, secs), "errors": float64(e.Errors),
		"error_rate": e.ErrorRate(), "p50": p50, "p99": p99}
}

func (g diffGate) Rows() []gate.Row {
	rows := make([]gate.Row, len(g.d.Rows))
	for i := range g.d.Rows {
		r := &g.d.Rows[i]
		status := "both"
		switch {
		case r.Base == nil:
			status = "added"
		case r.New == nil:
			status = "removed"
		}
		vals := map[string]gate.Value{"service": {Str: r.Service}, "endpoint": {Str: r.Endpoint},
			"marked": {Str: strings.Join(r.Marked, " ")}, "status": {Str: status}}
		base, next := g.numbers(r.Base, g.d.BaseSecs), g.numbers(r.New, g.d.NewSecs)
		for col := range g.numbers(&stats.Endpoint{}, 1) {
			vals[col] = gate.Value{Num: next[col], Base: base[col], HasBase: r.Base != nil && r.New != nil}
		}
		rows[i] = gate.Row{Ref: i, Label: render.Sanitize(r.Service + " " + r.Endpoint), Values: vals}
	}
	return rows
}

// Merge merges each run's endpoints (sketches merged).
func (g diffGate) Merge(rows []gate.Row) gate.Row {
	b, n := stats.Endpoint{Latency: stats.NewSketch()}, stats.Endpoint{Latency: stats.NewSketch()}
	for _, r := range rows {
		x := &g.d.Rows[r.Ref]
		for _, p := range []struct{ dst, src *stats.Endpoint }{{&b, x.Base}, {&n, x.New}} {
			if p.src == nil {
				continue
			}
			p.dst.Count += p.src.Count
			p.dst.Errors += p.src.Errors
			if p.src.Latency != nil {
				p.dst.Latency.Merge(p.src.Latency)
			}
		}
	}
	base, next := g.numbers(&b, g.d.BaseSecs), g.numbers(&n, g.d.NewSecs)
	vals := map[string]gate.Value{}
	for col := range next {
		vals[col] = gate.Value{Num: next[col], Base: base[col], HasBase: len(rows) > 0}
	}
	return gate.Row{Values: vals}
}

func (diffGate) Call(string, string) (gate.Value, bool) { return gate.Value{}, false }
