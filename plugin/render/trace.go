package render

import (
	"bytes"
	"cmp"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/kubectl-pixie/kubectl-pixie/probes/api"
	"github.com/kubectl-pixie/kubectl-pixie/probes/api/stats"
	"github.com/kubectl-pixie/kubectl-pixie/probes/api/vocab"
)

// EmptyHint is shown instead of the table when no request was seen.
const EmptyHint = "0 requests seen: does the process speak HTTP, gRPC, Redis, DNS, PostgreSQL, MySQL, AMQP or Kafka, in clear text or through OpenSSL or Go TLS?"

// DefaultSlowP99 is the p99 from which a row's P99 is highlighted.
const DefaultSlowP99 = 500 * time.Millisecond

// TraceView is everything one frame of `kubectl pixie trace` shows.
type TraceView struct {
	Protocol   string        // "HTTP"
	Elapsed    time.Duration // time traced so far; the denominator of RPS
	Window     time.Duration // the whole --duration
	NodesReady int           // nodes streaming
	NodesTotal int           // nodes targeted; 0 hides "nodes" (--local)
	Targets    int           // pods or processes traced
	TargetUnit string        // "pods", "processes"; "" hides "targets"
	Rows       []stats.Endpoint
	// Stats is the merged footer (MergeProbeStats); nil hides the footer.
	Stats *api.ProbeStats
	// WorstNode and Worst are the node a user should look at first, of
	// several (WorstNode); "" shows no line for it.
	WorstNode string
	Worst     api.ProbeStats
	// Select narrows and orders the endpoints (--endpoint, --sort-by, --top).
	Select TraceSelect
	// Samples are listed below the table (--slow, --errors); nil: none.
	Samples *Samples
}

// TraceOptions are the rendering choices.
type TraceOptions struct {
	Wide    bool     // -o wide: ROLE, PEER, bytes, status breakdown with counts
	Width   int      // cut lines to this many columns; 0 = never (pipes)
	MaxRows int      // 0 = all; else show the top rows and a "more" line
	SlowP99 float64  // ns; 0 = DefaultSlowP99
	Palette *Palette // nil = no colour
}

// WriteTrace renders the trace frame: a title line, the table (or the
// empty hint), and the footer.
func WriteTrace(w io.Writer, v TraceView, o TraceOptions) error {
	_, err := w.Write(TraceFrame(v, o))
	return err
}

// TraceFrame renders the frame to bytes, ready for Live.
func TraceFrame(v TraceView, o TraceOptions) []byte {
	p := o.Palette
	var lines []string
	lines = append(lines, titleLine(v, p), "")

	groups := v.Select.apply(groupEndpoints(v.Rows))
	if len(groups) == 0 {
		lines = append(lines, p.Warn(EmptyHint))
	} else {
		shown := groups
		if o.MaxRows > 0 && len(groups) > o.MaxRows {
			shown = groups[:o.MaxRows]
		}
		t := traceTable(shown, v.Elapsed, o)
		lines = append(lines, t.Lines()...)
		if len(shown) < len(groups) {
			var rest uint64
			for _, g := range groups[len(shown):] {
				rest += g.Count
			}
			lines = append(lines, p.Dim(fmt.Sprintf("… %d more endpoints with %s requests (-o json lists all)",
				len(groups)-len(shown), FormatCount(rest))))
		}
	}
	lines = append(lines, v.Samples.Lines(v.Select, o.Wide, o.Width, p)...)
	if v.Stats != nil {
		lines = append(lines, "", Footer(*v.Stats, max(v.NodesTotal, 1), "requests", p))
		if v.WorstNode != "" {
			lines = append(lines, NodeFooter(v.WorstNode, v.Worst, p))
		}
	}
	var b bytes.Buffer
	_ = writeLines(&b, lines, o.Width)
	return b.Bytes()
}

// protocolsSeen is the title's protocol list when rows of protocols other
// than HTTP are present ("HTTP, Redis"), else "".
func protocolsSeen(rows []stats.Endpoint) string {
	seen := map[string]bool{}
	other := false
	for _, r := range rows {
		if r.Count > 0 {
			seen[r.Protocol] = true
			other = other || r.Protocol != ""
		}
	}
	if !other {
		return ""
	}
	// Known protocols in vocab's order, then the others by name.
	keys := slices.Sorted(maps.Keys(seen))
	slices.SortStableFunc(keys, func(a, b string) int {
		_, ra := vocab.Title(a)
		_, rb := vocab.Title(b)
		return cmp.Compare(ra, rb)
	})
	names := make([]string, len(keys))
	for i, k := range keys {
		names[i], _ = vocab.Title(k)
	}
	return strings.Join(names, ", ")
}

