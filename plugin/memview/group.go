package memview

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"

	"k8s.io/cli-runtime/pkg/printers"

	"github.com/kubectl-pixie/kubectl-pixie/plugin/render"
	"github.com/kubectl-pixie/kubectl-pixie/probes/api/trend"
	"github.com/kubectl-pixie/kubectl-pixie/probes/api/vocab"
)

// GroupBy is --group-by in cluster mode: a row is a workload (default) or
// a pod, per node or not.
type GroupBy struct {
	Pod, Node bool
}

// Keys is the --group-by list this stands for, as records say it.
func (g GroupBy) Keys() string {
	k := "workload"
	if g.Pod {
		k = "pod"
	}
	if g.Node {
		k += ",node"
	}
	return k
}

// Pod names a targeted pod.
type Pod struct {
	Name     string // namespace/name
	Workload string // namespace/workload; namespace/name of a bare pod
}

// TableMemoryGroupSummary is the -o json record of one --group-by row, at
// the end after the per-process records (which it adds nothing to): the
// rows' sum, and the verdict rolled up from its members' own.
const TableMemoryGroupSummary = "memory_group_summary"

// GroupSummary is one row of a grouped memory run. Its series is the sum
// of its members' (see sumSeries) and its growth that sum's; its verdict
// is the worst of its members' own verdicts, each judged on its own
// series, so a leaking replica is never averaged away by healthy ones.
type GroupSummary struct {
	Table   string `json:"table"`
	Node    string `json:"node,omitempty"` // --group-by ...,node
	GroupBy string `json:"group_by"`       // workload, pod, workload,node or pod,node
	// Service is namespace/workload, or namespace/pod by pod, as the
	// service of trace's records; a host process is "comm (pid N)".
	Service           string  `json:"service"`
	Processes         int     `json:"processes"`
	Pods              int     `json:"pods"`
	Samples           int     `json:"samples"` // points of the summed series
	WindowNs          int64   `json:"window_ns"`
	GrowthBytesPerSec float64 `json:"growth_bytes_per_sec"`
	// 95% interval of the sum's slope (Theil-Sen's).
	GrowthLowBytesPerSec  float64 `json:"growth_low_bytes_per_sec"`
	GrowthHighBytesPerSec float64 `json:"growth_high_bytes_per_sec"`
	StartRSSBytes         uint64  `json:"start_rss_bytes"`
	EndRSSBytes           uint64  `json:"end_rss_bytes"`
	PeakRSSBytes          uint64  `json:"peak_rss_bytes"`
	// Verdict is the worst member's; VerdictCount of Units (Unit: pods
	// by workload, processes by pod) have it.
	Verdict      string `json:"verdict"`
	VerdictCount int    `json:"verdict_count"`
	Units        int    `json:"units"`
	Unit         string `json:"unit"`
	// Reason says it in words: "leak: 1 of 3 pods, api-7d9-x", then the
	// culprit's own reason.
	Reason  string        `json:"reason"`
	Culprit *GroupMember  `json:"culprit,omitempty"` // the worst member (fastest grower among equals)
	Members []GroupMember `json:"members"`
}

// GroupMember is one process of a group, as its memory_summary names it.
type GroupMember struct {
	Node              string  `json:"node,omitempty"`
	UPID              string  `json:"upid"`
	PID               uint32  `json:"pid"`
	Comm              string  `json:"comm"`
	Pod               string  `json:"pod,omitempty"` // namespace/name
	Verdict           string  `json:"verdict"`
	GrowthBytesPerSec float64 `json:"growth_bytes_per_sec"`
	Reason            string  `json:"reason,omitempty"` // the culprit's only
}

// verdictRank orders verdicts from the best to the worst; one the view
// does not know (a newer agent's) ranks below them all.
func verdictRank(v string) int {
	switch v {
	case vocab.VerdictStable:
		return 1
	case vocab.VerdictNoisy:
		return 2
	case vocab.VerdictGrowing:
		return 3
	case vocab.VerdictLeak:
		return 4
	}
	return 0
}

// group is one row under construction.
type group struct {
	key, name, node string
	members         []*proc
}

// groupRow is a group with its figures (final: the agent's verdicts and
// the sum's fit; live: provisional verdicts and the members' slopes).
type groupRow struct {
	GroupSummary
	pts         []trend.Point // the summed series
	last        summed        // the members' last samples, added
	limit, oom  string        // LIMIT and OOM IN cells
	provisional bool          // a live verdict: shown with "?"
	word        string        // the verdict word to colour
	culpritName string        // the culprit as the roll-up names it
}

// summed adds the members' last samples.
type summed struct{ rss, anon, swap, faults float64 }

