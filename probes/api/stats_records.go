package api

import "github.com/kubectl-pixie/kubectl-pixie/probes/api/stats"

// HTTPStats is one interval's delta of aggregated endpoints (table
// http_stats). The agent drains a stats.Aggregator every interval_ns and
// sends only the endpoints that saw requests; the plugin merges the rows
// of all nodes with stats.Aggregator.Merge.
type HTTPStats struct {
	Header
	Time       int64            `json:"time_"`       // end of the interval, ns since the Unix epoch
	IntervalNs int64            `json:"interval_ns"` // length of the interval
	Rows       []stats.Endpoint `json:"rows"`
}

// HTTPSummary is one endpoint's totals over the whole window (table
// http_summary), sent once per endpoint at the end. Latencies are in ns.
type HTTPSummary struct {
	Header
	Time        int64   `json:"time_"`     // end of the window, ns since the Unix epoch
	WindowNs    int64   `json:"window_ns"` // the rate's denominator
	Service     string  `json:"service"`
	TraceRole   string  `json:"trace_role"`
	ReqMethod   string  `json:"req_method"`
	ReqPath     string  `json:"req_path"` // template
	Peer        string  `json:"peer,omitempty"`
	StatusClass string  `json:"status_class"` // 1xx..5xx, or "err" for no response
	Count       uint64  `json:"count"`
	Errors      uint64  `json:"errors"`
	ReqPerSec   float64 `json:"req_per_s"`
	ErrorPct    float64 `json:"error_pct"`
	LatencyP50  int64   `json:"latency_p50"`
	LatencyP90  int64   `json:"latency_p90"`
	LatencyP99  int64   `json:"latency_p99"`
	LatencyMax  int64   `json:"latency_max"`
	ReqBytes    uint64  `json:"req_bytes"`
	RespBytes   uint64  `json:"resp_bytes"`
	Folded      bool    `json:"folded,omitempty"`
	// Protocol is empty for HTTP, else "redis" or "dns" (see stats.Key).
	Protocol string `json:"protocol,omitempty"`
}

// NewHTTPSummary summarises an endpoint over a window of windowNs
// (req/s is 0 when windowNs <= 0). The sketch's relative error
// (stats.DefaultRelativeAccuracy) applies to the percentiles.
func NewHTTPSummary(e stats.Endpoint, timeNs, windowNs int64) HTTPSummary {
	s := HTTPSummary{
		Header:      Header{Table: TableHTTPSummary, V: Version, Node: e.Node},
		Time:        timeNs,
		WindowNs:    windowNs,
		Service:     e.Service,
		TraceRole:   e.Role,
		ReqMethod:   e.Method,
		ReqPath:     e.Path,
		Peer:        e.Peer,
		StatusClass: e.StatusClass,
		Count:       e.Count,
		Errors:      e.Errors,
		ErrorPct:    100 * e.ErrorRate(),
		ReqBytes:    e.ReqBytes,
		RespBytes:   e.RespBytes,
		Folded:      e.Folded,
		Protocol:    e.Protocol,
	}
	if windowNs > 0 {
		s.ReqPerSec = float64(e.Count) / (float64(windowNs) / 1e9)
	}
	if e.Latency != nil && e.Latency.Count() > 0 {
		q := e.Latency.Quantiles(0.5, 0.9, 0.99)
		s.LatencyP50, s.LatencyP90, s.LatencyP99 = int64(q[0]), int64(q[1]), int64(q[2])
		s.LatencyMax = int64(e.Latency.Max())
	}
	return s
}
