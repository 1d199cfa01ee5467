package http1

import (
	"github.com/kubectl-pixie/kubectl-pixie/probes/api"
	"github.com/kubectl-pixie/kubectl-pixie/probes/api/stats"
)

// Observe maps an http_events record to its endpoint: method, path
// (templated by the aggregator) and status.
func (Protocol) Observe(rec api.Record) (stats.Observation, bool) {
	ev, ok := rec.(*api.HTTPEvent)
	if !ok {
		return stats.Observation{}, false
	}
	return Observation(ev), true
}

// Observation is the endpoint of an HTTP exchange, of either version
// (HTTP/2 uses it for calls that are not gRPC).
func Observation(ev *api.HTTPEvent) stats.Observation {
	return stats.Observation{
		Method:    ev.ReqMethod,
		Path:      ev.ReqPath,
		Status:    ev.RespStatus,
		ReqBytes:  ev.ReqBodySize,
		RespBytes: ev.RespBodySize,
	}
}