func titleLine(v TraceView, p *Palette) string {
	proto := cmp.Or(protocolsSeen(v.Rows), v.Protocol, "HTTP")
	parts := []string{p.Bold(Sanitize(proto))}
	if v.Window > 0 {
		parts = append(parts, fmt.Sprintf("window %s/%s", FormatClock(v.Elapsed), FormatClock(v.Window)))
	} else {
		parts = append(parts, "elapsed "+FormatClock(v.Elapsed))
	}
	if v.NodesTotal > 0 {
		nodes := fmt.Sprintf("nodes %d/%d", v.NodesReady, v.NodesTotal)
		if v.NodesReady < v.NodesTotal {
			nodes = p.Warn(nodes)
		}
		parts = append(parts, nodes)
	}
	if v.TargetUnit != "" {
		unit := v.TargetUnit
		if v.Targets == 1 {
			if strings.HasSuffix(unit, "sses") { // processes -> process
				unit = strings.TrimSuffix(unit, "es")
			} else {
				unit = strings.TrimSuffix(unit, "s")
			}
		}
		parts = append(parts, fmt.Sprintf("targets %d %s", v.Targets, unit))
	}
	return strings.Join(parts, "  ")
}

// group is one endpoint with its status classes folded together, so ERR%
// is the share of errors among all its requests.
type group struct {
	stats.Endpoint
	classes map[string]uint64
}

func groupEndpoints(rows []stats.Endpoint) []group {
	idx := make(map[stats.Key]int)
	var gs []group
	for _, r := range rows {
		if r.Count == 0 {
			continue
		}
		k := r.Key
		k.StatusClass = ""
		i, ok := idx[k]
		if !ok {
			i = len(gs)
			idx[k] = i
			e := r
			e.Key = k
			e.Latency = stats.NewSketch()
			e.Count, e.Errors, e.ReqBytes, e.RespBytes = 0, 0, 0, 0
			gs = append(gs, group{Endpoint: e, classes: map[string]uint64{}})
		}
		g := &gs[i]
		g.Count += r.Count
		g.Errors += r.Errors
		g.ReqBytes += r.ReqBytes
		g.RespBytes += r.RespBytes
		g.Folded = g.Folded || r.Folded
		if r.Latency != nil {
			g.Latency.Merge(r.Latency)
		}
		g.classes[r.StatusClass] += r.Count
	}
	slices.SortStableFunc(gs, func(a, b group) int {
		return cmp.Or(cmp.Compare(b.Count, a.Count), cmp.Compare(a.Service, b.Service),
			cmp.Compare(a.Role, b.Role), cmp.Compare(a.Peer, b.Peer), cmp.Compare(a.Path, b.Path),
			cmp.Compare(a.Method, b.Method), cmp.Compare(a.Protocol, b.Protocol), cmp.Compare(a.Node, b.Node))
	})
	return gs
}

var classOrder = []string{"1xx", "2xx", "3xx", "4xx", "5xx", stats.StatusErr}

