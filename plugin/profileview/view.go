// Package profileview turns the records of profile probes (stack_traces,
// probe_stats, probe_log; from a local agent or probe pods on many nodes)
// into one merged CPU profile, and the profile into frames: the live top
// functions, then the result (a flame graph fitted to the terminal, or
// folded, pprof, SVG or speedscope). It is a driver.View.
package profileview

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/kubectl-pixie/kubectl-pixie/plugin/flame"
	"github.com/kubectl-pixie/kubectl-pixie/plugin/render"
	"github.com/kubectl-pixie/kubectl-pixie/probes/api"
)

// Output formats.
const (
	OutTerminal   = "terminal"
	OutFolded     = "folded"
	OutPprof      = "pprof"
	OutSVG        = "svg"
	OutSpeedscope = "speedscope"
	OutJSON       = "json"
)

// Options choose what the view shows.
type Options struct {
	Output string // one of the Out* formats but json (passed through by the driver)
	Hz     int
	Window time.Duration
	Nodes  int // probe pods; 0 for --local
	// Live shows the top functions while sampling (stdout is a terminal
	// that carries no data).
	Live bool
	// TTY: stdout is a terminal. Width and Height are its size (Width 0:
	// 100 columns).
	TTY           bool
	Width, Height int
	Color         bool
	// Owners name the pods of the targets' containers by runtime ID
	// (cluster mode): their roots start the stacks.
	Owners map[string]*flame.Owner
	// Result gets the result instead of the driver's output (a file).
	Result io.Writer
	Now    func() time.Time
}

// View accumulates a profile; the driver calls it from one goroutine at a
// time.
type View struct {
	o      Options
	errOut io.Writer
	prof   *flame.Profile
	stats  map[string]api.ProbeStats // last probe_stats per node
	errs   []string
	start  time.Time
}

// New returns a view writing probe errors and the summary to errOut.
func New(errOut io.Writer, o Options) *View {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Width <= 0 {
		o.Width = 100
	}
	v := &View{o: o, errOut: errOut, prof: flame.New(o.Hz), stats: map[string]api.ProbeStats{}, start: o.Now()}
	v.prof.TimeNs = v.start.UnixNano()
	return v
}

// Profile is what the view accumulated.
func (v *View) Profile() *flame.Profile { return v.prof }

// stackPrefix starts every stack_traces record (Header is the first
// field), so the common record is decoded once, not twice.
var stackPrefix = []byte(`{"table":"` + api.TableStackTraces + `"`)

// Line adds one record from node; -o json passes every record through.
func (v *View) Line(node string, line []byte) (pass bool) {
	var h api.Header
	if bytes.HasPrefix(line, stackPrefix) {
		h.Table = api.TableStackTraces
	} else if json.Unmarshal(line, &h) != nil {
		return true
	}
	switch h.Table {
	case api.TableStackTraces:
		var r api.StackTrace
		if json.Unmarshal(line, &r) == nil {
			if node != "" {
				r.Node = node
			}
			v.prof.AddRecordOf(&r, v.o.Owners[r.ContainerID])
		}
	case api.TableProbeStats:
		var r api.ProbeStats
		if json.Unmarshal(line, &r) == nil {
			if node != "" {
				r.Node = node
			}
			v.stats[r.Node] = r
		}
	case api.TableProbeLog:
		var r api.ProbeLog
		if json.Unmarshal(line, &r) == nil && r.Level == api.LevelError {
			v.logError(node, r)
		}
	}
	return true
}

func (v *View) logError(node string, r api.ProbeLog) {
	msg := r.Msg
	if node != "" {
		msg = "node " + node + ": " + msg
	}
	if r.Remedy != "" {
		msg += ": " + r.Remedy
	}
	v.errs = append(v.errs, msg)
}

// Frame is the live top functions (nil without a live view, and at the
// end of a run that failed).
func (v *View) Frame(final bool) []byte {
	if !v.o.Live || final && len(v.errs) > 0 {
		return nil
	}
	rows := max(v.o.Height-4, 5)
	if final {
		rows = 10
	}
	var b bytes.Buffer
	elapsed := v.o.Now().Sub(v.start).Truncate(time.Second)
	fmt.Fprintf(&b, "PROFILE  window %s/%s  samples %s  processes %d  %d Hz",
		render.FormatClock(elapsed), render.FormatClock(v.o.Window), render.FormatCount(v.prof.Total()),
		len(v.prof.Processes()), v.o.Hz)
	if v.o.Nodes > 0 {
		fmt.Fprintf(&b, "  nodes %d", v.o.Nodes)
	}
	b.WriteByte('\n')
	if v.prof.Total() == 0 {
		b.WriteString("waiting for samples (idle processes are not sampled)\n")
		return b.Bytes()
	}
	_ = v.prof.WriteTop(&b, rows, flame.TermOptions{Width: v.o.Width, Color: v.o.Color, Escape: render.Sanitize})
	if final && v.o.Output == OutTerminal {
		b.WriteByte('\n')
	}
	return b.Bytes()
}

