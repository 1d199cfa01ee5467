package mapview

import (
	"cmp"
	"slices"
)

// Select orders edges by a --sort-by key of trace (render.SortKeys),
// largest first, and keeps the first top (0: all). "", "req" and "rps"
// keep the order of Edges (requests; one window for every edge); the sort
// is stable, so ties keep it too. "err" is the error share, "bytes" both
// ways.
func Select(edges []Edge, sortBy string, top int) []Edge {
	if key := edgeKeyFunc(sortBy); key != nil {
		edges = slices.Clone(edges)
		slices.SortStableFunc(edges, func(a, b Edge) int { return cmp.Compare(key(&b), key(&a)) })
	}
	if top > 0 && len(edges) > top {
		edges = edges[:top]
	}
	return edges
}

// edgeKeyFunc is the value a --sort-by key orders by; nil keeps the
// order by requests.
func edgeKeyFunc(by string) func(*Edge) float64 {
	switch by {
	case "err":
		return (*Edge).ErrorRate
	case "p50":
		return func(e *Edge) float64 { return e.Quantile(0.5) }
	case "p99":
		return func(e *Edge) float64 { return e.Quantile(0.99) }
	case "max":
		return func(e *Edge) float64 {
			if e.Latency == nil || e.Latency.Count() == 0 {
				return 0
			}
			return e.Latency.Max()
		}
	case "bytes":
		return func(e *Edge) float64 { return float64(e.BytesSent + e.BytesRecv) }
	}
	return nil
}
