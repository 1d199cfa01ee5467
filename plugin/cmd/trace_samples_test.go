package cmd

import (
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/kubectl-pixie/kubectl-pixie/probes/api"
)

// Bad --slow or --samples values are refused before any I/O; good ones
// reach the agent's config, and the table collects samples (not -o json,
// which passes the records through).
func TestTraceSampleFlags(t *testing.T) {
	kc := unreachableKubeconfig(t)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--slow", "-1s"}, "--slow -1s is negative: use a duration such as 250ms"},
		{[]string{"--errors", "--samples", "-1"}, "--samples -1 is out of range: use 1 to 100"},
		{[]string{"--slow", "1s", "--samples", "101"}, "--samples 101 is out of range"},
	} {
		_, _, err := runRoot(t, append([]string{"trace", "deploy/web", "--kubeconfig", kc}, c.args...)...)
		if err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "127.0.0.1") {
			t.Errorf("%v: %v, want %q before any I/O", c.args, err, c.want)
		}
	}
	for _, c := range []struct {
		args  []string
		want  *api.SampleConfig
		table bool
	}{
		{nil, nil, false},
		{[]string{"--slow", "250ms"}, &api.SampleConfig{SlowNs: int64(250 * time.Millisecond), PerEndpoint: 5}, true},
		{[]string{"--errors", "--samples", "3", "-o", "json"}, &api.SampleConfig{Errors: true, PerEndpoint: 3}, false},
	} {
		o := NewTraceOptions(testStreams())
		cmd := &cobra.Command{}
		o.AddFlags(cmd)
		if err := cmd.ParseFlags(append([]string{"--local", "--pid", "42"}, c.args...)); err != nil {
			t.Fatal(err)
		}
		if err := o.validateFlags(); err != nil {
			t.Fatalf("%v: %v", c.args, err)
		}
		got := o.config().Samples
		if (got == nil) != (c.want == nil) || got != nil && *got != *c.want {
			t.Errorf("%v: agent samples %+v, want %+v", c.args, got, c.want)
		}
		if table := o.traceSamples.table(o.Output) != nil; table != c.table {
			t.Errorf("%v: table collects samples %v, want %v", c.args, table, c.table)
		}
	}
}