// memberOf names a process for its group: the unit it counts as (its pod
// by workload, itself by pod) and the name the roll-up gives it.
func (v *View) memberOf(p *proc) (unit, name string) {
	st := p.last
	if st.PodUID != "" && !v.o.Group.Pod {
		pod := v.pod(st.PodUID).Name
		_, short, _ := strings.Cut(pod, "/")
		return st.PodUID, cmp.Or(short, pod)
	}
	return p.key, fmt.Sprintf("%s %d", st.Comm, st.PID)
}

// groups gathers the processes into rows: by their pod's workload (or pod)
// and node; a process of no pod (a host process of node/NAME) is a row
// of its own.
func (v *View) groups() []*group {
	by := map[string]*group{}
	var out []*group
	for _, k := range v.order {
		p := v.procs[k]
		st := p.last
		var name string
		if st.PodUID == "" {
			name = fmt.Sprintf("%s (pid %d)", st.Comm, st.PID)
		} else if pod := v.pod(st.PodUID); v.o.Group.Pod {
			name = pod.Name
		} else {
			name = pod.Workload
		}
		key, node := name, ""
		if v.o.Group.Node {
			node = st.Node
			key += "\x00" + node
		}
		if st.PodUID == "" {
			key = "\x00host\x00" + p.key
		}
		g := by[key]
		if g == nil {
			g = &group{key: key, name: name, node: node}
			by[key] = g
			out = append(out, g)
		}
		g.members = append(g.members, p)
	}
	return out
}

// pod describes uid; a pod the targets did not list is named by its UID.
func (v *View) pod(uid string) Pod {
	if p, ok := v.o.Pods[uid]; ok {
		return p
	}
	return Pod{Name: uid, Workload: uid}
}

// groupRows computes every row: final rows from the agent's verdicts and a
// fit of the summed series, live rows from the fits so far.
func (v *View) groupRows(final bool) []groupRow {
	rate := v.liveFits(final)
	edges := v.nodeEdges()
	var rows []groupRow
	for _, g := range v.groups() {
		rows = append(rows, v.groupRow(g, final, rate, edges))
	}
	sort.SliceStable(rows, func(i, j int) bool { return rows[i].GrowthBytesPerSec > rows[j].GrowthBytesPerSec })
	return rows
}

func (v *View) groupRow(g *group, final bool, rate map[string]trend.Result, edges map[string][2]int64) groupRow {
	r := groupRow{GroupSummary: GroupSummary{Table: TableMemoryGroupSummary, Node: g.node, GroupBy: v.o.Group.Keys(),
		Service: g.name, Processes: len(g.members), Unit: "pods"}}
	if v.o.Group.Pod || g.members[0].last.PodUID == "" {
		r.Unit = "processes"
	}
	pods := map[string]bool{}
	unitWorst := map[string]int{} // unit -> its members' worst rank
	var culprit *GroupMember
	culpritRank := -1
	var minOOM float64
	fullest := -1.0
	for _, p := range g.members {
		m := GroupMember{Node: p.last.Node, UPID: p.last.UPID, PID: p.last.PID, Comm: p.last.Comm}
		if p.last.PodUID != "" {
			pods[p.last.PodUID] = true
			m.Pod = v.pod(p.last.PodUID).Name
		}
		fit := rate[p.key]
		m.Verdict, m.GrowthBytesPerSec = fit.Verdict, fit.Slope
		reason, oom := fit.Reason, fit.TimeToOOM
		if s := v.summaryFor(p); s != nil {
			m.Verdict, m.GrowthBytesPerSec, reason, oom = s.Verdict, s.GrowthBytesPerSec, s.Reason, float64(s.TimeToOOMNs)/1e9
		} else if !final {
			r.provisional = true
			if p.pts.Samples() < 5 {
				m.Verdict = "" // too early to say
			}
		}
		unit, _ := v.memberOf(p)
		rank := verdictRank(m.Verdict)
		if w, ok := unitWorst[unit]; !ok || rank > w {
			unitWorst[unit] = rank
		}
		if culprit == nil || rank > culpritRank || (rank == culpritRank && m.GrowthBytesPerSec > culprit.GrowthBytesPerSec) {
			c := m
			c.Reason = reason
			culprit, culpritRank = &c, rank
		}
		m.Reason = ""
		r.Members = append(r.Members, m)
		if oom > 0 && (minOOM == 0 || oom < minOOM) {
			minOOM = oom
		}
		if lim := p.last.CgroupLimitBytes; lim > 0 && float64(p.last.CgroupUsageBytes)/float64(lim) > fullest {
			fullest = float64(p.last.CgroupUsageBytes) / float64(lim)
			r.limit = fmt.Sprintf("%s (%.0f%%)", trend.Bytes(float64(lim)), 100*fullest)
		}
		r.last.rss += float64(p.last.RSSBytes)
		r.last.anon += float64(p.last.RSSAnonBytes)
		r.last.swap += float64(p.last.SwapBytes)
		r.last.faults += p.last.MinorFaultsPerSec + p.last.MajorFaultsPerSec
		if !final {
			r.GrowthBytesPerSec += fit.Slope // provisional: the members' slopes, no fit of the sum per frame
		}
	}
	r.Pods, r.Units = len(pods), len(unitWorst)
	if minOOM > 0 {
		r.oom = "~" + trend.Duration(minOOM)
	}
	for _, w := range unitWorst {
		if w == culpritRank {
			r.VerdictCount++
		}
	}
	r.pts = v.sumSeries(g.members, edges)
	r.Samples = len(r.pts)
	if n := len(r.pts); n > 0 {
		r.WindowNs = int64((r.pts[n-1].T - r.pts[0].T) * 1e9)
		peak := 0.0
		for _, pt := range r.pts {
			peak = max(peak, pt.V)
		}
		r.StartRSSBytes, r.EndRSSBytes, r.PeakRSSBytes = uint64(r.pts[0].V), uint64(r.pts[n-1].V), uint64(peak)
		if final && n >= 2 {
			f := trend.TheilSen(r.pts)
			r.GrowthBytesPerSec, r.GrowthLowBytesPerSec, r.GrowthHighBytesPerSec = f.Slope, f.Low, f.High
		}
	}
	r.Verdict, r.word = culprit.Verdict, culprit.Verdict
	_, r.culpritName = v.memberOf(v.procOf(culprit))
	r.Reason = rollup(culprit.Verdict, r.VerdictCount, r.Units, r.Unit, r.culpritName, r.provisional)
	if culprit.Reason != "" && (r.Units == 1 || culprit.Verdict != vocab.VerdictStable) {
		r.Reason += ": " + culprit.Reason
	}
	if r.Units > 1 {
		r.Culprit = culprit
	}
	return r
}

