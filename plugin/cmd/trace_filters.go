package cmd

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/kubectl-pixie/kubectl-pixie/plugin/render"
	"github.com/kubectl-pixie/kubectl-pixie/probes/api"
	"github.com/kubectl-pixie/kubectl-pixie/probes/api/stats"
)

// traceFilters are the flags that narrow and order a trace. Protocol,
// status, latency and endpoint travel to the agent (api.TraceFilter),
// which drops other requests before aggregating them; the endpoint
// pattern, the order and the cut apply again to the rows in the plugin.
type traceFilters struct {
	Protocols  []string
	Status     []string
	Endpoint   string
	MinLatency time.Duration
	SortBy     string
	Top        int

	endpoint *regexp.Regexp
}

// addFlags registers the filters and the order of rows; rows names what
// they order ("endpoints", "edges").
func (f *traceFilters) addFlags(cmd *cobra.Command, fs *pflag.FlagSet, rows string) {
	f.addAgentFlags(cmd, fs)
	fs.StringVar(&f.SortBy, "sort-by", "", "order "+rows+" by "+strings.Join(render.SortKeys, ", ")+", largest first (default req; err is the error share)")
	fs.IntVar(&f.Top, "top", 0, "show only the first N "+rows+" in that order (0: all)")
	_ = cmd.RegisterFlagCompletionFunc("sort-by", cobra.FixedCompletions(render.SortKeys, cobra.ShellCompDirectiveNoFileComp))
}

// addAgentFlags registers the filters the agent applies to requests.
func (f *traceFilters) addAgentFlags(cmd *cobra.Command, fs *pflag.FlagSet) {
	fs.StringSliceVar(&f.Protocols, "protocol", nil, "keep only these protocols: "+strings.Join(api.FilterProtocols, ", ")+" (comma-separated or repeated)")
	fs.StringSliceVar(&f.Status, "status", nil, "keep only requests with this status: 5xx, 4xx, error (what ERR% counts), an HTTP code such as 404, or a class the STATUS column shows such as NXDOMAIN")
	fs.StringVar(&f.Endpoint, "endpoint", "", "keep only endpoints whose ENDPOINT text matches this regular expression, e.g. '^GET /api/'")
	fs.DurationVar(&f.MinLatency, "min-latency", 0, "keep only requests at least this slow, e.g. 100ms")
	_ = cmd.RegisterFlagCompletionFunc("protocol", completeList(api.FilterProtocols))
	_ = cmd.RegisterFlagCompletionFunc("status", completeList(api.FilterStatusClasses))
}

// completeList completes one item of a comma-separated list, keeping the
// items already typed and not offering them again.
func completeList(values []string) func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
	return func(_ *cobra.Command, _ []string, toComplete string) ([]string, cobra.ShellCompDirective) {
		i := strings.LastIndexByte(toComplete, ',')
		typed, last := toComplete[:i+1], toComplete[i+1:]
		done := strings.Split(typed, ",")
		var out []string
		for _, v := range values {
			if strings.HasPrefix(v, last) && !slices.Contains(done, v) {
				out = append(out, typed+v)
			}
		}
		return out, cobra.ShellCompDirectiveNoFileComp | cobra.ShellCompDirectiveNoSpace
	}
}

// validate checks the flags (no I/O) and compiles the endpoint pattern.
func (f *traceFilters) validate() error {
	for i, p := range f.Protocols {
		f.Protocols[i] = strings.ToLower(strings.TrimSpace(p))
	}
	if f.MinLatency < 0 {
		return fmt.Errorf("--min-latency %s is negative: use a duration such as 100ms", f.MinLatency)
	}
	if err := f.agent().Compile(); err != nil {
		return errors.New(f.flagError(err))
	}
	if f.Endpoint != "" {
		f.endpoint = regexp.MustCompile(f.Endpoint) // compiled above
	}
	if f.SortBy != "" && !slices.Contains(render.SortKeys, f.SortBy) {
		return fmt.Errorf("--sort-by %q is unknown: use one of %s", f.SortBy, strings.Join(render.SortKeys, ", "))
	}
	if f.Top < 0 {
		return fmt.Errorf("--top %d is negative: use a number of rows to keep, or 0 for all", f.Top)
	}
	return nil
}

