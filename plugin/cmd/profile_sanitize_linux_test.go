package cmd

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/kubectl-pixie/kubectl-pixie/plugin/driver"
	"github.com/kubectl-pixie/kubectl-pixie/plugin/render/rendertest"
	"github.com/kubectl-pixie/kubectl-pixie/probes/api"
)

// Frame and process names come from the node: on a terminal (a real
// pseudo-terminal here) no output format may pass them raw; to a pipe,
// folded stays what flamegraph.pl reads.
func TestProfileOnTerminalEscapesNodeStrings(t *testing.T) {
	hostileRecs := func() driver.Source {
		st := stackRec("main.main;"+rendertest.Hostile, 5)
		st.Comm = rendertest.Hostile
		return fakeAgent(
			&api.ProbeReady{Header: api.Header{Table: api.TableProbeReady}, Probe: "profile", Targets: 1},
			st,
			&api.ProbeLog{Header: api.Header{Table: api.TableProbeLog}, Level: api.LevelError, Msg: rendertest.Hostile},
			&api.ProbeStats{Header: api.Header{Table: api.TableProbeStats}, Probe: "profile", WindowNs: 1e9, EventsCaptured: 5,
				LostBy: map[string]uint64{rendertest.Hostile: 1}, Final: true},
		)
	}
	for _, output := range []string{"folded", "terminal"} {
		pts, got := rendertest.OpenPTY(t, 200, 50)
		var errOut bytes.Buffer
		o := NewProfileOptions(genericiooptions.IOStreams{Out: pts, ErrOut: &errOut})
		o.Local, o.PIDs, o.Output, o.NoStream, o.Duration = true, []int{7}, output, true, time.Second
		o.run = hostileRecs()
		if err := o.Validate(); err != nil {
			t.Fatal(err)
		}
		_ = o.Run(context.Background())
		time.Sleep(100 * time.Millisecond) // let the pty deliver
		out := got()
		rendertest.CheckSafe(t, output+" on a terminal", out)
		rendertest.CheckSafe(t, output+" stderr", errOut.String())
		if !strings.Contains(out, `^[[2J\u009b31m`) || !strings.Contains(out, `error: forged\tcol`) {
			t.Errorf("%s: the frame name is not shown escaped:\n%q", output, out)
		}
	}

	// To a pipe, folded keeps names (flamegraph.pl's input), one stack a
	// line (the lone 0x9b became U+FFFD in the JSON record).
	streams, _, out, _ := genericiooptions.NewTestIOStreams()
	o := NewProfileOptions(streams)
	o.Local, o.PIDs, o.Output, o.Duration = true, []int{7}, "folded", time.Second
	o.run = hostileRecs()
	_ = o.Run(context.Background())
	if want := "a\x1b]52:c:cHduZWQ=\x07\x1b[2J\u009b31m\ufffd\b z error: forged\tcol;main.main;a\x1b]52;c;cHduZWQ=\x07\x1b[2J\u009b31m\ufffd\b z error: forged\tcol 5\n"; out.String() != want {
		t.Errorf("folded to a pipe = %q, want %q", out.String(), want)
	}
}
