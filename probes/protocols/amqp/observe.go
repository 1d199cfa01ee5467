package amqp

import (
	"strconv"
	"strings"

	"github.com/kubectl-pixie/kubectl-pixie/probes/api"
	"github.com/kubectl-pixie/kubectl-pixie/probes/api/stats"
	"github.com/kubectl-pixie/kubectl-pixie/probes/api/vocab"
)

// Observe maps an amqp_events record to its endpoint: class.method, the
// exchange/routing key of methods that carry messages, and "OK" or the
// reply code of the close that answered (or is) the method, or of a
// basic.return.
func (Protocol) Observe(rec api.Record) (stats.Observation, bool) {
	ev, ok := rec.(*api.AMQPEvent)
	if !ok {
		return stats.Observation{}, false
	}
	class := "OK"
	if ev.ReplyCode != 0 {
		class = strconv.Itoa(ev.ReplyCode)
	}
	return stats.Observation{
		Protocol:  vocab.ProtocolAMQP,
		Method:    ev.Method,
		Path:      messagePath(ev),
		Class:     class,
		ReqBytes:  ev.ReqBytes,
		RespBytes: ev.RespBytes,
	}, true
}

// messagePath is exchange/routing-key for the methods that carry
// messages, bounded; other methods have none.
func messagePath(ev *api.AMQPEvent) string {
	switch ev.Method {
	case "basic.publish", "basic.deliver", "basic.return":
		p := ev.Exchange + "/" + ev.RoutingKey
		if len(p) > 120 {
			p = strings.ToValidUTF8(p[:120], "") + "…"
		}
		return p
	}
	return ""
}
