package mapview

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/kubectl-pixie/kubectl-pixie/plugin/render"
)

// Record is an edge as a service_map record, with the column names of
// Pixie's net flow graph (px/net_flow_graph). In --local mode the
// requestor and responder are processes of this host, named in the
// *_service columns ("nginx (pid 812)"); the *_pod columns stay empty.
// A responder named by a traced DNS answer has that name in
// responder_service and responder_dns.
// Throughputs are per second over the window, from the requestor's side:
// outbound is its requests' bytes, inbound the responses'.
type Record struct {
	Table              string  `json:"table"`
	RequestorPod       string  `json:"requestor_pod"`
	ResponderPod       string  `json:"responder_pod"`
	RequestorService   string  `json:"requestor_service"`
	ResponderService   string  `json:"responder_service"`
	RequestorIP        string  `json:"requestor_ip"`
	ResponderIP        string  `json:"responder_ip"`
	ResponderDNS       string  `json:"responder_dns,omitempty"` // the name, when a traced DNS answer named the responder
	Protocol           string  `json:"protocol"`
	LatencyP50         int64   `json:"latency_p50"` // ns
	LatencyP90         int64   `json:"latency_p90"`
	LatencyP99         int64   `json:"latency_p99"`
	RequestThroughput  float64 `json:"request_throughput"` // requests/s
	ErrorRate          float64 `json:"error_rate"`         // errors/requests, 0 to 1
	InboundThroughput  float64 `json:"inbound_throughput"` // bytes/s
	OutboundThroughput float64 `json:"outbound_throughput"`
	Requests           uint64  `json:"requests"`
	Errors             uint64  `json:"errors"`
	BytesSent          uint64  `json:"bytes_sent"`
	BytesRecv          uint64  `json:"bytes_recv"`
	WindowNs           int64   `json:"window_ns"`
}

// TableServiceMap is the table of Record.
const TableServiceMap = "service_map"

// NewRecord is e as a record over window.
func NewRecord(e Edge, window time.Duration) Record {
	return Record{
		Table:            TableServiceMap,
		RequestorService: e.Requestor, ResponderService: e.Responder,
		RequestorIP: e.RequestorIP, ResponderIP: e.ResponderIP, ResponderDNS: e.ResponderDNS,
		Protocol:           e.Protocol,
		LatencyP50:         int64(e.Quantile(0.5)),
		LatencyP90:         int64(e.Quantile(0.9)),
		LatencyP99:         int64(e.Quantile(0.99)),
		RequestThroughput:  PerSecond(e.Requests, window),
		ErrorRate:          e.ErrorRate(),
		InboundThroughput:  PerSecond(e.BytesRecv, window),
		OutboundThroughput: PerSecond(e.BytesSent, window),
		Requests:           e.Requests, Errors: e.Errors,
		BytesSent: e.BytesSent, BytesRecv: e.BytesRecv,
		WindowNs: window.Nanoseconds(),
	}
}

// WriteJSON writes one service_map record per edge.
func WriteJSON(w io.Writer, edges []Edge, window time.Duration) error {
	enc := json.NewEncoder(w)
	for _, e := range edges {
		if err := enc.Encode(NewRecord(e, window)); err != nil {
			return err
		}
	}
	return nil
}

// edgeLabel is the short label of an edge in graphs.
func edgeLabel(e Edge, window time.Duration) string {
	s := fmt.Sprintf("%s %s rps p99 %s", e.Protocol, render.FormatRate(PerSecond(e.Requests, window)), render.FormatLatency(e.Quantile(0.99)))
	if e.Errors > 0 {
		s += " " + render.FormatPercent(100*e.ErrorRate()) + "% err"
	}
	return s
}

// WriteDOT writes the map as a Graphviz digraph (`dot -Tsvg`).
func WriteDOT(w io.Writer, edges []Edge, window time.Duration) error {
	var b strings.Builder
	b.WriteString("digraph service_map {\n  rankdir=LR;\n  node [shape=box, fontname=\"Helvetica\"];\n  edge [fontname=\"Helvetica\", fontsize=10];\n")
	for _, n := range nodes(edges) {
		fmt.Fprintf(&b, "  %s;\n", dotQuote(n))
	}
	for _, e := range edges {
		fmt.Fprintf(&b, "  %s -> %s [label=%s];\n", dotQuote(e.Requestor), dotQuote(e.Responder), dotQuote(edgeLabel(e, window)))
	}
	b.WriteString("}\n")
	_, err := io.WriteString(w, b.String())
	return err
}

func dotQuote(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)
	return `"` + r.Replace(render.Sanitize(s)) + `"`
}

