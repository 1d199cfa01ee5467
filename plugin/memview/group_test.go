package memview

import (
	"bytes"
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/kubectl-pixie/kubectl-pixie/probes/api"
	"github.com/kubectl-pixie/kubectl-pixie/probes/api/trend"
	"github.com/kubectl-pixie/kubectl-pixie/probes/api/vocab"
)

// member is one process of a test: samples every second from start (s),
// n of them, RSS base + rate*t, and the agent's verdict at the end.
type member struct {
	node, pod, upid, comm string
	pid                   uint32
	start                 float64
	n                     int
	base, rate            float64
	verdict               string
}

func (m member) feed(t *testing.T, v *View) {
	t.Helper()
	for i := 0; i < m.n; i++ {
		tt := m.start + float64(i)
		st := api.ProcessStats{Header: api.Header{Table: api.TableProcessStats}, Time: int64(tt * 1e9), PID: m.pid, UPID: m.upid, Comm: m.comm,
			RSSBytes: uint64(m.base + m.rate*tt), PodUID: m.pod}
		v.Line(m.node, line(t, st))
	}
	if m.verdict != "" {
		s := api.MemorySummary{Header: api.Header{Table: api.TableMemorySummary}, PID: m.pid, UPID: m.upid, Comm: m.comm, PodUID: m.pod,
			Verdict: m.verdict, Reason: m.verdict + " of " + m.upid, GrowthBytesPerSec: m.rate}
		v.Line(m.node, line(t, s))
	}
}

var shopPods = map[string]Pod{
	"a": {Name: "shop/api-7d9-a", Workload: "shop/api"},
	"b": {Name: "shop/api-7d9-b", Workload: "shop/api"},
	"c": {Name: "shop/api-7d9-c", Workload: "shop/api"},
	"d": {Name: "shop/db-0", Workload: "shop/db"},
}

// shop: three replicas of api on two nodes, the second leaking 1 MiB/s
// among two stable ones, and a stable db.
func shop() []member {
	return []member{
		{node: "n1", pod: "a", upid: "1:1", comm: "api", pid: 1, n: 20, base: 100 << 20, verdict: vocab.VerdictStable},
		{node: "n2", pod: "b", upid: "1:1", comm: "api", pid: 1, start: 0.5, n: 20, base: 100 << 20, rate: 1 << 20, verdict: vocab.VerdictLeak},
		{node: "n2", pod: "c", upid: "2:1", comm: "api", pid: 2, start: 0.5, n: 20, base: 90 << 20, verdict: vocab.VerdictStable},
		{node: "n1", pod: "d", upid: "3:1", comm: "postgres", pid: 3, n: 20, base: 50 << 20, verdict: vocab.VerdictStable},
	}
}

func grouped(t *testing.T, by GroupBy, json bool, ms []member) *View {
	t.Helper()
	v := New(Options{ErrOut: &bytes.Buffer{}, Duration: 20 * time.Second, Pods: shopPods, Group: &by, JSON: json})
	for _, m := range ms {
		m.feed(t, v)
	}
	return v
}

func final(t *testing.T, v *View) string {
	t.Helper()
	var out bytes.Buffer
	out.Write(v.Frame(true))
	if err := v.Finish(&out, nil); err != nil {
		t.Fatal(err)
	}
	return out.String()
}

// By workload, a leaking replica among stable ones makes its workload's
// row a leak naming it and the count; the row's rate is its sum's.
func TestGroupByWorkloadNamesTheLeakingPod(t *testing.T) {
	out := final(t, grouped(t, GroupBy{}, false, shop()))
	for _, want := range []string{
		"WORKLOAD   PODS",
		"leak: 1 of 3 pods, api-7d9-b\n",
		"shop/api: leak: 1 of 3 pods, api-7d9-b: leak of 1:1\n",
		"shop/db: stable: stable of 3:1\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("no %q in:\n%s", want, out)
		}
	}
	rows := strings.Split(out, "\n")
	if !strings.HasPrefix(rows[1], "shop/api ") || !strings.Contains(rows[1], " 3 ") || !strings.Contains(rows[1], "+1.0 MiB/s") {
		t.Errorf("first row (fastest grower) %q: want shop/api, 3 pods, +1.0 MiB/s", rows[1])
	}
	if !strings.HasPrefix(rows[2], "shop/db ") || !strings.HasSuffix(rows[2], "stable") {
		t.Errorf("second row %q", rows[2])
	}
}

