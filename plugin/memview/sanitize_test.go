package memview

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/kubectl-pixie/kubectl-pixie/plugin/render/rendertest"
	"github.com/kubectl-pixie/kubectl-pixie/probes/api"
	"github.com/kubectl-pixie/kubectl-pixie/probes/api/vocab"
)

// hostileRecords is the agent's record stream with a hostile string in
// every field a node controls (comm, node, pod, container, verdict, reason,
// limit source, alloc source and frames, log level, message and remedy).
func hostileRecords(t *testing.T, verdict string) [][]byte {
	h := rendertest.Hostile
	var recs [][]byte
	for i := range 8 {
		recs = append(recs, line(t, api.ProcessStats{Header: api.Header{Table: api.TableProcessStats, Node: h}, Time: int64(i) * 1e9,
			PID: 42, UPID: "42:1", Comm: h, PodUID: h, ContainerID: h, RSSBytes: uint64(10<<20 + i<<20), CgroupLimitBytes: 100 << 20}))
	}
	recs = append(recs,
		line(t, api.MemorySummary{Header: api.Header{Table: api.TableMemorySummary, Node: h}, PID: 42, UPID: "42:1", Comm: h,
			PodUID: h, ContainerID: h, Verdict: verdict, Reason: h, LimitSource: h, LimitBytes: 1 << 30}),
		line(t, api.AllocStack{Header: api.Header{Table: api.TableAllocStacks, Node: h}, PID: 42, Comm: h, Source: h,
			Frames: []string{h, "[" + h + "+0x1]", "[" + h + "+0x2]"}}),
		line(t, api.ProbeLog{Header: api.Header{Table: api.TableProbeLog}, Level: h, Msg: h, Remedy: h}),
		[]byte(fmt.Sprintf(`{"table":%q}`, h)),
		[]byte("not json "+h),
	)
	return recs
}

// No string of a record reaches the terminal raw, whatever the verdict:
// one the view does not know ("bogus", a newer agent's) or none at all
// used to panic on a nil colour.
func TestHostileRecordsAreEscaped(t *testing.T) {
	for _, verdict := range []string{vocab.VerdictLeak, "bogus", "", rendertest.Hostile} {
		for i, colour := range []bool{false, true, false, true} {
			var out, errOut bytes.Buffer
			var group *GroupBy // rows of processes, then of pods on nodes (a pod the targets did not list is named by its UID)
			if i >= 2 {
				group = &GroupBy{Pod: i == 2, Node: true}
			}
			v := New(Options{ErrOut: &errOut, Color: colour, Duration: 10 * time.Second, Group: group,
				Pods: map[string]Pod{"pod": {Name: "ns/pod", Workload: "ns/pod"}}})
			sc := screen(v, &out, false)
			for _, r := range hostileRecords(t, verdict) {
				v.Line("", r)
			}
			sc.Tick()
			if err := sc.End(nil); err != nil {
				t.Fatal(err)
			}
			what := fmt.Sprintf("verdict %q colour %v group %+v", verdict, colour, group)
			rendertest.CheckSafe(t, what+" stdout", out.String())
			rendertest.CheckSafe(t, what+" stderr", errOut.String())
			if !strings.Contains(out.String(), `^[]52;c;cHduZWQ=^G`) || !strings.Contains(errOut.String(), `^[]52;c;cHduZWQ=^G`) {
				t.Errorf("%s: hostile strings are not shown escaped:\n%s\n%s", what, out.String(), errOut.String())
			}
		}
	}
}
