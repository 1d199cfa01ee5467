// Package memview renders `kubectl pixie memory`: a live table of the
// targets' memory with a sparkline of the trend, and at the end the
// verdicts with their reasons and the allocation stacks of --alloc.
//
// It is a driver.View: it consumes the agent's NDJSON records (probes/api),
// from a local agent or from probe pods, and renders frames; the driver
// reads, ticks, redraws and ends it.
package memview

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"k8s.io/cli-runtime/pkg/printers"

	"github.com/kubectl-pixie/kubectl-pixie/plugin/render"
	"github.com/kubectl-pixie/kubectl-pixie/probes/api"
	"github.com/kubectl-pixie/kubectl-pixie/probes/api/trend"
	"github.com/kubectl-pixie/kubectl-pixie/probes/api/vocab"
)

// Options configure a View.
type Options struct {
	ErrOut io.Writer
	// Color enables colour on Out (decided by the caller per writer).
	Color    bool
	Duration time.Duration // the window, for the header
	// SparkWidth is the number of sparkline cells (default 16).
	SparkWidth int
	// Pods describes the targets' pods by UID (cluster mode); a process
	// of a pod not in it is named by the UID.
	Pods map[string]Pod
	// Group makes a row a group of processes (--group-by, cluster mode);
	// nil: a row per process (--local, a recording without pods).
	Group *GroupBy
	// Interval is the sampling interval (0: read from the samples).
	Interval time.Duration
	// JSON: the records are the output (-o json); the view keeps them
	// only to add a memory_group_summary per row at the end (Group set).
	JSON bool
}

// View accumulates records and renders them.
type View struct {
	o       Options
	procs   map[string]*proc
	order   []string
	sums    []api.MemorySummary
	allocs  []api.AllocStack
	stats   *api.ProbeStats
	warned  map[string]bool
	start   time.Time
	palette *render.Palette
	fits    int // live trend fits run (see liveFits)
	// frameCost is the fitting work of the last frame (see fitBudget).
	frameCost int
}

type proc struct {
	key   string
	first api.ProcessStats
	last  api.ProcessStats
	pts   trend.Series // bounded: an hour costs what a minute does
	// fit is the live trend, refitted as the samples grow (see liveFits).
	fit   trend.Result
	fitAt int // samples at the last fit; 0: never fitted
}

// refitDivisor: the live trend of a process is due for a refit once its
// samples grew by 1/refitDivisor since the last fit (every tick early on),
// so the fits of a long window cost O(log samples) per process, not one
// per tick; the final table always refits.
const refitDivisor = 32

// fitBudget bounds a live frame's fitting work, in pairwise slopes (a fit
// of n points costs about n²/2, n at most trend.MaxFitPoints): eight full
// fits. Processes that started together fall due together; past the
// budget the least stale wait for a later frame with their last fit.
const fitBudget = 8 * trend.MaxFitPoints * trend.MaxFitPoints / 2

// New returns a view writing to o.Out (data) and o.ErrOut (warnings).
func New(o Options) *View {
	if o.SparkWidth <= 0 {
		o.SparkWidth = 16
	}
	if o.ErrOut == nil {
		o.ErrOut = io.Discard
	}
	return &View{o: o, procs: map[string]*proc{}, warned: map[string]bool{}, start: time.Now(), palette: render.NewPalette(o.Color)}
}

// Line decodes one NDJSON record from node ("" for --local); -o json passes
// every record through. Unknown tables are skipped with a one-time warning;
// agent log records go to ErrOut.
func (v *View) Line(node string, line []byte) (pass bool) {
	line = bytes.TrimSpace(line)
	if len(line) == 0 {
		return false
	}
	var h api.Header
	if err := json.Unmarshal(line, &h); err != nil {
		v.warnOnce("decode", fmt.Sprintf("skipping a record that is not JSON: %v", err))
		return false
	}
	var err error
	if v.o.JSON && h.Table != api.TableProcessStats && h.Table != api.TableMemorySummary {
		return true // passed as it came; only the samples and verdicts make groups
	}
	switch h.Table {
	case api.TableProcessStats:
		var r api.ProcessStats
		if err = json.Unmarshal(line, &r); err == nil {
			r.Node = stamp(node, r.Node)
			v.AddStats(r)
		}
	case api.TableMemorySummary:
		var r api.MemorySummary
		if err = json.Unmarshal(line, &r); err == nil {
			r.Node = stamp(node, r.Node)
			v.sums = append(v.sums, r)
		}
	case api.TableAllocStacks:
		var r api.AllocStack
		if err = json.Unmarshal(line, &r); err == nil {
			v.allocs = append(v.allocs, r)
		}
	case api.TableProbeStats:
		var r api.ProbeStats
		if err = json.Unmarshal(line, &r); err == nil {
			v.stats = &r
		}
	case api.TableProbeLog:
		var r api.ProbeLog
		if err = json.Unmarshal(line, &r); err == nil {
			msg := render.Sanitize(r.Msg)
			if r.Remedy != "" {
				msg += "\n  " + render.Sanitize(r.Remedy)
			}
			lvl := render.Sanitize(r.Level)
			if lvl == api.LevelInfo {
				lvl = "info"
			}
			fmt.Fprintf(v.o.ErrOut, "%s: %s\n", lvl, msg)
		}
	case api.TableProbeReady:
	default:
		v.warnOnce("table:"+h.Table, fmt.Sprintf("skipping records of unknown table %q (a newer agent?)", render.Sanitize(h.Table)))
	}
	if err != nil {
		v.warnOnce("decode:"+h.Table, fmt.Sprintf("skipping a malformed %s record: %v", h.Table, err))
	}
	return true
}

