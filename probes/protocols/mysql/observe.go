package mysql

import (
	"strconv"

	"github.com/kubectl-pixie/kubectl-pixie/probes/api"
	"github.com/kubectl-pixie/kubectl-pixie/probes/api/stats"
	"github.com/kubectl-pixie/kubectl-pixie/probes/api/vocab"
	"github.com/kubectl-pixie/kubectl-pixie/probes/protocols/internal/sqltext"
)

// Observe maps a mysql_events record to its endpoint: the statement kind
// and template, and "OK" or the ERR packet's code.
func (Protocol) Observe(rec api.Record) (stats.Observation, bool) {
	ev, ok := rec.(*api.MySQLEvent)
	if !ok {
		return stats.Observation{}, false
	}
	method, path := sqltext.Endpoint(ev.QueryKind, ev.QueryTemplate, ev.ReqCmd)
	class := "OK"
	if ev.RespStatus == "ERR" {
		class = strconv.Itoa(ev.ErrCode)
	}
	return stats.Observation{
		Protocol:  vocab.ProtocolMySQL,
		Method:    method,
		Path:      path,
		Class:     class,
		ReqBytes:  ev.ReqBytes,
		RespBytes: ev.RespBytes,
	}, true
}
