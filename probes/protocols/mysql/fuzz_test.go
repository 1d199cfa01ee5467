package mysql

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/kubectl-pixie/kubectl-pixie/probes/conn"
)

// FuzzParser cuts a client stream and a server stream into calls chosen
// by seed and feeds them through the Tracker. flags: bit 0 client (else
// server), bit 1 seen from the open, bit 2 lose bytes, bit 3 truncate
// captures, bit 4 full data. The parser must not panic, must emit no more
// records than the client sent packets, and keep its output bounded,
// valid and free of the login.
func FuzzParser(f *testing.F) {
	for _, deprecate := range []bool{false, true} {
		var req, resp strings.Builder
		for _, e := range session(deprecate) {
			req.WriteString(e.req)
			resp.WriteString(e.resp)
		}
		f.Add([]byte(req.String()), []byte(resp.String()), uint64(1), uint8(3))
		f.Add([]byte(req.String()), []byte(resp.String()), uint64(7), uint8(0x1f))
		f.Add([]byte(req.String()), []byte(resp.String()), uint64(5), uint8(0x12))
	}
	f.Add([]byte(pkt(0, "\x03", "SELECT 1")), []byte(pkt(1, "\x01")+colDef(2, "1")+pkt(3, lstr("1"))+eofOrOK(true, 4, 2)), uint64(3), uint8(0))
	f.Fuzz(func(t *testing.T, req, resp []byte, seed uint64, flags uint8) {
		h := newHarness(t, conn.Options{BodyLimit: 64, MaxBufferedBytes: 256, FullData: flags&16 != 0})
		h.FuzzConn(req, resp, seed, flags)
		if len(h.Recs) > len(req)/4 {
			t.Fatalf("%d records from %d request bytes", len(h.Recs), len(req))
		}
		for _, r := range h.Recs {
			b, err := json.Marshal(r)
			if err != nil || !utf8.ValidString(r.ReqBody) || !utf8.ValidString(r.RespBody) || !utf8.ValidString(r.QueryTemplate) {
				t.Fatalf("invalid record %q: %v", b, err)
			}
			if len(r.ReqBody) > 64+len("…") || len(r.RespBody) > 64+len("…") || len(r.QueryTemplate) > templateLen+len("…") || len(r.QueryKind) > 32 {
				t.Fatalf("unbounded record %+v", r)
			}
			if r.Latency < 0 {
				t.Fatalf("negative latency %+v", r)
			}
			if strings.Contains(string(b), "hunter2") {
				t.Fatalf("login in %s", b)
			}
		}
	})
}