// stamp is the record's node: the stream's (authoritative) when it has one.
func stamp(streamNode, recordNode string) string {
	if streamNode != "" {
		return streamNode
	}
	return recordNode
}

func (v *View) warnOnce(key, msg string) {
	if v.warned[key] {
		return
	}
	v.warned[key] = true
	fmt.Fprintf(v.o.ErrOut, "warning: %s\n", render.Sanitize(msg))
}

// AddStats adds one sample.
func (v *View) AddStats(r api.ProcessStats) {
	key := r.Node + "/" + r.UPID
	p, ok := v.procs[key]
	if !ok {
		p = &proc{key: key, first: r}
		v.procs[key] = p
		v.order = append(v.order, key)
	}
	p.last = r
	p.pts.Add(trend.Point{T: float64(r.Time-p.first.Time) / 1e9, V: float64(r.RSSBytes)})
}

// Frame renders the table: live rows with provisional verdicts, or the
// final rows with the agent's (nil while no sample arrived).
func (v *View) Frame(final bool) []byte {
	if v.o.JSON {
		return nil
	}
	if final {
		if len(v.order) == 0 && len(v.sums) == 0 {
			return []byte("no samples: no target process was found or it exited at once\n")
		}
		return []byte(v.table(true))
	}
	if len(v.order) == 0 {
		return nil
	}
	elapsed := time.Since(v.start).Round(time.Second)
	return []byte(fmt.Sprintf("memory  window %s/%s  processes %d\n\n%s",
		render.FormatClock(elapsed), render.FormatClock(v.o.Duration), len(v.order), v.table(false)))
}

// table renders the rows: groups of processes in cluster mode, else
// processes.
func (v *View) table(final bool) string {
	if v.o.Group != nil {
		return v.groupTable(final)
	}
	return v.procTable(final)
}

// Finish writes what follows the final table: the agent's verdicts with
// their reasons, the --alloc stacks and a one-line footer.
func (v *View) Finish(out io.Writer, srcErr error) error {
	if v.o.JSON {
		return v.writeGroups(out, srcErr)
	}
	var buf bytes.Buffer
	if v.o.Group != nil && len(v.order) > 0 {
		buf.WriteString("\n")
		for _, r := range v.groupRows(true) {
			fmt.Fprintf(&buf, "%s: %s\n", render.Sanitize(groupName(r.Service, r.Node)), v.paint(r.word, r.Reason))
		}
	} else if len(v.sums) > 0 {
		buf.WriteString("\n")
		for _, s := range v.sortedSums() {
			fmt.Fprintf(&buf, "%s %d: %s: %s\n", render.Sanitize(procName(s.Comm, v.podName(s.PodUID), s.ContainerID)), s.PID,
				v.colorVerdict(s.Verdict), render.Sanitize(s.Reason))
		}
	}
	v.renderAllocs(&buf)
	if s := v.stats; s != nil {
		fmt.Fprintf(&buf, "\n%s\n", v.palette.Dim(fmt.Sprintf("sampled %d times over %s · probe CPU %s · probe RSS %s",
			s.Records, trend.Duration(float64(s.WindowNs)/1e9), time.Duration(s.UserCPUNs).Round(time.Millisecond), trend.Bytes(float64(s.PeakRSSBytes)))))
	}
	_, _ = out.Write(buf.Bytes())
	return srcErr
}

func (v *View) sortedSums() []api.MemorySummary {
	s := append([]api.MemorySummary(nil), v.sums...)
	sort.SliceStable(s, func(i, j int) bool { return s[i].GrowthBytesPerSec > s[j].GrowthBytesPerSec })
	return s
}

func (v *View) summaryFor(p *proc) *api.MemorySummary {
	for i := range v.sums {
		if v.sums[i].Node == p.last.Node && v.sums[i].UPID == p.last.UPID {
			return &v.sums[i]
		}
	}
	return nil
}

