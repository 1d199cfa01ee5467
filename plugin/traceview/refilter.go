package traceview

import (
	"encoding/json"

	"github.com/kubectl-pixie/kubectl-pixie/probes/api"
	"github.com/kubectl-pixie/kubectl-pixie/probes/api/stats"
)

// refilter counts a recording's requests again under a filter the
// recorded run did not have (a replay's --min-latency, --status 503):
// each request record of a recording carries the observation the agent
// counted (api.Header.Obs), so the filter and the aggregation run as they
// would have in the agent, one aggregator per node as there. The
// recording's own stats rows are replaced by these.
type refilter struct {
	f    *api.TraceFilter
	aggs map[string]*stats.Aggregator
}

func newRefilter(f *api.TraceFilter) *refilter {
	if f == nil {
		return nil
	}
	return &refilter{f: f, aggs: map[string]*stats.Aggregator{}}
}

// event tells whether a request record passes the filter, counting it
// when it is one of the stream (samples repeat requests already counted).
// A record without an observation cannot be judged (unobserved): the
// agent drops those too when it filters.
func (r *refilter) event(node string, line []byte) (keep, unobserved bool) {
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

// drain returns node's rows counted since the last drain.
func (r *refilter) drain(node string) []stats.Endpoint {
	if a := r.aggs[node]; a != nil {
		return a.Drain()
	}
	return nil
}
