package kafka

import (
	"cmp"

	"github.com/kubectl-pixie/kubectl-pixie/probes/api"
	"github.com/kubectl-pixie/kubectl-pixie/probes/api/stats"
	"github.com/kubectl-pixie/kubectl-pixie/probes/api/vocab"
)

// Observe maps a kafka_events record to its endpoint: the API name and
// topic, and "OK" or the error name.
func (Protocol) Observe(rec api.Record) (stats.Observation, bool) {
	ev, ok := rec.(*api.KafkaEvent)
	if !ok {
		return stats.Observation{}, false
	}
	return stats.Observation{
		Protocol:  vocab.ProtocolKafka,
		Method:    ev.ReqCmd,
		Path:      ev.Topic,
		Class:     cmp.Or(ev.ErrorName, "OK"),
		ReqBytes:  ev.ReqBytes,
		RespBytes: ev.RespBytes,
	}, true
}
