package cmd

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/kubectl-pixie/kubectl-pixie/probes/api"
	"github.com/kubectl-pixie/kubectl-pixie/probes/api/stats"
)

// A bad filter flag is refused with its remedy before the API server is
// contacted; good ones reach the agent's config and the plugin's view.
func TestTraceFilterFlags(t *testing.T) {
	kc := unreachableKubeconfig(t)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--protocol", "http,smtp"}, `--protocol "smtp" is unknown: use http, grpc`},
		{[]string{"--status", "5x x"}, `--status "5x x" is not a status: use 5xx`},
		{[]string{"--endpoint", "(GET"}, `--endpoint "(GET" is not a regular expression`},
		{[]string{"--min-latency", "-5ms"}, "--min-latency -5ms is negative: use a duration"},
		{[]string{"--sort-by", "latency"}, `--sort-by "latency" is unknown: use one of req, rps, err, p50, p99, max, bytes`},
		{[]string{"--top", "-1"}, "--top -1 is negative"},
	} {
		args := append([]string{"trace", "deploy/web", "--kubeconfig", kc}, c.args...)
		_, _, err := runRoot(t, args...)
		if err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "127.0.0.1") {
			t.Errorf("%v: %v, want %q before any I/O", c.args, err, c.want)
		}
	}

	o := NewTraceOptions(testStreams())
	cmd := &cobra.Command{}
	o.AddFlags(cmd)
	if err := cmd.ParseFlags([]string{"--local", "--pid", "42", "--protocol", "HTTP,grpc", "--status", "5xx,404",
		"--endpoint", "^GET /api/", "--min-latency", "100ms", "--sort-by", "p99", "--top", "3"}); err != nil {
		t.Fatal(err)
	}
	if err := o.Validate(); err != nil {
		t.Fatal(err)
	}
	f := o.config().Filter
	if f == nil || !slices.Equal(f.Protocols, []string{"http", "grpc"}) || !slices.Equal(f.Status, []string{"5xx", "404"}) ||
		f.Endpoint != "^GET /api/" || f.MinLatencyNs != int64(100*time.Millisecond) {
		t.Errorf("agent filter %+v", f)
	}
	if s := o.selection(); s.SortBy != "p99" || s.Top != 3 || s.Endpoint == nil || !s.Endpoint.MatchString("GET /api/x") {
		t.Errorf("plugin selection %+v", s)
	}
	if NewTraceOptions(testStreams()).config().Filter != nil {
		t.Error("no filter flag should send no filter")
	}
}

// The enum flags complete their values, one list item at a time.
func TestTraceFilterCompletion(t *testing.T) {
	for _, c := range []struct {
		flag, typed string
		want        []string
	}{
		{"protocol", "", api.FilterProtocols},
		{"protocol", "http,g", []string{"http,grpc"}},
		{"protocol", "redis,", []string{"redis,http", "redis,grpc", "redis,dns", "redis,pgsql", "redis,mysql", "redis,amqp", "redis,kafka", "redis,nats", "redis,cql"}},
		{"status", "5", []string{"5xx"}},
		{"sort-by", "", []string{"req", "rps", "err", "p50", "p99", "max", "bytes"}},
	} {
		out, _, err := runRoot(t, "__complete", "trace", "--"+c.flag, c.typed)
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSpace(out), "\n")
		got := lines[:len(lines)-1] // the last line is the directive
		if !slices.Equal(got, c.want) {
			t.Errorf("--%s %q completes %q, want %q", c.flag, c.typed, got, c.want)
		}
	}
}

func testStreams() genericiooptions.IOStreams {
	s, _, _, _ := genericiooptions.NewTestIOStreams()
	return s
}

// A replay's --protocol and --status keep the summary rows of those
// protocols and status classes ("error": what ERR% counts).
func TestReplayKeepRow(t *testing.T) {
	rows := []stats.Endpoint{
		{Key: stats.Key{Method: "GET", Path: "/", StatusClass: "2xx"}},
		{Key: stats.Key{Method: "GET", Path: "/", StatusClass: "5xx"}},
		{Key: stats.Key{Method: "GET", Path: "/", StatusClass: "err"}},
		{Key: stats.Key{Protocol: "redis", Method: "GET", StatusClass: "OK"}},
		{Key: stats.Key{Protocol: "redis", Method: "GET", StatusClass: "ERR"}},
		{Key: stats.Key{Protocol: "dns", Method: "A", StatusClass: "NXDOMAIN"}},
	}
	for _, c := range []struct {
		f    traceFilters
		want string
	}{
		{traceFilters{}, "2xx 5xx err OK ERR NXDOMAIN"},
		{traceFilters{Protocols: []string{"redis"}}, "OK ERR"},
		{traceFilters{Status: []string{"error"}}, "5xx err ERR NXDOMAIN"},
		{traceFilters{Status: []string{"5xx", "nxdomain"}}, "5xx NXDOMAIN"},
		{traceFilters{Protocols: []string{"http"}, Status: []string{"error"}}, "5xx err"},
	} {
		keep := c.f.keepRow()
		var got []string
		for i := range rows {
			if keep == nil || keep(&rows[i]) {
				got = append(got, rows[i].StatusClass)
			}
		}
		if strings.Join(got, " ") != c.want {
			t.Errorf("%+v: kept %v, want %s", c.f, got, c.want)
		}
	}
}
