package kafka

import (
	"encoding/json"
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

// FuzzParser cuts a request stream and a response stream into calls
// chosen by seed and feeds them through the Tracker. flags: bit 0 client
// (else server), bit 1 seen from the open, bit 2 lose bytes, bit 3
// truncate captures. The parser must not panic, must emit no more records
// than requests could fit, keep its columns bounded and its bodies JSON.
func FuzzParser(f *testing.F) {
	f.Add(joined(true), joined(false), uint64(1), uint8(3))
	f.Add(joined(true), joined(false), uint64(7), uint8(0xf))
	f.Add([]byte(produceReq(1, 9, "a", 1, []byte("1"))+produceReq(2, 9, "b", 0, nil)), []byte(produceResp(1, 9, "a", 0)), uint64(3), uint8(1))
	f.Add([]byte(fetchReq(1, 12, "t")), []byte(fetchResp(1, 12, "t", 0, 1, []byte("xyz"))), uint64(5), uint8(7))
	f.Fuzz(func(t *testing.T, reqs, resps []byte, seed uint64, flags uint8) {
		h := newHarness(t, conn.Options{BodyLimit: 64, MaxBufferedBytes: 256})
		h.FuzzConn(reqs, resps, seed, flags)
		// A request is at least 14 bytes on the wire.
		if n := len(reqs) / 14; len(h.Recs) > n {
			t.Fatalf("%d records from %d request bytes", len(h.Recs), len(reqs))
		}
		for _, r := range h.Recs {
			if r.Latency < 0 || len(r.ClientID) > maxClientID || len(r.Topic) > maxTopic || len(r.ReqCmd) > 40 {
				t.Fatalf("bad record %+v", r)
			}
			if !json.Valid([]byte(r.ReqBody)) || r.Resp != "" && !json.Valid([]byte(r.Resp)) {
				t.Fatalf("bodies not JSON: %q %q", r.ReqBody, r.Resp)
			}
		}
	})
}
