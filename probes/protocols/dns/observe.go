package dns

import (
	"github.com/kubectl-pixie/kubectl-pixie/probes/api"
	"github.com/kubectl-pixie/kubectl-pixie/probes/api/stats"
	"github.com/kubectl-pixie/kubectl-pixie/probes/api/vocab"
)

// Observe maps a dns_events record to its endpoint: query type and name,
// and the response code's name.
func (Protocol) Observe(rec api.Record) (stats.Observation, bool) {
	ev, ok := rec.(*api.DNSEvent)
	if !ok {
		return stats.Observation{}, false
	}
	return stats.Observation{
		Protocol:  vocab.ProtocolDNS,
		Method:    ev.QueryType,
		Path:      ev.QueryName,
		Class:     ev.RCodeName,
		ReqBytes:  ev.ReqBytes,
		RespBytes: ev.RespBytes,
	}, true
}
