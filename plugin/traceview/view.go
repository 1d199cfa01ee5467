// Package traceview turns the NDJSON records of trace probes (from a local
// agent or from probe pods on many nodes) into one merged model, and the
// model into table frames or, for -o json, summary records. It is a
// driver.View: the driver reads, ticks, redraws and passes records through.
package traceview

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/kubectl-pixie/kubectl-pixie/plugin/peers"
	"github.com/kubectl-pixie/kubectl-pixie/plugin/render"
	"github.com/kubectl-pixie/kubectl-pixie/probes/api"
	"github.com/kubectl-pixie/kubectl-pixie/probes/api/stats"
	"github.com/kubectl-pixie/kubectl-pixie/probes/api/vocab"
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
	// Width cuts the table to a terminal's width (0: no cut).
	Width int
	// ByNode keeps a row per node (--group-by node): the NODE column.
	ByNode bool
	// Select narrows and orders the endpoints of every view.
	Select render.TraceSelect
	// Samples collects the samples the agents send (--slow, --errors) for
	// the table; nil: none (-o json passes them through as they come).
	Samples *render.Samples
	Now     func() time.Time
	// KeepRow, when set, keeps only the summary rows it accepts (a replay
	// narrowing by protocol or status class, which rows hold exactly).
	KeepRow func(*stats.Endpoint) bool
	// Refilter, when set (compiled), is a replay's filter on a recording
	// whose request records carry their observations: the rows are
	// counted again from the requests it keeps, and -o json passes only
	// those.
	Refilter *api.TraceFilter
	// PeerNames, when set (cluster runs), names a row's peer that was
	// still an address when the row came; rows that then share a key
	// merge. The cluster names most as they come (peers.Annotate).
	PeerNames func(peer string) (string, bool)
}

// View is called by the driver from one goroutine at a time.
type View struct {
	o       Options
	errOut  io.Writer
	model   *render.TraceModel
	windows map[string]int64 // each node's probe window so far, ns
	ready   map[string]bool
	start   time.Time
	errors  []string
	warned  map[string]bool
	// said counts the info and warning messages of the nodes by text:
	// the first is shown with its node, the same from other nodes (500
	// nodes, one "data access" line each) only as a count at the end.
	said      map[string]int
	saidOrder []string
	events    uint64
	readyAt   time.Time // when the first probe attached
	finished  bool
	conns     map[connKey]api.ConnStats // latest conn_stats row of each key
	refilter  *Refilter                 // nil unless Options.Refilter
	// listeners are the local processes' server sockets (--local), which
	// name the client rows' servers.
	listeners []api.ListeningPort
	names     *peers.Listeners // index of listeners, built when needed
}

// New returns a View writing probe messages to errOut.
func New(errOut io.Writer, o Options) *View {
	if o.Now == nil {
		o.Now = time.Now
	}
	v := &View{
		o: o, errOut: errOut,
		model:    render.NewTraceModel(stats.Config{}),
		windows:  map[string]int64{},
		ready:    map[string]bool{},
		warned:   map[string]bool{},
		said:     map[string]int{},
		conns:    map[connKey]api.ConnStats{},
		start:    o.Now(),
		refilter: NewRefilter(o.Refilter),
	}
	v.model.Select = o.Select
	if o.PeerNames != nil {
		v.model.NamePeer = v.namePeer
	}
	return v
}

func (v *View) json() bool { return v.o.Output == "json" }

// tablePrefix starts every line: the agent encodes Header first, so the
// hot path (one line per request with -o json) reads the table name
// without decoding.
var (
	tablePrefix = []byte(`{"table":"`)
	eventSuffix = []byte(api.EventSuffix + `"`)
)

// IsEvent tells a per-request record, of any protocol, from its first bytes.
func IsEvent(line []byte) bool {
	rest, ok := bytes.CutPrefix(line, tablePrefix)
	if !ok {
		return false
	}
	end := bytes.IndexByte(rest, '"')
	return end > len(api.EventSuffix) && bytes.HasSuffix(rest[:end+1], eventSuffix)
}

