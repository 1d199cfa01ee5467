package cmd

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/kubectl-pixie/kubectl-pixie/plugin/render/rendertest"
)

// FuzzProfileRecords feeds NDJSON (seeded with a recorded run of the real
// agent) to `profile` in every output format: no record may crash the
// decoder or a renderer, and the terminal format and the messages stay
// safe for a terminal.
func FuzzProfileRecords(f *testing.F) {
	h := fmt.Sprintf("%q", rendertest.Hostile)
	rendertest.AddSeeds(f, "testdata/agent-profile.ndjson",
		`{"table":"stack_traces","pid":7,"comm":`+h+`,"stack":`+h+`,"modules":`+h+`,"lines":`+h+`,"count":18446744073709551615}`,
		`{"table":"stack_traces","stack":"a;b","modules":"m;n","lines":"f:1;:x","count":1}`,
		`{"table":"stack_traces","stack":"","count":0}`,
		`{"table":"probe_log","level":"error","msg":`+h+`,"remedy":`+h+`}`,
		`{"table":"probe_stats","probe":"profile","window_ns":-5,"lost_by":{`+h+`:1},"final":true}`,
	)
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, output := range []string{"terminal", "folded", "svg", "speedscope", "pprof"} {
			var out, errOut bytes.Buffer
			o := NewProfileOptions(genericiooptions.IOStreams{In: bytes.NewReader(nil), Out: &out, ErrOut: &errOut})
			o.Local, o.PIDs, o.Output, o.Duration = true, []int{7}, output, time.Second
			o.run = func(_ context.Context, emit func(string, []byte)) error {
				for l := range bytes.SplitSeq(data, []byte("\n")) {
					emit("n1", l)
				}
				return nil
			}
			_ = o.Run(context.Background())
			rendertest.CheckSafe(t, output+" stderr", errOut.String())
			if output == "terminal" {
				rendertest.CheckSafe(t, output+" stdout", out.String())
			}
		}
	})
}
