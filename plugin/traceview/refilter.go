package traceview

import (
	"encoding/json"
	"maps"
	"slices"

	"github.com/kubectl-pixie/kubectl-pixie/probes/api"
	"github.com/kubectl-pixie/kubectl-pixie/probes/api/stats"
)

// Refilter counts a recording's requests again under a filter the
// recorded run did not have (a replay's --min-latency, --status 503):
// each request record of a recording carries the observation the agent
// counted (api.Header.Obs), so the filter and the aggregation run as they
// would have in the agent, one aggregator per node as there. The
// recording's own stats rows are replaced by these. The trace view and
// the map view both replay through it.
type Refilter struct {
	f    *api.TraceFilter
	aggs map[string]*stats.Aggregator
}

// NewRefilter returns a Refilter for f (compiled), or nil when f is nil.
func NewRefilter(f *api.TraceFilter) *Refilter {
	if f == nil {
		return nil
	}
	return &Refilter{f: f, aggs: map[string]*stats.Aggregator{}}
}

// Event tells whether a request record passes the filter, counting it
// when it is one of the stream (samples repeat requests already counted).
// A record without an observation cannot be judged (unobserved): the
// agent drops those too when it filters.
func (r *Refilter) Event(node string, line []byte) (keep, unobserved bool) {
	var h api.Header
	if json.Unmarshal(line, &h) != nil || h.Obs == nil {
		return false, true
	}
	if !r.f.Keep(h.Obs) {
		return false, false
	}
	if h.Sample == "" {
		a := r.aggs[node]
		if a == nil {
			a = stats.NewAggregator(stats.Config{})
			r.aggs[node] = a
		}
		a.Add(*h.Obs)
	}
	return true, false
}

// Drain returns node's rows counted since the last drain.
func (r *Refilter) Drain(node string) []stats.Endpoint {
	if a := r.aggs[node]; a != nil {
		return a.Drain()
	}
	return nil
}

// Nodes are the nodes with counted requests, sorted.
func (r *Refilter) Nodes() []string { return slices.Sorted(maps.Keys(r.aggs)) }
