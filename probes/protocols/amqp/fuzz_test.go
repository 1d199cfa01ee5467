package amqp

import (
	"strings"
	"testing"

	"github.com/kubectl-pixie/kubectl-pixie/probes/conn"
)

func joined(client bool) []byte {
	var b strings.Builder
	for _, m := range session {
		if m.client == client {
			b.WriteString(m.data)
		}
	}
	return []byte(b.String())
}

// FuzzParser cuts a client stream and a server stream into calls chosen
// by seed and feeds them through the Tracker. flags: bit 0 client (else
// server), bit 1 seen from the open, bit 2 lose bytes, bit 3 truncate
// captures. The parser must not panic, must emit no more records than
// method frames sent, never a negative latency, never credentials, and
// keep names bounded.
func FuzzParser(f *testing.F) {
	f.Add(joined(true), joined(false), uint64(1), uint8(3))
	f.Add(joined(true), joined(false), uint64(7), uint8(0xf))
	f.Add([]byte(queueDeclare(1, "a", false)+queueDeclare(2, "b", true)), []byte(queueDeclareOk(2, "b")+queueDeclareOk(1, "a")), uint64(3), uint8(1))
	f.Add([]byte(getReq(1, "q")), []byte(getOk(1, "e", "k")+contentHeader(1, 9)+body(1, "123456789")), uint64(5), uint8(7))
	f.Fuzz(func(t *testing.T, client, server []byte, seed uint64, flags uint8) {
		h := newHarness(t, conn.Options{BodyLimit: 64, MaxBufferedBytes: 256})
		h.FuzzConn(client, server, seed, flags)
		// Every record is a method frame: at least 12 bytes of input.
		if n := (len(client) + len(server)) / 12; len(h.Recs) > n {
			t.Fatalf("%d records from %d bytes", len(h.Recs), len(client)+len(server))
		}
		for _, r := range h.Recs {
			if r.Latency < 0 || r.BodySize < 0 {
				t.Fatalf("negative latency or size %+v", r)
			}
			if len(r.Exchange) > 4*255 || len(r.RoutingKey) > 4*255 || len(r.QueueName) > 4*255 {
				t.Fatalf("unbounded record %+v", r)
			}
			if strings.Contains(r.Exchange+r.RoutingKey+r.QueueName, secret) {
				t.Fatalf("credentials in %+v", r)
			}
			if r.Method == "" || r.ClassID == 0 {
				t.Fatalf("record without method %+v", r)
			}
		}
	})
}
