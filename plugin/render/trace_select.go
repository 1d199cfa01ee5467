package render

import (
	"cmp"
	"regexp"
	"slices"

	"github.com/kubectl-pixie/kubectl-pixie/probes/api"
	"github.com/kubectl-pixie/kubectl-pixie/probes/api/stats"
)

// SortKeys are the orders --sort-by accepts, each largest first; "req" is
// the default. "rps" orders as "req" (one window for every row).
var SortKeys = []string{"req", "rps", "err", "p50", "p99", "max", "bytes"}

// TraceSelect narrows and orders the endpoints every view shows (table,
// wide and the -o json summaries), after the agent's own filter.
type TraceSelect struct {
	Endpoint *regexp.Regexp // on the row's endpoint text (api.EndpointText); nil: all
	SortBy   string         // one of SortKeys; "": req
	Top      int            // keep the first N endpoints; 0: all
}

// apply filters, orders and cuts endpoint groups (sorted by count).
func (s TraceSelect) apply(gs []group) []group {
	if s.Endpoint != nil {
		gs = slices.DeleteFunc(gs, func(g group) bool {
			return !s.Endpoint.MatchString(api.EndpointText(g.Protocol, g.Method, g.Path))
		})
	}
	if key := sortKey(s.SortBy); key != nil {
		// Stable: ties keep the count order.
		slices.SortStableFunc(gs, func(a, b group) int { return cmp.Compare(key(&b), key(&a)) })
	}
	if s.Top > 0 && len(gs) > s.Top {
		gs = gs[:s.Top]
	}
	return gs
}

// sortKey is the value a --sort-by key orders by; nil keeps the count order.
func sortKey(by string) func(*group) float64 {
	quantile := func(q float64) func(*group) float64 {
		return func(g *group) float64 {
			if g.Latency.Count() == 0 {
				return 0
			}
			return g.Latency.Quantiles(q)[0]
		}
	}
	switch by {
	case "err":
		return func(g *group) float64 { return g.ErrorRate() }
	case "p50":
		return quantile(0.5)
	case "p99":
		return quantile(0.99)
	case "max":
		return func(g *group) float64 { return g.Latency.Max() }
	case "bytes":
		return func(g *group) float64 { return float64(g.ReqBytes + g.RespBytes) }
	}
	return nil
}

// SelectRows returns the rows (one per endpoint and status class) of the
// endpoints s keeps, endpoint by endpoint in s's order; with no selection
// the rows as they are.
func SelectRows(rows []stats.Endpoint, s TraceSelect) []stats.Endpoint {
	if s == (TraceSelect{}) {
		return rows
	}
	gs := s.apply(groupEndpoints(rows))
	rank := make(map[stats.Key]int, len(gs))
	for i, g := range gs {
		rank[g.Key] = i
	}
	var out []stats.Endpoint
	for _, r := range rows {
		k := r.Key
		k.StatusClass = ""
		if _, ok := rank[k]; ok && r.Count > 0 {
			out = append(out, r)
		}
	}
	slices.SortStableFunc(out, func(a, b stats.Endpoint) int {
		ka, kb := a.Key, b.Key
		ka.StatusClass, kb.StatusClass = "", ""
		return cmp.Compare(rank[ka], rank[kb])
	})
	return out
}

// EndpointGroups returns the endpoints s keeps, in its order, each with its
// status classes folded together (the rows the table shows).
func EndpointGroups(rows []stats.Endpoint, s TraceSelect) []stats.Endpoint {
	gs := s.apply(groupEndpoints(rows))
	out := make([]stats.Endpoint, len(gs))
	for i, g := range gs {
		out[i] = g.Endpoint
	}
	return out
}
