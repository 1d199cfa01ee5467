package profileview

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/kubectl-pixie/kubectl-pixie/plugin/driver"
	"github.com/kubectl-pixie/kubectl-pixie/plugin/driver/drivertest"
	"github.com/kubectl-pixie/kubectl-pixie/plugin/render/rendertest"
)

// FuzzProfileView feeds NDJSON (seeded with a recorded run of the real
// agent) to the view in every output format: no record may crash the
// decoder or a renderer, and the terminal format, folded on a terminal and
// the messages stay safe for a terminal.
func FuzzProfileView(f *testing.F) {
	h := fmt.Sprintf("%q", rendertest.Hostile)
	rendertest.AddSeeds(f, "testdata/agent-profile.ndjson",
		`{"table":"stack_traces","pid":7,"comm":`+h+`,"stack":`+h+`,"modules":`+h+`,"lines":`+h+`,"count":18446744073709551615}`,
		`{"table":"stack_traces","stack":"a;b","modules":"m;n","lines":"f:1;:x","count":1}`,
		`{"table":"stack_traces","stack":"","count":0}`,
		`{"table":"probe_log","level":"error","msg":`+h+`,"remedy":`+h+`}`,
		`{"table":"probe_stats","probe":"profile","window_ns":-5,"lost_by":{`+h+`:1},"final":true}`,
	)
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, output := range []string{OutTerminal, OutFolded, OutSVG, OutSpeedscope, OutPprof} {
			for _, live := range []bool{false, true} {
				var out, errOut bytes.Buffer
				v := New(&errOut, Options{Output: output, Hz: 99, Window: time.Second, Nodes: 2, Live: live, TTY: live, Color: true})
				_ = drivertest.Replay(v, data, driver.Options{Out: &out, ErrOut: &errOut, TTY: live})
				rendertest.CheckSafe(t, output+" stderr", errOut.String())
				if output == OutTerminal && !live || output == OutFolded && live {
					rendertest.CheckSafe(t, output+" stdout", out.String())
				}
			}
		}
	})
}
