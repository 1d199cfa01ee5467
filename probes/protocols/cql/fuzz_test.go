package cql

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/kubectl-pixie/kubectl-pixie/probes/conn"
)

// FuzzParser cuts a request stream and a response stream into calls
// chosen by seed and feeds them through the Tracker (flags as in
// prototest.FuzzConn). The parser must not panic, must emit no more
// records than frames could hold, keep its columns bounded, and never
// keep an AUTH_RESPONSE token.
func FuzzParser(f *testing.F) {
	var reqs, resps []byte
	for _, x := range session {
		if x.out {
			reqs = append(reqs, x.data...)
		} else {
			resps = append(resps, x.data...)
		}
	}
	f.Add(reqs, resps, uint64(1), uint8(3))
	f.Add(reqs, resps, uint64(7), uint8(0x1f))
	f.Add(reqs, resps, uint64(9), uint8(0x12))
	v5 := cat(frame(5, false, 0, 1, opStartup, cat(u16(1), str("CQL_VERSION"), str("3.0.0"))),
		segment(frame(5, false, 0, 2, opQuery, query("SELECT a FROM ks.t WHERE k = 1")), true))
	v5r := cat(frame(5, true, 0, 1, opReady, nil), segment(frame(5, true, 0, 2, opResult, rows(1, false, "a")), true))
	f.Add(v5, v5r, uint64(3), uint8(3))
	f.Add(req(2, opAuthResponse, longStr("\x00u\x00hunter2")), resp(2, opAuthSuccess, nil), uint64(5), uint8(3))
	f.Fuzz(func(t *testing.T, in, out []byte, seed uint64, flags uint8) {
		h := newHarness(t, conn.Options{BodyLimit: 64, MaxBufferedBytes: 1024, FullData: flags&16 != 0})
		h.FuzzConn(in, out, seed, flags)
		if len(h.Recs) > (len(in)+len(out))/headerLen {
			t.Fatalf("%d records from %d bytes", len(h.Recs), len(in)+len(out))
		}
		for _, r := range h.Recs {
			if len(r.ReqBody) > 64+len("…") || len(r.RespBody) > 64+len("…") || len(r.QueryTemplate) > templateLen+len("…") || len(r.QueryKind) > 32 {
				t.Fatalf("unbounded record %+v", r)
			}
			if r.ReqOp == "STARTUP" && r.ReqBody != "" && !json.Valid([]byte(r.ReqBody)) {
				t.Fatalf("STARTUP body %q", r.ReqBody)
			}
			if strings.Contains(r.ReqBody, "hunter2") || r.Latency < 0 {
				t.Fatalf("record %+v", r)
			}
		}
	})
}
