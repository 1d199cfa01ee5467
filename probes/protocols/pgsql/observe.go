package pgsql

import (
	"cmp"

	"github.com/kubectl-pixie/kubectl-pixie/probes/api"
	"github.com/kubectl-pixie/kubectl-pixie/probes/api/stats"
	"github.com/kubectl-pixie/kubectl-pixie/probes/api/vocab"
	"github.com/kubectl-pixie/kubectl-pixie/probes/protocols/internal/sqltext"
)

// Observe maps a pgsql_events record to its endpoint: the statement kind
// and template, and "OK" or the SQLSTATE.
func (Protocol) Observe(rec api.Record) (stats.Observation, bool) {
	ev, ok := rec.(*api.PgSQLEvent)
	if !ok {
		return stats.Observation{}, false
	}
	method, path := sqltext.Endpoint(ev.QueryKind, ev.QueryTemplate, ev.ReqCmd)
	return stats.Observation{
		Protocol:  vocab.ProtocolPgSQL,
		Method:    method,
		Path:      path,
		Class:     cmp.Or(ev.SQLState, "OK"),
		ReqBytes:  ev.ReqBytes,
		RespBytes: ev.RespBytes,
	}, true
}
