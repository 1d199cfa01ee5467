package redis

import (
	"encoding/json"
	"testing"

	"github.com/kubectl-pixie/kubectl-pixie/probes/conn"
)

// FuzzParser cuts a command stream and a reply stream into calls chosen
// by seed and feeds them through the Tracker. flags: bit 0 client (else
// server), bit 1 seen from the open, bit 2 lose bytes, bit 3 truncate
// captures, bit 4 full data. The parser must not panic, must emit no more
// records than commands, and keep its output bounded and valid.
func FuzzParser(f *testing.F) {
	f.Add([]byte(pipeReq), []byte(pipeResp), uint64(1), uint8(3))
	f.Add([]byte(pipeReq), []byte(pipeResp), uint64(7), uint8(0x1f))
	f.Add([]byte(cmd("SUBSCRIBE", "a", "b")+cmd("PING")), []byte("*3\r\n$9\r\nsubscribe\r\n$1\r\na\r\n:1\r\n>3\r\n$7\r\nmessage\r\n$1\r\na\r\n$1\r\nx\r\n+PONG\r\n"), uint64(3), uint8(3))
	f.Add([]byte(cmd("HGETALL", "h")+cmd("GET", "k")), []byte("|1\r\n+a\r\n:1\r\n%1\r\n+f\r\n=7\r\ntxt:abc\r\n_\r\n"), uint64(5), uint8(0x13))
	f.Add([]byte("PING\r\n"+cmd("AUTH", "pw")), []byte("+PONG\r\n-WRONGPASS x\r\n"), uint64(9), uint8(2))
	f.Fuzz(func(t *testing.T, req, resp []byte, seed uint64, flags uint8) {
		h := newHarness(t, conn.Options{BodyLimit: 64, MaxBufferedBytes: 256, FullData: flags&16 != 0})
		h.FuzzConn(req, resp, seed, flags)
		commands := 0
		for _, c := range req {
			if c == '*' || c == '\n' {
				commands++
			}
		}
		if len(h.Recs) > commands {
			t.Fatalf("%d records from at most %d commands", len(h.Recs), commands)
		}
		for _, r := range h.Recs {
			if r.ReqArgs != "" && !json.Valid([]byte(r.ReqArgs)) {
				t.Fatalf("req_args %q is not JSON", r.ReqArgs)
			}
			if len(r.ReqArgs) > 64 || len(r.Resp) > 64+len("…") || len(r.ReqCmd) > 4*64+len(" ")+32+len("…") {
				t.Fatalf("unbounded record %+v", r)
			}
			if r.Latency < 0 {
				t.Fatalf("negative latency %+v", r)
			}
		}
	})
}