// -o json passes every record and adds one memory_group_summary per row
// at the end: the sum's growth and RSS, the roll-up, the members.
func TestGroupSummaryRecords(t *testing.T) {
	v := grouped(t, GroupBy{}, true, shop())
	if v.Frame(false) != nil || v.Frame(true) != nil {
		t.Error("-o json shows frames")
	}
	var out bytes.Buffer
	if err := v.Finish(&out, nil); err != nil {
		t.Fatal(err)
	}
	recs := map[string]GroupSummary{}
	for _, l := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		var g GroupSummary
		if err := json.Unmarshal([]byte(l), &g); err != nil || g.Table != TableMemoryGroupSummary {
			t.Fatalf("not a group record: %q (%v)", l, err)
		}
		recs[g.Service] = g
	}
	api := recs["shop/api"]
	if len(recs) != 2 || api.Verdict != vocab.VerdictLeak || api.VerdictCount != 1 || api.Units != 3 || api.Unit != "pods" ||
		api.Pods != 3 || api.Processes != 3 || len(api.Members) != 3 || api.GroupBy != "workload" {
		t.Fatalf("shop/api record %+v", api)
	}
	if c := api.Culprit; c == nil || c.Pod != "shop/api-7d9-b" || c.Node != "n2" || c.Verdict != vocab.VerdictLeak || c.Reason != "leak of 1:1" {
		t.Errorf("culprit %+v", api.Culprit)
	}
	if api.Reason != "leak: 1 of 3 pods, api-7d9-b: leak of 1:1" {
		t.Errorf("reason %q", api.Reason)
	}
	// the sum grows by the leaking member's 1 MiB/s exactly (straight lines)
	if math.Abs(api.GrowthBytesPerSec-(1<<20)) > 1 || api.GrowthLowBytesPerSec > api.GrowthBytesPerSec || api.GrowthHighBytesPerSec < api.GrowthBytesPerSec {
		t.Errorf("shop/api grows %.0f B/s [%.0f, %.0f], want 1 MiB/s", api.GrowthBytesPerSec, api.GrowthLowBytesPerSec, api.GrowthHighBytesPerSec)
	}
	if db := recs["shop/db"]; db.Verdict != vocab.VerdictStable || db.Units != 1 || db.Culprit != nil || db.StartRSSBytes != 50<<20 || db.EndRSSBytes != 50<<20 {
		t.Errorf("shop/db record %+v", db)
	}
}

// By pod, each pod's row carries its own verdict, as per process; a pod
// with a leaking process among others counts processes.
func TestGroupByPod(t *testing.T) {
	ms := append(shop(), member{node: "n2", pod: "b", upid: "9:1", comm: "sidecar", pid: 9, start: 0.5, n: 20, base: 10 << 20, verdict: vocab.VerdictStable})
	out := final(t, grouped(t, GroupBy{Pod: true}, false, ms))
	for _, want := range []string{
		"POD              PROCS",
		"shop/api-7d9-b: leak: 1 of 2 processes, api 1: leak of 1:1\n",
		"shop/api-7d9-a: stable: stable of 1:1\n",
		"shop/api-7d9-c: stable: stable of 2:1\n",
		"shop/db-0: stable: stable of 3:1\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("no %q in:\n%s", want, out)
		}
	}
}

// workload,node: a row per workload on each node, in a NODE column; the
// leak is on n2's row only.
func TestGroupByWorkloadAndNode(t *testing.T) {
	out := final(t, grouped(t, GroupBy{Node: true}, false, shop()))
	for _, want := range []string{
		"NODE   WORKLOAD",
		"shop/api on n2: leak: 1 of 2 pods, api-7d9-b: leak of 1:1\n",
		"shop/api on n1: stable: stable of 1:1\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("no %q in:\n%s", want, out)
		}
	}
}

// Live rows: provisional verdicts, marked with "?", from the fits so far.
func TestGroupLiveVerdictIsProvisional(t *testing.T) {
	ms := shop()
	for i := range ms {
		ms[i].verdict = ""
	}
	f := string(grouped(t, GroupBy{}, false, ms).Frame(false))
	if !strings.Contains(f, "leak?: 1 of 3 pods, api-7d9-b") {
		t.Errorf("live frame:\n%s", f)
	}
}