// WriteMermaid writes the map as a Mermaid flowchart (paste it into a
// README inside a ```mermaid block).
func WriteMermaid(w io.Writer, edges []Edge, window time.Duration) error {
	ids := map[string]string{}
	var b strings.Builder
	b.WriteString("flowchart LR\n")
	for i, n := range nodes(edges) {
		ids[n] = fmt.Sprintf("n%d", i)
		fmt.Fprintf(&b, "  n%d[%s]\n", i, mermaidQuote(n))
	}
	for _, e := range edges {
		fmt.Fprintf(&b, "  %s -->|%s| %s\n", ids[e.Requestor], mermaidQuote(edgeLabel(e, window)), ids[e.Responder])
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// mermaidQuote quotes a label; Mermaid takes entity codes for quotes and
// the characters that would end a label.
func mermaidQuote(s string) string {
	r := strings.NewReplacer(`"`, "#quot;", "|", "#124;", "\n", " ", "<", "#lt;", ">", "#gt;")
	return `"` + r.Replace(render.Sanitize(s)) + `"`
}

// nodes lists every requestor and responder once, in edge order.
func nodes(edges []Edge) []string {
	seen := map[string]bool{}
	var out []string
	for _, e := range edges {
		for _, n := range []string{e.Requestor, e.Responder} {
			if !seen[n] {
				seen[n] = true
				out = append(out, n)
			}
		}
	}
	return out
}

// Table is the adjacency table, sorted by requests, then the tree from
// each entry point.
func Table(edges []Edge, window time.Duration, p *render.Palette, width int) []byte {
	if len(edges) == 0 {
		return []byte("no requests between traced processes yet\n")
	}
	t := &render.Table{Columns: []render.Column{
		{Title: "EDGE"}, {Title: "PROTO"}, {Title: "REQ", Right: true}, {Title: "RPS", Right: true},
		{Title: "ERR%", Right: true}, {Title: "P50", Right: true}, {Title: "P99", Right: true}, {Title: "BYTES ↑/↓", Right: true},
	}, MaxWidth: width, Shrink: 0}
	for _, e := range edges {
		errPct := render.Plain(render.FormatPercent(100 * e.ErrorRate()))
		if e.Errors > 0 {
			errPct = render.Styled(errPct.Text, p.Error)
		}
		t.Rows = append(t.Rows, []render.Cell{
			render.Plain(render.Sanitize(e.Requestor + "  ->  " + e.Responder)),
			render.Plain(render.Sanitize(e.Protocol)),
			render.Plain(render.FormatCount(e.Requests)),
			render.Plain(render.FormatRate(PerSecond(e.Requests, window))),
			errPct,
			render.Plain(render.FormatLatency(e.Quantile(0.5))),
			render.Plain(render.FormatLatency(e.Quantile(0.99))),
			render.Plain(render.FormatBytes(e.BytesSent) + " / " + render.FormatBytes(e.BytesRecv)),
		})
	}
	var b strings.Builder
	for _, l := range t.Lines() {
		b.WriteString(l + "\n")
	}
	writeTrees(&b, edges, window)
	return []byte(b.String())
}

// maxTreeDepth bounds a tree (a cycle is cut where it comes back).
const maxTreeDepth = 8

// writeTrees draws, from each entry point (a requestor nobody calls; all
// requestors when every one is called), what it calls and so on.
func writeTrees(b *strings.Builder, edges []Edge, window time.Duration) {
	out := map[string][]Edge{}
	called := map[string]bool{}
	for _, e := range edges {
		out[e.Requestor] = append(out[e.Requestor], e)
		called[e.Responder] = true
	}
	var roots []string
	for _, n := range nodes(edges) {
		if out[n] != nil && !called[n] {
			roots = append(roots, n)
		}
	}
	if len(roots) == 0 {
		for _, n := range nodes(edges) {
			if out[n] != nil {
				roots = append(roots, n)
			}
		}
	}
	for _, r := range roots {
		b.WriteString("\n" + render.Sanitize(r) + "\n")
		writeBranch(b, out, r, "", map[string]bool{r: true}, window, 1)
	}
}

func writeBranch(b *strings.Builder, out map[string][]Edge, from, indent string, path map[string]bool, window time.Duration, depth int) {
	kids := out[from]
	for i, e := range kids {
		branch, next := "├─ ", "│  "
		if i == len(kids)-1 {
			branch, next = "└─ ", "   "
		}
		line := fmt.Sprintf("%s%s%s  %s  %s rps  p99 %s", indent, branch, render.Sanitize(e.Protocol), render.Sanitize(e.Responder),
			render.FormatRate(PerSecond(e.Requests, window)), render.FormatLatency(e.Quantile(0.99)))
		if e.Errors > 0 {
			line += "  " + render.FormatPercent(100*e.ErrorRate()) + "% err"
		}
		if path[e.Responder] {
			line += "  (cycle)"
		}
		b.WriteString(line + "\n")
		if !path[e.Responder] && depth < maxTreeDepth {
			path[e.Responder] = true
			writeBranch(b, out, e.Responder, indent+next, path, window, depth+1)
			delete(path, e.Responder)
		}
	}
}