// Line consumes one NDJSON line from node ("" for --local) and reports
// whether -o json passes it through (events and probe_ready; the stats
// become summaries at the end, conn_stats their last values). Lines that are not records are skipped.
// Streams are deduplicated by the caller (the session skips sequence
// numbers it has seen when it resumes a stream).
func (v *View) Line(node string, line []byte) (pass bool) {
	line = bytes.TrimSpace(line)
	if len(line) == 0 || line[0] != '{' {
		return false
	}
	if IsEvent(line) {
		return v.event(node, line)
	}
	var h api.Header
	if err := json.Unmarshal(line, &h); err != nil || h.Table == "" {
		v.warnOnce("bad-line", "skipping a line that is not a record: "+render.Sanitize(truncate(string(line), 80)))
		return false
	}
	if api.IsEventTable(h.Table) { // a record whose header is not first
		return v.event(node, line)
	}
	switch h.Table {
	case api.TableHTTPStats:
		var s api.HTTPStats
		if err := json.Unmarshal(line, &s); err != nil {
			v.warnOnce("bad-stats", "skipping a malformed http_stats record: "+err.Error())
			return false
		}
		if v.o.KeepRow != nil {
			s.Rows = slices.DeleteFunc(s.Rows, func(e stats.Endpoint) bool { return !v.o.KeepRow(&e) })
		}
		if v.refilter != nil {
			s.Rows = v.refilter.Drain(node)
		}
		v.addRows(node, s)
	case api.TableConnStats:
		v.addConnStats(node, line)
	case api.TableProbeStats:
		var s api.ProbeStats
		if err := json.Unmarshal(line, &s); err == nil {
			s.Node = node
			v.model.AddProbeStats(s)
			v.windows[node] = s.WindowNs
		}
	case api.TableListeningPorts:
		v.addListener(line)
	case api.TableProbeReady:
		v.ready[node] = true
		if v.readyAt.IsZero() {
			v.readyAt = v.o.Now()
		}
		return true
	case api.TableProbeLog:
		var l api.ProbeLog
		if err := json.Unmarshal(line, &l); err == nil {
			v.log(node, l)
		}
	default:
		v.warnOnce("table-"+h.Table, fmt.Sprintf("skipping records of unknown table %q (a newer probe?)", render.Sanitize(h.Table)))
	}
	return false
}

// event takes a per-request record and tells whether -o json passes it.
func (v *View) event(node string, line []byte) bool {
	if v.refilter != nil {
		keep, unobserved := v.refilter.Event(node, line)
		if unobserved {
			v.warnOnce("unobserved", "a recorded request without its observation was left out (recorded by a probe older than the plugin?): replay without --protocol, --status, --min-latency and --endpoint to see every request")
		}
		if !keep {
			return false
		}
	}
	if v.o.Samples != nil && !v.json() {
		v.sample(line)
		return false
	}
	v.events++
	return true
}

// addRows merges a node's stats rows into the model.
func (v *View) addRows(node string, s api.HTTPStats) {
	if v.o.ByNode {
		for i := range s.Rows {
			s.Rows[i].Node = node
		}
	}
	if v.model.NamePeer == nil && slices.ContainsFunc(s.Rows, func(e stats.Endpoint) bool { return e.PeerDNS != "" }) {
		v.model.NamePeer = v.namePeer
	}
	v.model.AddHTTPStats(s)
}

// drainRefilter counts the refiltered requests that came after their
// node's last stats record (a cut recording).
func (v *View) drainRefilter() {
	if v.refilter == nil {
		return
	}
	for _, node := range v.refilter.Nodes() {
		if rows := v.refilter.Drain(node); len(rows) > 0 {
			v.addRows(node, api.HTTPStats{Rows: rows})
		}
	}
}

// sample adds a sample record to the table's list: without -o json the
// agents send per-request records only as samples, and every request
// only to a recording, which the table does not list.
func (v *View) sample(line []byte) {
	var h api.Header
	if err := json.Unmarshal(line, &h); err != nil || h.Sample == "" {
		return
	}
	if h.SampleRow == nil {
		v.warnOnce("bad-sample", "skipping a sample without its row (an older probe?)")
		return
	}
	v.o.Samples.Add(h.Sample, *h.SampleRow)
}

func (v *View) log(node string, l api.ProbeLog) {
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
	}
	if node != "" && v.repeated(l.Level+"\x00"+msg+"\x00"+l.Remedy) {
		return
	}
	switch l.Level {
	case api.LevelWarning:
		fmt.Fprintf(v.errOut, "%s %s%s\n", p.Warn("warning:"), prefix, msg)
	default:
		fmt.Fprintf(v.errOut, "%s%s\n", prefix, msg)
	}
	if l.Remedy != "" {
		fmt.Fprintf(v.errOut, "  %s\n", render.Sanitize(l.Remedy))
	}
}

// repeated counts a node's message and reports whether another node said
// it already.
func (v *View) repeated(key string) bool {
	v.said[key]++
	if v.said[key] == 1 {
		v.saidOrder = append(v.saidOrder, key)
		return false
	}
	return true
}

