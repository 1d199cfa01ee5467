// Package traceview consumes the NDJSON records of trace probes (from a
// local agent or from probe pods on many nodes), merges them, and shows
// them: a live table on a terminal, snapshots when piped, or NDJSON.
package traceview

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"sync"
	"time"

	"github.com/kubectl-pixie/kubectl-pixie/plugin/render"
	"github.com/kubectl-pixie/kubectl-pixie/probes/api"
	"github.com/kubectl-pixie/kubectl-pixie/probes/api/stats"
)

// Options choose the output.
type Options struct {
	Output     string // table, wide or json
	Window     time.Duration
	NodesTotal int    // 0 for --local
	TargetUnit string // "processes" or "pods"
	Targets    int
	Palette    *render.Palette // for Out
	ErrPalette *render.Palette // for ErrOut
	// Live repaints on a terminal; otherwise snapshots every SnapshotEvery.
	TTY           bool
	Width, Height int
	NoStream      bool
	Now           func() time.Time
}

// View is safe for concurrent use: records arrive from several streams
// while a ticker redraws.
type View struct {
	mu      sync.Mutex
	o       Options
	out     io.Writer
	errOut  io.Writer
	live    *render.Live
	agg     *stats.Aggregator
	stats   map[string]api.ProbeStats // latest per node
	ready   map[string]bool
	start   time.Time
	errors  []string
	warned  map[string]bool
	seqSeen map[string]uint64
	events  uint64
}

// New returns a View writing data to out and messages to errOut.
func New(out, errOut io.Writer, o Options) *View {
	if o.Now == nil {
		o.Now = time.Now
	}
	v := &View{
		o: o, out: out, errOut: errOut,
		agg:     stats.NewAggregator(stats.Config{}),
		stats:   map[string]api.ProbeStats{},
		ready:   map[string]bool{},
		warned:  map[string]bool{},
		seqSeen: map[string]uint64{},
		start:   o.Now(),
	}
	if !v.json() {
		v.live = render.NewLive(out, render.LiveOptions{TTY: o.TTY, Width: o.Width, Height: o.Height, NoStream: o.NoStream, Now: o.Now})
	}
	return v
}

func (v *View) json() bool { return v.o.Output == "json" }

