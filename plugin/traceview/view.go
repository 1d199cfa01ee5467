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
	model   *render.TraceModel
	windows map[string]int64 // each node's probe window so far, ns
	ready   map[string]bool
	start   time.Time
	errors  []string
	warned  map[string]bool
	events  uint64
	buf     bytes.Buffer
	// lastSnapshot is when the last piped snapshot was written.
	lastSnapshot time.Time
	readyAt      time.Time // when the first probe attached
	finished     bool
}

// New returns a View writing data to out and messages to errOut.
func New(out, errOut io.Writer, o Options) *View {
	if o.Now == nil {
		o.Now = time.Now
	}
	v := &View{
		o: o, out: out, errOut: errOut,
		model:   render.NewTraceModel(stats.Config{}),
		windows: map[string]int64{},
		ready:   map[string]bool{},
		warned:  map[string]bool{},
		start:   o.Now(),
	}
	v.lastSnapshot = v.start
	if !v.json() {
		v.live = render.NewLive(out, render.LiveOptions{TTY: o.TTY, Width: o.Width, Height: o.Height, NoStream: o.NoStream, Now: o.Now})
	}
	return v
}

func (v *View) json() bool { return v.o.Output == "json" }

// eventPrefixes start every per-request line (http_events, redis_events,
// dns_events, pgsql_events, mysql_events, amqp_events, kafka_events): the agent encodes Header first, so the hot path (one line
// per request with -o json) needs no decoding at all.
var eventPrefixes = [][]byte{
	[]byte(`{"table":"` + api.TableHTTPEvents + `"`),
	[]byte(`{"table":"` + api.TableRedisEvents + `"`),
	[]byte(`{"table":"` + api.TableDNSEvents + `"`),
	[]byte(`{"table":"` + api.TablePgSQLEvents + `"`),
	[]byte(`{"table":"` + api.TableMySQLEvents + `"`),
	[]byte(`{"table":"` + api.TableAMQPEvents + `"`),
	[]byte(`{"table":"` + api.TableKafkaEvents + `"`),
}

func isEvent(line []byte) bool {
	for _, p := range eventPrefixes {
		if bytes.HasPrefix(line, p) {
			return true
		}
	}
	return false
}

// Line consumes one NDJSON line from node ("" for --local). Lines that are
// not records are skipped. Streams are deduplicated by the caller (the
// session skips sequence numbers it has seen when it resumes a stream).
func (v *View) Line(node string, line []byte) {
	line = bytes.TrimSpace(line)
	if len(line) == 0 || line[0] != '{' {
		return
	}
	if isEvent(line) {
		v.mu.Lock()
		v.events++
		if v.json() {
			v.writeRecord(node, line)
		}
		v.mu.Unlock()
		return
	}
	var h api.Header
	if err := json.Unmarshal(line, &h); err != nil || h.Table == "" {
		v.warnOnce("bad-line", "skipping a line that is not a record: "+render.Sanitize(truncate(string(line), 80)))
		return
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	switch h.Table {
	case api.TableHTTPEvents, api.TableRedisEvents, api.TableDNSEvents, api.TablePgSQLEvents, api.TableMySQLEvents:
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
		v.model.AddHTTPStats(s)
	case api.TableProbeStats:
		var s api.ProbeStats
		if err := json.Unmarshal(line, &s); err == nil {
			s.Node = node
			v.model.AddProbeStats(s)
			v.windows[node] = s.WindowNs
		}
	case api.TableProbeReady:
		v.ready[node] = true
		if v.readyAt.IsZero() {
			v.readyAt = v.o.Now()
		}
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

// writeRecord passes a record through, stamped with its node (the agent
// never sets "node": only the plugin knows it).
func (v *View) writeRecord(node string, line []byte) {
	if node != "" {
		q, _ := json.Marshal(node)
		v.buf.Reset()
		v.buf.WriteString(`{"node":`)
		v.buf.Write(q)
		v.buf.WriteByte(',')
		v.buf.Write(line[1:])
		line = v.buf.Bytes()
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
		// Returned by the command (Errors), which prints it once.
		e := prefix + msg
		if l.Remedy != "" {
			e += "\n  " + render.Sanitize(l.Remedy)
		}
		v.errors = append(v.errors, e)
		return
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
	fmt.Fprintf(v.errOut, "%s %s\n", v.o.ErrPalette.Warn("warning:"), render.Sanitize(msg))
}

// Errors returns the error messages the probes reported.
func (v *View) Errors() []string {
	v.mu.Lock()
	defer v.mu.Unlock()
	return slices.Clone(v.errors)
}

// SnapshotEvery is the cadence of plain snapshots when the output is not
// a terminal: every second would flood a log.
const SnapshotEvery = 10 * time.Second

// Tick redraws the live table (table output only): every call on a
// terminal, every SnapshotEvery otherwise.
func (v *View) Tick() {
	if v.json() {
		return
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if len(v.ready) == 0 { // nothing attached yet: keep the screen for progress
		return
	}
	now := v.o.Now()
	if !v.o.TTY && now.Sub(v.lastSnapshot) < SnapshotEvery {
		return
	}
	v.lastSnapshot = now
	_ = v.live.Update(render.TraceFrame(v.frameLocked(), v.tableOptions()))
}

// Finish shows the final result: the last table with its footer, or the
// summary records after the NDJSON stream. Probes that never attached
// have nothing to show: their errors say why.
func (v *View) Finish() {
	v.mu.Lock()
	defer v.mu.Unlock()
	if len(v.ready) == 0 && len(v.errors) > 0 {
		return
	}
	v.finished = true
	if v.json() {
		for _, s := range v.model.Summaries(v.o.Now().UnixNano(), v.elapsed().Nanoseconds()) {
			b, _ := json.Marshal(s)
			v.out.Write(append(b, '\n'))
		}
		if s, _, ok := v.model.ProbeStats(); ok {
			s.Node = ""
			b, _ := json.Marshal(s)
			v.out.Write(append(b, '\n'))
		}
		return
	}
	_ = v.live.Final(render.TraceFrame(v.frameLocked(), v.tableOptions()))
}

// elapsed is the time traced so far, the denominator of req/s. While the
// probes run it is the time since the first one attached, so the clock
// never runs backwards; at the end the probes' own windows (the longest)
// are the exact figure.
func (v *View) elapsed() time.Duration {
	var e time.Duration
	if !v.readyAt.IsZero() {
		e = v.o.Now().Sub(v.readyAt)
	}
	if v.finished && len(v.windows) > 0 {
		e = 0
		for _, w := range v.windows {
			e = max(e, time.Duration(w))
		}
	}
	if v.o.Window > 0 && e > v.o.Window {
		e = v.o.Window
	}
	return e
}

func (v *View) frameLocked() render.TraceView {
	return v.model.View(render.TraceView{
		Protocol:   "HTTP",
		Elapsed:    v.elapsed(),
		Window:     v.o.Window,
		NodesReady: len(v.ready),
		NodesTotal: v.o.NodesTotal,
		Targets:    v.o.Targets,
		TargetUnit: v.o.TargetUnit,
	})
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