func (v *View) procOf(m *GroupMember) *proc { return v.procs[m.Node+"/"+m.UPID] }

// rollup is a group's verdict in words: "leak: 1 of 3 pods, api-7d9-x",
// or the bare verdict for a group of one, or one where all are stable.
func rollup(verdict string, n, total int, unit, culprit string, provisional bool) string {
	word := verdict
	if word == "" {
		word = "…"
	} else if provisional {
		word += "?"
	}
	if total <= 1 || verdict == "" || verdict == vocab.VerdictStable && n == total {
		if total > 1 {
			return fmt.Sprintf("%s (%d %s)", word, total, unit)
		}
		return word
	}
	return fmt.Sprintf("%s: %d of %d %s, %s", word, n, total, unit, culprit)
}

// nodeEdges is the first and last sample time of each node's agent: when
// it began and stopped sampling, whatever the process.
func (v *View) nodeEdges() map[string][2]int64 {
	e := map[string][2]int64{}
	for _, k := range v.order {
		p := v.procs[k]
		n, ok := e[p.last.Node]
		if !ok {
			n = [2]int64{p.first.Time, p.last.Time}
		}
		e[p.last.Node] = [2]int64{min(n[0], p.first.Time), max(n[1], p.last.Time)}
	}
	return e
}

// sumSeries adds the members' RSS into one series. Their samples are not
// taken together (each node's agent has its own clock and start, and one
// agent reads its processes one after another), so the sum is read on one
// grid: n evenly spaced times (n: the most points a member keeps, so the
// sum is as dense as its densest member), each member's value there
// interpolated linearly between its two samples around it. The grid spans
// the time every member's agent was sampling (probe pods start seconds
// apart per node): outside it a member's memory is unknown, and holding it
// flat there would bend the sum's slope. Inside, a member counts as 0
// before its first sample when its agent sampled without it (it started
// later) and after its last when it exited; within 1.5 intervals of its
// agent's first or last sample it is held at that sample (jitter of the
// agent's reads). Agents that never sampled together: the grid spans them
// all, each member held at its edges.
func (v *View) sumSeries(members []*proc, edges map[string][2]int64) []trend.Point {
	type span struct {
		pts        []trend.Point // seconds since t0
		hold       [2]bool       // count the edge value before / after
		start, end float64
	}
	t0, t1 := members[0].first.Time, members[0].last.Time
	common := edges[members[0].last.Node]
	n := 0
	for _, p := range members {
		t0, t1 = min(t0, p.first.Time), max(t1, p.last.Time)
		e := edges[p.last.Node]
		common = [2]int64{max(common[0], e[0]), min(common[1], e[1])}
		n = max(n, len(p.pts.Points()))
	}
	spans := make([]span, 0, len(members))
	for _, p := range members {
		pts := p.pts.Points()
		if len(pts) == 0 {
			continue
		}
		off := float64(p.first.Time-t0) / 1e9
		s := span{pts: make([]trend.Point, len(pts))}
		for i, pt := range pts {
			s.pts[i] = trend.Point{T: off + pt.T, V: pt.V}
		}
		s.start, s.end = s.pts[0].T, s.pts[len(s.pts)-1].T
		slack := int64(1.5 * float64(v.interval(p)))
		e := edges[p.last.Node]
		s.hold = [2]bool{p.first.Time-e[0] <= slack, e[1]-p.last.Time <= slack}
		spans = append(spans, s)
	}
	if n == 0 {
		return nil
	}
	from, to := 0.0, float64(t1-t0)/1e9
	if common[1] > common[0] {
		from, to = float64(common[0]-t0)/1e9, float64(common[1]-t0)/1e9
	}
	if to <= from {
		n = 1
	}
	out := make([]trend.Point, n)
	for i := range out {
		t := from
		if n > 1 {
			t += (to - from) * float64(i) / float64(n-1)
		}
		sum := 0.0
		for _, s := range spans {
			switch {
			case t < s.start:
				if s.hold[0] {
					sum += s.pts[0].V
				}
			case t > s.end:
				if s.hold[1] {
					sum += s.pts[len(s.pts)-1].V
				}
			default:
				sum += interpolate(s.pts, t)
			}
		}
		out[i] = trend.Point{T: t - from, V: sum}
	}
	return out
}