// Line consumes one NDJSON line from node ("" for --local). Lines that are
// not records, or records already seen (a resumed stream), are skipped.
func (v *View) Line(node string, line []byte) {
	line = bytes.TrimSpace(line)
	if len(line) == 0 || line[0] != '{' {
		return
	}
	var h api.Header
	if err := json.Unmarshal(line, &h); err != nil || h.Table == "" {
		v.warnOnce("bad-line", "skipping a line that is not a record: "+render.Sanitize(truncate(string(line), 80)))
		return
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if h.Seq > 0 {
		if h.Seq <= v.seqSeen[node] {
			return
		}
		v.seqSeen[node] = h.Seq
	}
	switch h.Table {
	case api.TableHTTPEvents:
		v.events++
		if v.json() {
			v.writeRecord(node, line)
		}
	case api.TableHTTPStats:
		var s api.HTTPStats
		if err := json.Unmarshal(line, &s); err != nil {
			v.warnOnceLocked("bad-stats", "skipping a malformed http_stats record: "+err.Error())
			return
		}
		v.agg.Merge(s.Rows)
	case api.TableProbeStats:
		var s api.ProbeStats
		if err := json.Unmarshal(line, &s); err == nil {
			v.stats[node] = s
		}
	case api.TableProbeReady:
		v.ready[node] = true
		if v.json() {
			v.writeRecord(node, line)
		}
	case api.TableProbeLog:
		var l api.ProbeLog
		if err := json.Unmarshal(line, &l); err == nil {
			v.logLocked(node, l)
		}
	default:
		v.warnOnceLocked("table-"+h.Table, fmt.Sprintf("skipping records of unknown table %q (a newer probe?)", render.Sanitize(h.Table)))
	}
}

// writeRecord passes a record through, stamped with its node.
func (v *View) writeRecord(node string, line []byte) {
	if node != "" {
		var m map[string]any
		if json.Unmarshal(line, &m) == nil {
			m["node"] = node
			if b, err := json.Marshal(m); err == nil {
				line = b
			}
		}
	}
	v.out.Write(line)
	v.out.Write([]byte{'\n'})
}

func (v *View) logLocked(node string, l api.ProbeLog) {
	p := v.o.ErrPalette
	prefix := ""
	if node != "" {
		prefix = "node " + render.Sanitize(node) + ": "
	}
	msg := render.Sanitize(l.Msg)
	switch l.Level {
	case api.LevelError:
		v.errors = append(v.errors, prefix+msg)
		fmt.Fprintf(v.errOut, "%s %s%s\n", p.Error("error:"), prefix, msg)
	case api.LevelWarning:
		fmt.Fprintf(v.errOut, "%s %s%s\n", p.Warn("warning:"), prefix, msg)
	default:
		fmt.Fprintf(v.errOut, "%s%s\n", prefix, msg)
	}
	if l.Remedy != "" {
		fmt.Fprintf(v.errOut, "  %s\n", render.Sanitize(l.Remedy))
	}
}

func (v *View) warnOnce(key, msg string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.warnOnceLocked(key, msg)
}

func (v *View) warnOnceLocked(key, msg string) {
	if v.warned[key] {
		return
	}
	v.warned[key] = true
	fmt.Fprintf(v.errOut, "%s %s\n", v.o.ErrPalette.Warn("warning:"), msg)
}

// Errors returns the error messages the probes reported.
func (v *View) Errors() []string {
	v.mu.Lock()
	defer v.mu.Unlock()
	return slices.Clone(v.errors)
}

// Requests returns how many requests were aggregated so far.
func (v *View) Requests() uint64 {
	v.mu.Lock()
	defer v.mu.Unlock()
	var n uint64
	for _, r := range v.agg.Rows() {
		n += r.Count
	}
	return n
}

// Tick redraws the live table (table output only).
func (v *View) Tick() {
	if v.json() {
		return
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if len(v.ready) == 0 { // nothing attached yet: keep the screen for progress
		return
	}
	_ = v.live.Update(render.TraceFrame(v.frameLocked(false), v.tableOptions()))
}

// Finish shows the final result: the last table with its footer, or the
// summary records after the NDJSON stream.
func (v *View) Finish() {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.json() {
		now := v.o.Now()
		elapsed := v.elapsed()
		for _, e := range v.agg.Rows() {
			s := api.NewHTTPSummary(e, now.UnixNano(), elapsed.Nanoseconds())
			b, _ := json.Marshal(s)
			v.out.Write(append(b, '\n'))
		}
		if len(v.stats) > 0 {
			m := render.MergeProbeStats(v.statsList()...)
			b, _ := json.Marshal(m)
			v.out.Write(append(b, '\n'))
		}
		return
	}
	_ = v.live.Final(render.TraceFrame(v.frameLocked(true), v.tableOptions()))
}

func (v *View) statsList() []api.ProbeStats {
	var all []api.ProbeStats
	for _, s := range v.stats {
		all = append(all, s)
	}
	return all
}

func (v *View) elapsed() time.Duration {
	e := v.o.Now().Sub(v.start)
	if v.o.Window > 0 && e > v.o.Window {
		e = v.o.Window
	}
	// The probes' own window is the better denominator once known.
	for _, s := range v.stats {
		if d := time.Duration(s.WindowNs); d > 0 && d < e {
			e = d
		}
	}
	return e
}

func (v *View) frameLocked(final bool) render.TraceView {
	tv := render.TraceView{
		Protocol:   "HTTP",
		Elapsed:    v.elapsed(),
		Window:     v.o.Window,
		NodesReady: len(v.ready),
		NodesTotal: v.o.NodesTotal,
		Targets:    v.o.Targets,
		TargetUnit: v.o.TargetUnit,
		Rows:       v.agg.Rows(),
	}
	if len(v.stats) > 0 {
		m := render.MergeProbeStats(v.statsList()...)
		tv.Stats = &m
	}
	return tv
}

func (v *View) tableOptions() render.TraceOptions {
	o := render.TraceOptions{Wide: v.o.Output == "wide", Palette: v.o.Palette}
	if v.o.TTY {
		o.Width = v.o.Width
	}
	return o
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