// procTable renders one row per process. Live rows get a provisional verdict
// from the samples so far (marked with "?"); final rows take the agent's.
func (v *View) procTable(final bool) string {
	var buf bytes.Buffer
	tw := printers.GetNewTabWriter(&buf)
	showNode := false
	for _, k := range v.order {
		if v.procs[k].last.Node != "" {
			showNode = true
		}
	}
	cols := []string{"PROCESS", "PID", "RSS", "ANON", "SWAP", "TREND", "RATE", "FAULTS/s", "LIMIT", "OOM IN", "VERDICT"}
	if showNode {
		cols = append([]string{"NODE"}, cols...)
	}
	fmt.Fprintln(tw, strings.Join(cols, "\t"))
	keys := append([]string(nil), v.order...)
	rate := v.liveFits(final)
	sort.SliceStable(keys, func(i, j int) bool { return rate[keys[i]].Slope > rate[keys[j]].Slope })
	for _, k := range keys {
		p := v.procs[k]
		r := rate[k]
		verdict, oom, slope := r.Verdict+"?", r.TimeToOOM*1e9, r.Slope
		if s := v.summaryFor(p); s != nil {
			verdict, oom, slope = s.Verdict, float64(s.TimeToOOMNs), s.GrowthBytesPerSec
		} else if final {
			verdict = r.Verdict
		}
		if p.pts.Samples() < 5 && !final {
			verdict = "…"
		}
		limit := "-"
		if p.last.CgroupLimitBytes > 0 {
			limit = fmt.Sprintf("%s (%.0f%%)", trend.Bytes(float64(p.last.CgroupLimitBytes)), 100*float64(p.last.CgroupUsageBytes)/float64(p.last.CgroupLimitBytes))
		} else if s := v.summaryFor(p); s != nil && s.LimitBytes > 0 {
			limit = fmt.Sprintf("%s %s (%.1f%%)", render.Sanitize(s.LimitSource), trend.Bytes(float64(s.LimitBytes)), s.PercentOfLimit)
		}
		oomIn := "-"
		if oom > 0 {
			oomIn = "~" + trend.Duration(oom/1e9)
		}
		rateS := "±0"
		if p.pts.Samples() >= 2 && slope != 0 {
			rateS = trend.Rate(slope)
		}
		row := []string{
			render.Sanitize(procName(p.last.Comm, v.podName(p.last.PodUID), p.last.ContainerID)),
			fmt.Sprint(p.last.PID),
			trend.Bytes(float64(p.last.RSSBytes)),
			trend.Bytes(float64(p.last.RSSAnonBytes)),
			trend.Bytes(float64(p.last.SwapBytes)),
			Sparkline(p.pts.Points(), v.o.SparkWidth),
			rateS,
			fmt.Sprintf("%.0f", p.last.MinorFaultsPerSec+p.last.MajorFaultsPerSec),
			limit,
			oomIn,
			v.colorVerdict(verdict), // last column: colour cannot skew the tabwriter
		}
		if showNode {
			row = append([]string{render.Sanitize(p.last.Node)}, row...)
		}
		fmt.Fprintln(tw, strings.Join(row, "\t"))
	}
	_ = tw.Flush()
	return buf.String()
}

// colorVerdict paints the verdicts it knows; others (a newer agent's, a
// forged record's) are shown sanitized and plain.
func (v *View) colorVerdict(s string) string { return v.paint(strings.TrimSuffix(s, "?"), s) }

// paint shows text (sanitized) in the colour of verdict.
func (v *View) paint(verdict, text string) string {
	text = render.Sanitize(text)
	switch verdict {
	case vocab.VerdictLeak:
		return v.palette.Error(text)
	case vocab.VerdictGrowing:
		return v.palette.Warn(text)
	case vocab.VerdictStable:
		return v.palette.OK(text)
	}
	return text
}

func (v *View) renderAllocs(buf *bytes.Buffer) {
	if len(v.allocs) == 0 {
		return
	}
	var faults, calls bool
	for _, a := range v.allocs {
		if a.Source == api.AllocSourceFaults {
			faults = true
		} else {
			calls = true
		}
	}
	if faults {
		fmt.Fprintf(buf, "\nMEMORY GROWTH BY STACK (sampled page faults; still resident / made resident in the window)\n")
	}
	if calls {
		fmt.Fprintf(buf, "\nOUTSTANDING ALLOCATIONS (sampled, scaled; top stacks per process)\n")
	}
	for _, a := range v.allocs {
		src := render.Sanitize(a.Source)
		if a.Source == api.AllocSourceFaults {
			fmt.Fprintf(buf, "%s %d #%d  %s of %s (%s)\n", render.Sanitize(a.Comm), a.PID, a.Rank,
				trend.Bytes(float64(a.OutstandingBytes)), trend.Bytes(float64(a.AllocatedBytes)), src)
		} else {
			fmt.Fprintf(buf, "%s %d #%d  %s in %d allocations (%s)\n", render.Sanitize(a.Comm), a.PID, a.Rank,
				trend.Bytes(float64(a.OutstandingBytes)), a.OutstandingAllocs, src)
		}
		frames := collapseUnnamed(a.Frames)
		for i, f := range frames {
			if i >= 8 {
				fmt.Fprintf(buf, "    ... %d more frames\n", len(frames)-i)
				break
			}
			fmt.Fprintf(buf, "    %s\n", render.Sanitize(f))
		}
	}
}

