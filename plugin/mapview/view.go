package mapview

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/kubectl-pixie/kubectl-pixie/plugin/render"
	"github.com/kubectl-pixie/kubectl-pixie/plugin/traceview"
	"github.com/kubectl-pixie/kubectl-pixie/probes/api"
	"github.com/kubectl-pixie/kubectl-pixie/probes/api/stats"
)

// Output formats.
const (
	OutputTable   = "table"
	OutputJSON    = "json"
	OutputDOT     = "dot"
	OutputMermaid = "mermaid"
	OutputSVG     = "svg"
)

// Options choose the output.
type Options struct {
	Output  string
	Window  time.Duration
	Palette *render.Palette
	Width   int
	Now     func() time.Time
	// SortBy and Top order and cut the edges of every output (see
	// Select); the gates see the same edges.
	SortBy string
	Top    int
	// Refilter counts a recording's requests again, from their
	// observations, under this filter (compiled): a replay's --status,
	// --min-latency, ... The recorded stats rows are then ignored.
	Refilter *api.TraceFilter
	// PeerNames, when set (cluster runs), names a row's peer that was
	// still an address when the row came (traceview.Options.PeerNames).
	PeerNames func(peer string) (string, bool)
}

// View merges the agents' rows and listening ports into a map. Probe
// messages, readiness and errors go through a trace view (they are the
// same records); the map is built from the rows at each frame.
type View struct {
	o         Options
	trace     *traceview.View
	agg       *stats.Aggregator
	listeners map[api.ListeningPort]bool
	readyAt   time.Time
	window    time.Duration // the probes' own window, from their final stats
	refilter  *traceview.Refilter
	errOut    io.Writer
	errPal    *render.Palette
	warned    bool // about a request without its observation
}

// New returns a View writing probe messages to errOut.
func New(errOut io.Writer, o Options, errPalette *render.Palette) *View {
	if o.Now == nil {
		o.Now = time.Now
	}
	return &View{
		o:         o,
		trace:     traceview.New(errOut, traceview.Options{Output: "table", Window: o.Window, Palette: o.Palette, ErrPalette: errPalette, Now: o.Now}),
		agg:       stats.NewAggregator(stats.Config{MaxKeys: 100000}),
		listeners: map[api.ListeningPort]bool{},
		refilter:  traceview.NewRefilter(o.Refilter),
		errOut:    errOut,
		errPal:    errPalette,
	}
}

var (
	statsPrefix     = []byte(`{"table":"` + api.TableHTTPStats + `"`)
	listenersPrefix = []byte(`{"table":"` + api.TableListeningPorts + `"`)
	readyPrefix     = []byte(`{"table":"` + api.TableProbeReady + `"`)
	probeStatPrefix = []byte(`{"table":"` + api.TableProbeStats + `"`)
)

// Line consumes one record; nothing is passed through (the map is
// written at the end).
func (v *View) Line(node string, line []byte) bool {
	line = bytes.TrimSpace(line)
	switch {
	case v.refilter != nil && traceview.IsEvent(line):
		if _, unobserved := v.refilter.Event(node, line); unobserved && !v.warned {
			v.warned = true
			fmt.Fprintf(v.errOut, "%s %s\n", v.errPal.Warn("warning:"), "a recorded request without its observation was left out (recorded by a probe older than the plugin?): replay without --protocol, --status, --min-latency and --endpoint to see every request")
		}
	case bytes.HasPrefix(line, statsPrefix):
		var s api.HTTPStats
		if v.refilter == nil && json.Unmarshal(line, &s) == nil {
			v.agg.Merge(s.Rows) // refiltered: the requests make the rows
		}
	case bytes.HasPrefix(line, listenersPrefix):
		var l api.ListeningPort
		if json.Unmarshal(line, &l) == nil {
			l.Header = api.Header{}
			v.listeners[l] = true
		}
		return false
	case bytes.HasPrefix(line, readyPrefix):
		if v.readyAt.IsZero() {
			v.readyAt = v.o.Now()
		}
	case bytes.HasPrefix(line, probeStatPrefix):
		var s api.ProbeStats
		if json.Unmarshal(line, &s) == nil && s.Final {
			v.window = max(v.window, time.Duration(s.WindowNs))
		}
	}
	v.trace.Line(node, line)
	return false
}

// Edges returns the map so far: the edges Options.SortBy and Top keep,
// in that order.
func (v *View) Edges() []Edge {
	return Select(v.allEdges(), v.o.SortBy, v.o.Top)
}

// allEdges is the map so far, by requests.
func (v *View) allEdges() []Edge {
	if v.refilter != nil {
		for _, node := range v.refilter.Nodes() {
			v.agg.Merge(v.refilter.Drain(node))
		}
	}
	ls := make([]api.ListeningPort, 0, len(v.listeners))
	for l := range v.listeners {
		ls = append(ls, l)
	}
	rows := v.agg.Rows()
	if v.o.PeerNames != nil {
		for i := range rows {
			if name, ok := v.o.PeerNames(rows[i].Peer); ok {
				rows[i].Peer = name
			}
		}
	}
	return Edges(rows, ls)
}

// DiffRows are the edges as diff compares them: the requestor and
// responder, without PIDs (they change between runs), as the row's
// service, the protocol as its method; and the window in seconds.
func (v *View) DiffRows() ([]stats.Endpoint, float64) {
	edges := v.allEdges()
	rows := make([]stats.Endpoint, len(edges))
	for i, e := range edges {
		rows[i] = stats.Endpoint{Key: stats.Key{Service: withoutPID(e.Requestor) + " -> " + withoutPID(e.Responder), Method: e.Protocol},
			Count: e.Requests, Errors: e.Errors, ReqBytes: e.BytesSent, RespBytes: e.BytesRecv, Latency: e.Latency}
	}
	return rows, v.elapsed().Seconds()
}

// withoutPID is a process name without api.ProcessName's " (pid N)".
func withoutPID(name string) string {
	if i := strings.LastIndex(name, " (pid "); i > 0 && strings.HasSuffix(name, ")") {
		return name[:i]
	}
	return name
}

// elapsed is the rate's denominator: the probes' window once they
// finished, else the time since they attached, at most the window asked.
func (v *View) elapsed() time.Duration {
	if v.window > 0 {
		return v.window
	}
	if v.readyAt.IsZero() {
		return 0
	}
	return min(v.o.Now().Sub(v.readyAt), max(v.o.Window, 0))
}

// Frame is the table and trees (nil for the other formats, and until a
// probe attached).
func (v *View) Frame(final bool) []byte {
	if v.o.Output != OutputTable || v.readyAt.IsZero() {
		return nil
	}
	return Table(v.Edges(), v.elapsed(), v.o.Palette, v.o.Width)
}

// Finish writes the map in the chosen format (the table was the final
// frame) and returns the probes' errors, else srcErr.
func (v *View) Finish(out io.Writer, srcErr error) error {
	err := v.trace.Finish(io.Discard, srcErr)
	if v.readyAt.IsZero() {
		return err
	}
	edges, window := v.Edges(), v.elapsed()
	var werr error
	switch v.o.Output {
	case OutputJSON:
		werr = WriteJSON(out, edges, window)
	case OutputDOT:
		werr = WriteDOT(out, edges, window)
	case OutputMermaid:
		werr = WriteMermaid(out, edges, window)
	case OutputSVG:
		werr = WriteSVG(context.Background(), out, edges, window)
	}
	if err == nil {
		err = werr
	}
	return err
}