// The sum is read on one grid where every member's agent sampled:
// members sampled half a second apart are interpolated; a member whose
// agent started later bounds the grid (its memory before is unknown); one
// that started while its agent sampled counts from zero, one that exited
// while it sampled goes to zero.
func TestSumSeriesAlignment(t *testing.T) {
	pts := func(ms ...member) []trend.Point {
		v := grouped(t, GroupBy{}, false, ms)
		g := v.groups()
		if len(g) != 1 {
			t.Fatalf("%d groups", len(g))
		}
		return v.sumSeries(g[0].members, v.nodeEdges())
	}
	at := func(p []trend.Point, tt float64) float64 {
		for _, x := range p {
			if math.Abs(x.T-tt) < 1e-9 {
				return x.V
			}
		}
		t.Fatalf("no point at %v in %v", tt, p)
		return 0
	}
	const mib = 1 << 20
	// two straight lines sampled out of step: the sum is exact at every point
	p := pts(member{node: "n1", pod: "a", upid: "1:1", n: 11, base: 100 * mib, rate: mib},
		member{node: "n2", pod: "b", upid: "1:1", start: 0.5, n: 11, base: 50 * mib, rate: 2 * mib})
	if len(p) != 11 || p[0].T != 0 || math.Abs(p[10].T-9.5) > 1e-9 {
		t.Fatalf("%d points over [%v, %v], want 11 over the 9.5 s both agents sampled", len(p), p[0].T, p[len(p)-1].T)
	}
	for _, x := range p {
		if want := 150*mib + 3*mib*(x.T+0.5); math.Abs(x.V-want) > 1 {
			t.Errorf("sum at %.2f s = %.0f, want %.0f", x.T, x.V, want)
		}
	}
	// n2's agent began 3 s late with b leaking: the sum is read from 3 s
	// and grows at b's rate exactly (holding b flat before would bend it)
	p = pts(member{node: "n1", pod: "a", upid: "1:1", n: 11, base: 100 * mib},
		member{node: "n2", pod: "b", upid: "1:1", start: 3, n: 8, base: 50 * mib, rate: mib})
	if v0, v7 := at(p, 0), at(p, 7); v0 != 153*mib || v7 != 160*mib {
		t.Errorf("late agent: sum %v MiB at its start and %v at the end, want 153 and 160", v0/mib, v7/mib)
	}
	if f := trend.TheilSen(p); math.Abs(f.Slope-mib) > 1 {
		t.Errorf("late agent: the sum grows %.0f B/s, want b's %d", f.Slope, mib)
	}
	// on n1 itself: c started at 3 s, b exited at 7 s, while a was sampled
	p = pts(member{node: "n1", pod: "a", upid: "1:1", n: 11, base: 100 * mib},
		member{node: "n1", pod: "c", upid: "2:1", start: 3, n: 8, base: 50 * mib},
		member{node: "n1", pod: "b", upid: "3:1", n: 8, base: 10 * mib})
	if v0, v5, v10 := at(p, 0), at(p, 5), at(p, 10); v0 != 110*mib || v5 != 160*mib || v10 != 150*mib {
		t.Errorf("start and exit: sum %v, %v, %v MiB at 0, 5, 10 s; want 110, 160, 150", v0/mib, v5/mib, v10/mib)
	}
}

func TestInterpolate(t *testing.T) {
	p := []trend.Point{{T: 0, V: 0}, {T: 1, V: 10}, {T: 3, V: 30}}
	for tt, want := range map[float64]float64{0: 0, 0.5: 5, 1: 10, 2: 20, 3: 30} {
		if got := interpolate(p, tt); got != want {
			t.Errorf("at %v: %v, want %v", tt, got, want)
		}
	}
}

// A host process (node/NAME targets it with the pods) is a row of its own.
func TestGroupHostProcessIsItsOwnRow(t *testing.T) {
	ms := append(shop(), member{node: "n1", upid: "77:1", comm: "kubelet", pid: 77, n: 20, base: 80 << 20, verdict: vocab.VerdictStable})
	out := final(t, grouped(t, GroupBy{}, false, ms))
	if !strings.Contains(out, "kubelet (pid 77): stable: stable of 77:1\n") {
		t.Errorf("no host process row:\n%s", out)
	}
}