// collapseUnnamed folds runs of unnamed frames of one module
// ("[libc.so.6+0x98109]", the allocator's internals in a stripped libc)
// into one line, so the eight lines shown reach the caller.
func collapseUnnamed(frames []string) []string {
	module := func(f string) string {
		if m, _, ok := strings.Cut(f, "+0x"); ok && strings.HasPrefix(f, "[") && strings.HasSuffix(f, "]") {
			return m + "]"
		}
		return ""
	}
	var out []string
	for i := 0; i < len(frames); {
		m := module(frames[i])
		j := i + 1
		for m != "" && j < len(frames) && module(frames[j]) == m {
			j++
		}
		if j-i > 1 {
			out = append(out, fmt.Sprintf("%s ×%d", m, j-i))
		} else {
			out = append(out, frames[i])
		}
		i = j
	}
	return out
}

func (v *View) podName(uid string) string { return v.pod(uid).Name }

func procName(comm, pod, ctr string) string {
	if pod != "" {
		if len(ctr) > 12 {
			ctr = ctr[:12]
		}
		return pod + "/" + ctr + "/" + comm
	}
	return comm
}

var bars = []rune("▁▂▃▄▅▆▇█")

// liveFits returns every process's trend. The final table refits all;
// a live frame refits the processes due (see refitDivisor), stalest first,
// within fitBudget (a process never fitted always gets its first fit).
func (v *View) liveFits(final bool) map[string]trend.Result {
	var due []*proc
	for _, k := range v.order {
		if p := v.procs[k]; final || p.staleness() >= 1/float64(refitDivisor) {
			due = append(due, p)
		}
	}
	sort.SliceStable(due, func(i, j int) bool { return due[i].staleness() > due[j].staleness() })
	v.frameCost = 0
	for _, p := range due {
		n := min(len(p.pts.Points()), trend.MaxFitPoints)
		cost := n * n / 2
		if !final && p.fitAt > 0 && v.frameCost+cost > fitBudget {
			continue
		}
		v.frameCost += cost
		v.refit(p)
	}
	rate := make(map[string]trend.Result, len(v.order))
	for _, k := range v.order {
		rate[k] = v.procs[k].fit
	}
	return rate
}

// staleness is the share of p's samples its last fit did not see.
func (p *proc) staleness() float64 {
	n := p.pts.Samples()
	if n == 0 {
		return 0
	}
	return float64(n-p.fitAt) / float64(n)
}

func (v *View) refit(p *proc) {
	lim := trend.Limits{}
	if p.last.CgroupLimitBytes > 0 {
		lim = trend.Limits{Limit: float64(p.last.CgroupLimitBytes), Usage: float64(p.last.CgroupUsageBytes)}
	}
	pts := p.pts.Points()
	r := trend.Analyze(pts, lim)
	if r.Fit.N == 0 && len(pts) >= 2 { // too early for a verdict, not for a slope
		r.Slope = trend.TheilSen(pts).Slope
	}
	p.fit, p.fitAt = r, p.pts.Samples()
	v.fits++
}

// Sparkline draws the series in width cells, each the maximum of its
// samples. The scale spans at least 5% of the peak (or 256 KiB), so page
// wobble of an idle process stays flat instead of filling the range.
func Sparkline(pts []trend.Point, width int) string {
	if len(pts) == 0 || width <= 0 {
		return ""
	}
	n := min(width, len(pts))
	cells := make([]float64, n)
	for i := range cells {
		lo, hi := i*len(pts)/n, (i+1)*len(pts)/n
		m := pts[lo].V
		for _, p := range pts[lo:hi] {
			m = max(m, p.V)
		}
		cells[i] = m
	}
	lo, hi := cells[0], cells[0]
	for _, c := range cells {
		lo, hi = min(lo, c), max(hi, c)
	}
	span := max(hi-lo, 0.05*hi, 256<<10)
	base := lo
	if hi-lo < span { // centre a small range
		base = lo - (span-(hi-lo))/2
	}
	var b strings.Builder
	for _, c := range cells {
		i := int((c - base) / span * float64(len(bars)))
		b.WriteRune(bars[max(0, min(len(bars)-1, i))])
	}
	return b.String()
}
