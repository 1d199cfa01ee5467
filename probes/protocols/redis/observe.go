package redis

import (
	"cmp"

	"github.com/kubectl-pixie/kubectl-pixie/probes/api"
	"github.com/kubectl-pixie/kubectl-pixie/probes/api/stats"
	"github.com/kubectl-pixie/kubectl-pixie/probes/api/vocab"
)

// Observe maps a redis_events record to its endpoint: the command, and
// "OK" or the reply's error prefix.
func (Protocol) Observe(rec api.Record) (stats.Observation, bool) {
	ev, ok := rec.(*api.RedisEvent)
	if !ok {
		return stats.Observation{}, false
	}
	return stats.Observation{
		Protocol:  vocab.ProtocolRedis,
		Method:    ev.ReqCmd,
		Class:     cmp.Or(ev.RespError, "OK"),
		ReqBytes:  ev.ReqBytes,
		RespBytes: ev.RespBytes,
	}, true
}