func traceTable(gs []group, elapsed time.Duration, o TraceOptions) *Table {
	p := o.Palette
	slow := o.SlowP99
	if slow <= 0 {
		slow = float64(DefaultSlowP99)
	}
	byNode := slices.ContainsFunc(gs, func(g group) bool { return g.Node != "" })
	cols := []Column{{Title: "SERVICE"}}
	if byNode { // only with --group-by node
		cols = append(cols, Column{Title: "NODE"})
	}
	if o.Wide {
		cols = append(cols, Column{Title: "ROLE"}, Column{Title: "PEER"})
	}
	cols = append(cols, Column{Title: "ENDPOINT"}, Column{Title: "STATUS"},
		Column{Title: "REQ", Right: true}, Column{Title: "RPS", Right: true}, Column{Title: "ERR%", Right: true},
		Column{Title: "P50", Right: true}, Column{Title: "P90", Right: true}, Column{Title: "P99", Right: true},
		Column{Title: "MAX", Right: true})
	if o.Wide {
		cols = append(cols, Column{Title: "BYTES IN", Right: true}, Column{Title: "BYTES OUT", Right: true})
	}

	methodWidth := 0
	for _, g := range gs {
		if g.Protocol == "" {
			methodWidth = max(methodWidth, utf8.RuneCountInString(Sanitize(g.Method)))
		}
	}

	t := &Table{Columns: cols, MaxWidth: o.Width, Shrink: slices.IndexFunc(cols, func(c Column) bool { return c.Title == "ENDPOINT" })}
	for _, g := range gs {
		row := []Cell{Plain(Sanitize(g.Service))}
		if byNode {
			row = append(row, Plain(cmp.Or(Sanitize(g.Node), "-")))
		}
		if o.Wide {
			row = append(row, Plain(cmp.Or(Sanitize(g.Role), "-")), Plain(cmp.Or(Sanitize(g.Peer), "-")))
		}
		row = append(row, Plain(endpointText(g, methodWidth, o.Wide)), statusCell(g, o.Wide, p))

		row = append(row, Plain(FormatCount(g.Count)))
		if elapsed > 0 {
			row = append(row, Plain(FormatRate(float64(g.Count)/elapsed.Seconds())))
		} else {
			row = append(row, Plain("-"))
		}
		errPct := 100 * g.ErrorRate()
		var errStyle func(string) string
		if g.Errors > 0 {
			errStyle = p.Error
		}
		row = append(row, Styled(FormatPercent(errPct), errStyle))

		if g.Latency.Count() > 0 {
			q := g.Latency.Quantiles(0.5, 0.9, 0.99)
			var slowStyle func(string) string
			if q[2] >= slow {
				slowStyle = p.Warn
			}
			row = append(row, Plain(FormatLatency(q[0])), Plain(FormatLatency(q[1])),
				Styled(FormatLatency(q[2]), slowStyle), Plain(FormatLatency(g.Latency.Max())))
		} else {
			row = append(row, Plain("-"), Plain("-"), Plain("-"), Plain("-"))
		}
		if o.Wide {
			in, out := g.ReqBytes, g.RespBytes // a server receives requests
			if g.Role == vocab.RoleClient {
				in, out = out, in
			}
			row = append(row, Plain(FormatBytes(in)), Plain(FormatBytes(out)))
		}
		t.Rows = append(t.Rows, row)
	}
	return t
}

// endpointText is "METHOD /path"; without a PEER column a client row
// shows where it calls ("-> peer METHOD /path") and a server row its
// caller when known ("<- shop/frontend GET /cart").
func endpointText(g group, methodWidth int, wide bool) string {
	if g.Service == stats.Overflow && g.Path == stats.Overflow {
		return "{other} (endpoint limit reached)"
	}
	m := Sanitize(g.Method)
	var s string
	if g.Protocol != "" {
		// "redis GET", "dns A example.test"
		s = Sanitize(g.Protocol) + " " + m
		if g.Path != "" {
			s += " " + Sanitize(g.Path)
		}
	} else {
		s = m + strings.Repeat(" ", methodWidth-utf8.RuneCountInString(m)) + " " + Sanitize(g.Path)
	}
	if g.Folded {
		s += " (folded)"
	}
	if !wide && g.Role == vocab.RoleClient {
		s = "-> " + cmp.Or(Sanitize(g.Peer), "?") + " " + s
	}
	if !wide && g.Role == vocab.RoleServer && g.Peer != "" { // a caller, in cluster mode
		s = "<- " + Sanitize(g.Peer) + " " + s
	}
	return s
}

// statusCell lists the classes seen ("2xx,5xx"), with counts when wide
// ("2xx:1,190 5xx:14"); error classes are red. Other protocols' classes
// (Redis "OK", "ERR"; DNS "NOERROR", "NXDOMAIN") come sorted, "err" last.
func statusCell(g group, wide bool, p *Palette) Cell {
	var plain, painted []string
	order := classOrder
	if g.Protocol != "" {
		order = slices.Sorted(maps.Keys(g.classes))
		if i := slices.Index(order, stats.StatusErr); i >= 0 {
			order = append(slices.Delete(order, i, i+1), stats.StatusErr)
		}
	}
	for _, c := range order {
		n, ok := g.classes[c]
		if !ok {
			continue
		}
		s := Sanitize(c) // a SQLSTATE or grpc-status comes from the wire
		if wide {
			s += ":" + FormatCount(n)
		}
		plain = append(plain, s)
		if stats.ClassIsError(g.Protocol, c) {
			s = p.Error(s)
		}
		painted = append(painted, s)
	}
	sep := ","
	if wide {
		sep = " "
	}
	return Cell{Text: strings.Join(plain, sep), Painted: strings.Join(painted, sep)}
}
