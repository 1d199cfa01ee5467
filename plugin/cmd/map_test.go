package cmd

import (
	"strings"
	"testing"
	"time"

	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/kubectl-pixie/kubectl-pixie/probes/api"
)

// TestMapFlags: the map's flags are checked before any I/O, in cluster
// mode too.
func TestMapFlags(t *testing.T) {
	for _, c := range []struct {
		edit func(*MapOptions)
		err  string
	}{
		{func(o *MapOptions) { o.PIDs = []int{1} }, "add --local"},
		{func(o *MapOptions) { o.gates.FailIf = []string{"p99 > 1s && service == \"x\""} }, "service"},
		{func(o *MapOptions) { o.Output = "yaml" }, "yaml"},
		{func(o *MapOptions) { o.Local = true }, "--local needs processes"},
		{func(o *MapOptions) { o.gates.FailIf = []string{`p99 > 250ms && responder == "shop/api"`} }, ""},
		{func(o *MapOptions) { o.filters.Protocols = []string{"smtp"} }, `--protocol "smtp" is unknown`},
		{func(o *MapOptions) { o.filters.Endpoint = "(" }, "--endpoint"},
		{func(o *MapOptions) { o.filters.Status = []string{"5xx"}; o.replay = &replaying{} }, "record the map again with this version"},
		{func(o *MapOptions) { o.filters.Status = []string{"5xx"}; o.replay, o.observed = &replaying{}, true }, ""},
		{func(o *MapOptions) { o.filters.SortBy, o.filters.Top = "p99", 3; o.replay = &replaying{} }, ""},
		{func(o *MapOptions) { o.filters.Status = []string{"5xx"}; o.filters.MinLatency = time.Millisecond }, ""},
		{func(o *MapOptions) { o.filters.SortBy = "latency" }, `--sort-by "latency" is unknown: use one of req, rps, err, p50, p99, max, bytes`},
		{func(o *MapOptions) { o.filters.Top = -2 }, "--top -2 is negative"},
	} {
		o := NewMapOptions(genericiooptions.NewTestIOStreamsDiscard())
		c.edit(o)
		err := o.validateFlags()
		if c.err == "" && err != nil || c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)) {
			t.Errorf("validateFlags() = %v, want %q", err, c.err)
		}
	}
	// The agent applies the filters: they travel in its configuration.
	o := NewMapOptions(genericiooptions.NewTestIOStreamsDiscard())
	o.filters.Protocols, o.filters.Status = []string{"http"}, []string{"503"}
	if f := o.config().Filter; f == nil || f.Protocols[0] != "http" || f.Status[0] != "503" {
		t.Errorf("config().Filter = %+v, want the map's --protocol and --status", f)
	}
	if o.config().EmitEvents || o.config().EventObs {
		t.Error("a map without --record asks the agent for every request")
	}
	// --record asks for every request with its observation, no values.
	o.Record = "map.pixie.gz"
	if c := o.config(); !c.EmitEvents || !c.EventObs || c.DataAccess != api.DataAccessNone {
		t.Errorf("map --record config %+v: want every request with its observation, data access none", c)
	}
	o = NewMapOptions(genericiooptions.NewTestIOStreamsDiscard())
	if err := o.Validate(); err == nil || !strings.Contains(err.Error(), "nothing to map") {
		t.Errorf("Validate() without targets = %v", err)
	}
}

// map's flags are checked before the API server is contacted, and its
// enum flags complete in the shell as trace's do.
func TestMapFlagsBeforeIO(t *testing.T) {
	kc := unreachableKubeconfig(t)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--sort-by", "latency"}, `--sort-by "latency" is unknown`},
		{[]string{"--top", "-1"}, "--top -1 is negative"},
		{[]string{"--status", "5x x"}, `--status "5x x" is not a status`},
	} {
		_, _, err := runRoot(t, append([]string{"map", "-n", "shop", "--kubeconfig", kc}, c.args...)...)
		if err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "127.0.0.1") {
			t.Errorf("%v: %v, want %q before any I/O", c.args, err, c.want)
		}
	}
	for flag, want := range map[string]string{"sort-by": "req rps err p50 p99 max bytes", "protocol": strings.Join(api.FilterProtocols, " ")} {
		out, _, err := runRoot(t, "__complete", "map", "--"+flag, "")
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if got := strings.Join(lines[:len(lines)-1], " "); got != want {
			t.Errorf("map --%s completes %q, want %q", flag, got, want)
		}
	}
}
