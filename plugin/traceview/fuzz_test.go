package traceview

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/kubectl-pixie/kubectl-pixie/plugin/driver"
	"github.com/kubectl-pixie/kubectl-pixie/plugin/driver/drivertest"
	"github.com/kubectl-pixie/kubectl-pixie/plugin/render"
	"github.com/kubectl-pixie/kubectl-pixie/plugin/render/rendertest"
)

// FuzzTraceView feeds NDJSON (seeded with a recorded run of the real agent)
// to the view in every output: no record may crash it, and the table and
// the messages stay safe for a terminal.
func FuzzTraceView(f *testing.F) {
	h := fmt.Sprintf("%q", rendertest.Hostile)
	rendertest.AddSeeds(f, "testdata/agent-trace.ndjson",
		`{"table":"http_stats","rows":[{"service":`+h+`,"trace_role":`+h+`,"req_method":`+h+`,"req_path":`+h+
			`,"peer":`+h+`,"status_class":`+h+`,"protocol":`+h+`,"count":1,"errors":1,"latency":null}]}`,
		`{"table":"probe_stats","probe":"trace","window_ns":-1,"lost_by":{`+h+`:1},"final":true}`,
		`{"table":"probe_log","level":"error","msg":`+h+`,"remedy":`+h+`}`,
		`{"table":`+h+`}`, "{"+h,
	)
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, output := range []string{"table", "wide", "json"} {
			var out, errOut bytes.Buffer
			now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
			clock := func() time.Time { now = now.Add(time.Second); return now }
			v := New(&errOut, Options{Output: output, Window: 10 * time.Second, NodesTotal: 2, TargetUnit: "pods",
				Palette: render.NewPalette(true), ErrPalette: render.NewPalette(true), Now: clock})
			_ = drivertest.Replay(v, data, driver.Options{Out: &out, ErrOut: &errOut, JSON: output == "json", Now: clock})
			rendertest.CheckSafe(t, output+" stderr", errOut.String())
			rendertest.CheckSafe(t, output+" errors", strings.Join(v.Errors(), "\n"))
			if output != "json" {
				rendertest.CheckSafe(t, output+" stdout", out.String())
			}
		}
	})
}
