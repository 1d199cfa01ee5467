package cmd

import (
	"strings"
	"testing"
	"time"

	"k8s.io/cli-runtime/pkg/genericiooptions"
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
		{func(o *MapOptions) { o.filters.Status = []string{"5xx"}; o.replay = &replaying{} }, "cannot narrow a map's replay"},
		{func(o *MapOptions) { o.filters.Status = []string{"5xx"}; o.filters.MinLatency = time.Millisecond }, ""},
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
	o = NewMapOptions(genericiooptions.NewTestIOStreamsDiscard())
	if err := o.Validate(); err == nil || !strings.Contains(err.Error(), "nothing to map") {
		t.Errorf("Validate() without targets = %v", err)
	}
}