// interpolate reads pts (sorted by T, t within their span) at t.
func interpolate(pts []trend.Point, t float64) float64 {
	j, _ := slices.BinarySearchFunc(pts, t, func(p trend.Point, t float64) int { return cmp.Compare(p.T, t) })
	if j >= len(pts) {
		return pts[len(pts)-1].V
	}
	if j == 0 || pts[j].T == t {
		return pts[j].V
	}
	a, b := pts[j-1], pts[j]
	return a.V + (b.V-a.V)*(t-a.T)/(b.T-a.T)
}

// interval is the sampling interval: the run's, or p's own mean spacing.
func (v *View) interval(p *proc) int64 {
	if v.o.Interval > 0 {
		return int64(v.o.Interval)
	}
	if n := p.pts.Samples(); n > 1 {
		return (p.last.Time - p.first.Time) / int64(n-1)
	}
	return 0
}

// Grouped reports whether rows are groups of processes (--group-by).
func (v *View) Grouped() bool { return v.o.Group != nil }

// groupName is a row's name in the verdict lines: with its node when
// grouped by node.
func groupName(service, node string) string {
	if node == "" {
		return service
	}
	return service + " on " + node
}

// groupTable renders one row per group: the sum of its members' memory,
// its trend, and the verdict rolled up from theirs.
func (v *View) groupTable(final bool) string {
	var buf bytes.Buffer
	tw := printers.GetNewTabWriter(&buf)
	name, count := "WORKLOAD", "PODS"
	if v.o.Group.Pod {
		name, count = "POD", "PROCS"
	}
	cols := []string{name, count, "RSS", "ANON", "SWAP", "TREND", "RATE", "FAULTS/s", "LIMIT", "OOM IN", "VERDICT"}
	if v.o.Group.Node {
		cols = append([]string{"NODE"}, cols...)
	}
	fmt.Fprintln(tw, strings.Join(cols, "\t"))
	for _, r := range v.groupRows(final) {
		n := r.Units
		if v.o.Group.Pod {
			n = r.Processes
		}
		rateS := "±0"
		if len(r.pts) >= 2 && r.GrowthBytesPerSec != 0 {
			rateS = trend.Rate(r.GrowthBytesPerSec)
		}
		row := []string{
			render.Sanitize(r.Service),
			fmt.Sprint(n),
			trend.Bytes(r.last.rss),
			trend.Bytes(r.last.anon),
			trend.Bytes(r.last.swap),
			Sparkline(r.pts, v.o.SparkWidth),
			rateS,
			fmt.Sprintf("%.0f", r.last.faults),
			cmp.Or(r.limit, "-"),
			cmp.Or(r.oom, "-"),
			v.paint(r.word, rollup(r.Verdict, r.VerdictCount, r.Units, r.Unit, r.culpritName, r.provisional)), // last column: colour cannot skew the tabwriter
		}
		if v.o.Group.Node {
			row = append([]string{render.Sanitize(r.Node)}, row...)
		}
		fmt.Fprintln(tw, strings.Join(row, "\t"))
	}
	_ = tw.Flush()
	return buf.String()
}

// writeGroups ends -o json: one memory_group_summary per row, after the
// per-process records.
func (v *View) writeGroups(out io.Writer, srcErr error) error {
	if v.o.Group == nil {
		return srcErr
	}
	enc := json.NewEncoder(out)
	for _, r := range v.groupRows(true) {
		if err := enc.Encode(r.GroupSummary); err != nil {
			return errors.Join(srcErr, err)
		}
	}
	return srcErr
}