// Finish prints the probes' errors and the summary line on stderr and
// writes the result to out (or Options.Result).
func (v *View) Finish(out io.Writer, srcErr error) error {
	v.prof.DurationNs = v.o.Now().Sub(v.start).Nanoseconds()
	for _, e := range v.errs {
		fmt.Fprintf(v.errOut, "error: %s\n", render.Sanitize(e))
	}
	if srcErr != nil {
		if len(v.errs) > 0 {
			return errors.New("profiling failed (see above)")
		}
		return srcErr
	}
	fmt.Fprintln(v.errOut, v.summary())
	if v.o.Result != nil {
		return v.writeResult(v.o.Result, false)
	}
	return v.writeResult(out, v.o.Color)
}

func (v *View) writeResult(w io.Writer, color bool) error {
	p := v.prof
	switch v.o.Output {
	case OutFolded:
		if v.o.TTY && v.o.Result == nil {
			return p.WriteFoldedEscaped(w, render.Sanitize) // frame names come from the node
		}
		return p.WriteFolded(w)
	case OutPprof:
		return p.WritePprof(w)
	case OutSVG:
		return p.WriteSVG(w, v.title())
	case OutSpeedscope:
		return p.WriteSpeedscope(w, v.title())
	}
	if p.Total() == 0 {
		_, err := fmt.Fprintln(w, "no samples: the targets did not run on a CPU during the window (idle processes are not sampled)")
		return err
	}
	topts := flame.TermOptions{Width: v.o.Width, Color: color, Escape: render.Sanitize}
	if v.o.Result != nil {
		topts.Width = 120
	}
	if !v.o.Live {
		// No live view was shown: print the top functions first.
		if err := p.WriteTop(w, 10, topts); err != nil {
			return err
		}
		fmt.Fprintln(w)
	}
	return p.WriteTerminal(w, topts)
}

func (v *View) title() string {
	names := []string{}
	seen := map[string]bool{}
	for _, pr := range v.prof.Processes() {
		if !seen[pr.Comm] && len(names) < 3 {
			seen[pr.Comm] = true
			names = append(names, pr.Comm)
		}
	}
	return fmt.Sprintf("CPU profile of %s · %d samples at %d Hz", strings.Join(names, ", "), v.prof.Total(), v.prof.Hz)
}

// summary is the stderr line: samples, rate, window, processes, losses, cost.
func (v *View) summary() string {
	var all []api.ProbeStats
	for _, s := range v.stats {
		all = append(all, s)
	}
	m := render.MergeProbeStats(all...)
	procs := len(v.prof.Processes())
	noun := "processes"
	if procs == 1 {
		noun = "process"
	}
	parts := []string{fmt.Sprintf("samples %s (%d Hz · %s · %d %s)", render.FormatCount(v.prof.Total()), v.o.Hz,
		render.FormatWindow(time.Duration(v.prof.DurationNs)), procs, noun)}
	lost := "lost 0"
	if m.EventsLost > 0 || len(m.LostBy) > 0 {
		var rs []string
		for k, n := range m.LostBy {
			rs = append(rs, fmt.Sprintf("%s %s", render.Sanitize(k), render.FormatCount(n)))
		}
		lost = fmt.Sprintf("lost %s (%s)", render.FormatCount(m.EventsLost), strings.Join(rs, ", "))
	}
	parts = append(parts, lost)
	if m.WindowNs > 0 {
		cost := 100 * float64(m.UserCPUNs+m.BPFRunNs) / float64(m.WindowNs) / float64(max(len(all), 1))
		parts = append(parts, fmt.Sprintf("probe CPU %s%% of one CPU", render.FormatPercent(cost)))
	}
	line := strings.Join(parts, " · ")
	if node, s, ok := render.WorstNode(v.stats); ok {
		line += "\n" + render.NodeFooter(node, s, nil)
	}
	return line
}
