package nats

import (
	"github.com/kubectl-pixie/kubectl-pixie/probes/api"
	"github.com/kubectl-pixie/kubectl-pixie/probes/api/stats"
	"github.com/kubectl-pixie/kubectl-pixie/probes/api/vocab"
)

// Observe maps a nats_events record to its endpoint: the op and the
// subject template ("nats PUB orders.*"), "OK" or the kind of error that
// answered it.
func (Protocol) Observe(rec api.Record) (stats.Observation, bool) {
	ev, ok := rec.(*api.NATSEvent)
	if !ok {
		return stats.Observation{}, false
	}
	class := "OK"
	if ev.Error != "" {
		class = errorClass(ev.Error)
	}
	return stats.Observation{
		Protocol:  vocab.ProtocolNATS,
		Method:    ev.Cmd,
		Path:      ev.SubjectTemplate,
		Class:     class,
		ReqBytes:  ev.ReqBytes,
		RespBytes: ev.RespBytes,
	}, true
}
