package http2

import (
	"fmt"

	"github.com/kubectl-pixie/kubectl-pixie/probes/api"
	"github.com/kubectl-pixie/kubectl-pixie/probes/api/stats"
	"github.com/kubectl-pixie/kubectl-pixie/probes/api/vocab"
	"github.com/kubectl-pixie/kubectl-pixie/probes/protocols/http1"
)

// Observe maps an HTTP/2 stream to its endpoint: a gRPC call's endpoint
// is its method and its class the grpc-status; other streams are HTTP's.
func (Protocol) Observe(rec api.Record) (stats.Observation, bool) {
	ev, ok := rec.(*api.HTTPEvent)
	if !ok {
		return stats.Observation{}, false
	}
	if ev.Protocol != vocab.ProtocolGRPC {
		return http1.Observation(ev), true
	}
	return stats.Observation{
		Protocol:  vocab.ProtocolGRPC,
		Method:    ev.ReqPath,
		Class:     grpcClass(ev),
		ReqBytes:  ev.ReqBodySize,
		RespBytes: ev.RespBodySize,
	}, true
}

// grpcClass is a gRPC call's status class: its grpc-status name, else
// the HTTP status that replaced it ("http 502", from a proxy), else "err".
func grpcClass(ev *api.HTTPEvent) string {
	if name := GRPCStatusName(ev.GRPCStatus); name != "" {
		return name
	}
	if ev.RespStatus != 0 && ev.RespStatus != 200 {
		return fmt.Sprintf("http %d", ev.RespStatus)
	}
	return stats.StatusErr
}