// sayRepeats tells, once at the end, how many more nodes said each message
// shown once.
func (v *View) sayRepeats() {
	for _, key := range v.saidOrder {
		if n := v.said[key] - 1; n > 0 {
			level, rest, _ := strings.Cut(key, "\x00")
			msg, _, _ := strings.Cut(rest, "\x00")
			fmt.Fprintf(v.errOut, "the same %s from %d more node(s): %s\n", level, n, truncate(msg, 80))
		}
	}
	v.saidOrder = nil
}

func (v *View) warnOnce(key, msg string) {
	if v.warned[key] {
		return
	}
	v.warned[key] = true
	fmt.Fprintf(v.errOut, "%s %s\n", v.o.ErrPalette.Warn("warning:"), render.Sanitize(msg))
}

// Errors returns the error messages the probes reported.
func (v *View) Errors() []string { return v.errors }

// attachedNone is a run where no probe attached and some reported why:
// there is no table to show, only the errors.
func (v *View) attachedNone() bool { return len(v.ready) == 0 && len(v.errors) > 0 }

// Frame renders the table (nil for -o json, and while no probe is
// attached, so the screen keeps the progress). The final frame has the
// footer and the probes' own windows.
func (v *View) Frame(final bool) []byte {
	if v.json() || len(v.ready) == 0 && (!final || len(v.errors) > 0) {
		return nil
	}
	if final {
		v.drainRefilter()
	}
	v.finished = v.finished || final
	f := render.TraceFrame(v.frameLocked(), v.tableOptions())
	if v.o.Output == "wide" {
		f = append(f, v.connSection()...)
	}
	return f
}

// Finish writes the -o json summary records, and returns the errors the
// probes reported, else srcErr.
func (v *View) Finish(out io.Writer, srcErr error) error {
	v.finished = true
	v.sayRepeats()
	v.drainRefilter()
	if v.json() && !v.attachedNone() {
		for _, s := range v.model.Summaries(v.o.Now().UnixNano(), v.elapsed().Nanoseconds()) {
			b, _ := json.Marshal(s)
			_, _ = out.Write(append(b, '\n'))
		}
		v.writeConnStats(out)
		if s, nodes, ok := v.model.ProbeStats(); ok {
			if nodes > 1 { // each node's, then the merged one naming the worst
				for _, ns := range v.model.NodeStats() {
					b, _ := json.Marshal(ns)
					_, _ = out.Write(append(b, '\n'))
				}
				s.WorstNode = v.model.WorstNode()
			}
			s.Node = ""
			b, _ := json.Marshal(s)
			_, _ = out.Write(append(b, '\n'))
		}
	}
	if len(v.errors) > 0 {
		return errors.New(strings.Join(v.errors, "\n"))
	}
	return srcErr
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
		Samples:    v.o.Samples,
	})
}

func (v *View) tableOptions() render.TraceOptions {
	return render.TraceOptions{Wide: v.o.Output == "wide", Palette: v.o.Palette, Width: v.o.Width}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// addListener keeps a listening_ports record: from then on the client
// rows' servers are named by their processes ("-> postgres (pid 812)").
func (v *View) addListener(line []byte) {
	var l api.ListeningPort
	if json.Unmarshal(line, &l) != nil || len(v.listeners) >= maxListeners {
		return
	}
	l.Header = api.Header{}
	v.listeners = append(v.listeners, l)
	v.names = nil
	v.model.NamePeer = v.namePeer
}

// maxListeners bounds the listening sockets kept.
const maxListeners = 1 << 14

// namePeer names a row's peer that is still an address: by the cluster
// (Options.PeerNames); else a client row's server by the name a traced
// DNS answer gave it, else, on a loopback address, by its listening
// process (another host's server on a port that a local process also
// listens on is not it); else it stays the address.
func (v *View) namePeer(e stats.Endpoint) string {
	if v.o.PeerNames != nil {
		if name, ok := v.o.PeerNames(e.Peer); ok {
			return name
		}
	}
	ap, err := netip.ParseAddrPort(e.Peer)
	if e.Role != vocab.RoleClient || err != nil {
		return e.Peer
	}
	if e.PeerDNS != "" {
		return e.PeerDNS
	}
	if !ap.Addr().Unmap().IsLoopback() || len(v.listeners) == 0 {
		return e.Peer
	}
	if v.names == nil {
		n := peers.NewListeners(v.listeners)
		v.names = &n
	}
	if owner := v.names.Owner(e.Peer, nil); owner != "" {
		return owner
	}
	return e.Peer
}
