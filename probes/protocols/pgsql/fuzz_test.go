package pgsql

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/kubectl-pixie/kubectl-pixie/probes/conn"
)

// FuzzParser cuts a frontend stream and a backend stream into calls chosen
// by seed and feeds them through the Tracker. flags: bit 0 client (else
// server), bit 1 seen from the open, bit 2 lose bytes, bit 3 truncate
// captures, bit 4 full data. The parser must not panic, must emit no more
// records than the frontend has messages, keep its output bounded and
// valid, and never show the password.
func FuzzParser(f *testing.F) {
	f.Add([]byte(sessReq), []byte(sessResp), uint64(1), uint8(3))
	f.Add([]byte(sessReq), []byte(sessResp), uint64(7), uint8(0x1f))
	f.Add([]byte(sessReq), []byte(sessResp), uint64(5), uint8(0x11))
	f.Add([]byte(query("SELECT 1")+query("SELECT 2")), []byte(complete("SELECT 1")+ready+noticeA+ready), uint64(3), uint8(0))
	f.Add([]byte(startup+parse("", "SELECT 1/0")+bind("", "", "")+execute("")+sync), []byte(authOK+ready+parseOK+errorResp("22012", "x")+ready), uint64(9), uint8(2))
	f.Fuzz(func(t *testing.T, req, resp []byte, seed uint64, flags uint8) {
		h := newHarness(t, conn.Options{BodyLimit: 64, MaxBufferedBytes: 256, FullData: flags&16 != 0})
		h.FuzzConn(req, resp, seed, flags)
		if len(h.Recs) > len(req)/5 {
			t.Fatalf("%d records from %d request bytes", len(h.Recs), len(req))
		}
		for _, r := range h.Recs {
			b, err := json.Marshal(r)
			if err != nil || !utf8.ValidString(r.Req) || !utf8.ValidString(r.Resp) || !utf8.ValidString(r.QueryTemplate) {
				t.Fatalf("invalid record %q: %v", b, err)
			}
			if len(r.Req) > 64+len("…") || len(r.Resp) > 64+len("…") || len(r.QueryTemplate) > templateLen+len("…") || len(r.QueryKind) > 32 {
				t.Fatalf("unbounded record %+v", r)
			}
			if r.Latency < 0 {
				t.Fatalf("negative latency %+v", r)
			}
			if strings.Contains(string(b), "hunter2") {
				t.Fatalf("password in %s", b)
			}
		}
	})
}
