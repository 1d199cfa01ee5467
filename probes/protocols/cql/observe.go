package cql

import (
	"github.com/kubectl-pixie/kubectl-pixie/probes/api"
	"github.com/kubectl-pixie/kubectl-pixie/probes/api/stats"
	"github.com/kubectl-pixie/kubectl-pixie/probes/api/vocab"
	"github.com/kubectl-pixie/kubectl-pixie/probes/protocols/internal/sqltext"
)

// Observe maps a cql_events record to its endpoint: the statement's kind
// and template ("cql SELECT name FROM ks.items WHERE id = ?"), or the
// request's op; "OK" or the error's name.
func (Protocol) Observe(rec api.Record) (stats.Observation, bool) {
	ev, ok := rec.(*api.CQLEvent)
	if !ok {
		return stats.Observation{}, false
	}
	method, path := sqltext.Endpoint(ev.QueryKind, ev.QueryTemplate, ev.ReqOp)
	if ev.ReqOp == "" { // an EVENT the server pushed
		method = ev.RespOp
	}
	class := "OK"
	if ev.ErrorName != "" {
		class = ev.ErrorName
	}
	return stats.Observation{
		Protocol:  vocab.ProtocolCQL,
		Method:    method,
		Path:      path,
		Class:     class,
		ReqBytes:  ev.ReqBytes,
		RespBytes: ev.RespBytes,
	}, true
}
