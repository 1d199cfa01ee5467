package memview

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/kubectl-pixie/kubectl-pixie/plugin/driver"
	"github.com/kubectl-pixie/kubectl-pixie/plugin/driver/drivertest"
	"github.com/kubectl-pixie/kubectl-pixie/plugin/render/rendertest"
)

// FuzzMemView feeds NDJSON (seeded with recorded runs of the real agent,
// with and without --alloc) to the view: no record may crash it (an
// unknown verdict did), and what it prints stays safe for a terminal.
func FuzzMemView(f *testing.F) {
	h := fmt.Sprintf("%q", rendertest.Hostile)
	rendertest.AddSeeds(f, "testdata/agent-memory.ndjson",
		`{"table":"memory_summary","pid":1,"upid":"1:1","comm":`+h+`,"verdict":"bogus","reason":`+h+`,"limit_source":`+h+`,"limit_bytes":1}`,
		`{"table":"memory_summary","pid":1,"verdict":""}`,
		`{"table":"process_stats","time_":-9223372036854775808,"pid":1,"upid":"1:1","rss_bytes":18446744073709551615,"cgroup_limit_bytes":1,"cgroup_usage_bytes":18446744073709551615}`,
		`{"table":"alloc_stacks","comm":`+h+`,"source":`+h+`,"frames":[`+h+`,"[m+0x1]","[m+0x2]"]}`,
		`{"table":"probe_log","level":`+h+`,"msg":`+h+`,"remedy":`+h+`}`,
	)
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, json := range []bool{false, true} {
			var out, errOut bytes.Buffer
			v := New(Options{ErrOut: &errOut, Color: true, Duration: 10 * time.Second, Pods: map[string]Pod{"uid": {Name: "ns/pod", Workload: "ns/pod"}}})
			_ = drivertest.Replay(v, data, driver.Options{Out: &out, ErrOut: &errOut, JSON: json})
			rendertest.CheckSafe(t, "stderr", errOut.String())
			if !json {
				rendertest.CheckSafe(t, "stdout", out.String())
			}
		}
	})
}
