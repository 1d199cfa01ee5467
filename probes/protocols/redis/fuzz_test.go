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
		role := conn.RoleServer
		reqDir, respDir := conn.Ingress, conn.Egress
		if flags&1 != 0 {
			role, reqDir, respDir = conn.RoleClient, conn.Egress, conn.Ingress
		}
		if flags&2 != 0 {
			h.open(role)
		}
		rnd := seed | 1
		next := func(n int) int {
			rnd ^= rnd >> 12
			rnd ^= rnd << 25
			rnd ^= rnd >> 27
			return int((rnd*2685821657736338717)>>33) % max(n, 1)
		}
		streams := [2][]byte{req, resp}
		dirs := [2]conn.Dir{reqDir, respDir}
		for len(streams[0])+len(streams[1]) > 0 {
			i := next(2)
			if len(streams[i]) == 0 {
				i = 1 - i
			}
			b := streams[i]
			n := 1 + next(min(len(b), 64))
			data, size, skip := b[:n], n, 0
			if flags&8 != 0 && next(4) == 0 {
				data = data[:next(n)]
			}
			if flags&4 != 0 && next(8) == 0 {
				skip = 1 + next(16)
			}
			h.call(dirs[i], string(data), size, skip)
			streams[i] = b[n:]
		}
		h.close()
		commands := 0
		for _, c := range req {
			if c == '*' || c == '\n' {
				commands++
			}
		}
		if len(h.recs) > commands {
			t.Fatalf("%d records from at most %d commands", len(h.recs), commands)
		}
		for _, r := range h.recs {
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