// flagError names the flag of an api.TraceFilter error.
func (f *traceFilters) flagError(err error) string {
	msg := err.Error()
	for _, p := range []struct{ prefix, flag string }{
		{"protocol ", "--protocol "}, {"status ", "--status "}, {"endpoint ", "--endpoint "},
	} {
		if rest, ok := strings.CutPrefix(msg, p.prefix); ok {
			return p.flag + rest
		}
	}
	return msg
}

// agent is the part the agent applies; nil when no flag narrows.
func (f *traceFilters) agent() *api.TraceFilter {
	if len(f.Protocols) == 0 && len(f.Status) == 0 && f.Endpoint == "" && f.MinLatency == 0 {
		return nil
	}
	return &api.TraceFilter{Protocols: f.Protocols, Status: f.Status, Endpoint: f.Endpoint, MinLatencyNs: f.MinLatency.Nanoseconds()}
}

// replayable refuses, on a replay of a recording whose request records
// carry no observations (made before they did), what its rows cannot
// answer exactly: they hold each endpoint per status class with latency
// sketches. A recording with observations answers every filter (see
// refilter).
func (f *traceFilters) replayable(output string, observed bool) error {
	if observed {
		return nil
	}
	const older = "this recording's requests carry no observations (recorded by an older kubectl pixie)"
	if f.MinLatency > 0 {
		return errors.New("--min-latency cannot narrow this replay: " + older + " and its rows keep latency sketches, not requests to drop; record again, or filter its events: kubectl pixie replay FILE -o json | jq -c 'select(.latency >= 100000000)' (ns)")
	}
	if output == "json" && (len(f.Protocols) > 0 || len(f.Status) > 0) {
		return errors.New("--protocol and --status narrow this replay's tables, not its -o json events: " + older + "; filter them with jq, e.g. kubectl pixie replay FILE -o json | jq -c 'select(.table == \"http_events\")'")
	}
	for _, s := range f.Status {
		if n, err := strconv.Atoi(s); err == nil && n >= 100 && n <= 599 {
			return fmt.Errorf("--status %s cannot narrow this replay: %s and its rows keep HTTP status classes, not codes: use --status %dxx, or record again", s, older, n/100)
		}
	}
	return nil
}

// refilter is the filter a replay of a recording with observations
// applies to its requests (compiled by validate); nil when none narrows.
func (f *traceFilters) refilter() *api.TraceFilter {
	a := f.agent()
	if a != nil {
		_ = a.Compile() // checked by validate
	}
	return a
}

// keepRow is the replay's --protocol and --status on a summary row (one
// protocol and status class): the agent's tests on requests, exact on
// rows since a row holds one class.
func (f *traceFilters) keepRow() func(*stats.Endpoint) bool {
	if len(f.Protocols) == 0 && len(f.Status) == 0 {
		return nil
	}
	return func(e *stats.Endpoint) bool {
		if len(f.Protocols) > 0 && !slices.Contains(f.Protocols, api.ProtocolName(e.Protocol)) {
			return false
		}
		if len(f.Status) == 0 {
			return true
		}
		for _, s := range f.Status {
			if strings.EqualFold(s, "error") && stats.ClassIsError(e.Protocol, e.StatusClass) || strings.EqualFold(s, e.StatusClass) {
				return true
			}
		}
		return false
	}
}

// selection is the part the plugin applies to the rows.
func (f *traceFilters) selection() render.TraceSelect {
	return render.TraceSelect{Endpoint: f.endpoint, SortBy: f.SortBy, Top: f.Top}
}
