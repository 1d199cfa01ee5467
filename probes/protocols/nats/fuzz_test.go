package nats

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/kubectl-pixie/kubectl-pixie/probes/conn"
)

// FuzzParser cuts a client stream and a server stream into calls chosen
// by seed and feeds them through the Tracker (flags as in
// prototest.FuzzConn). The parser must not panic, must emit no more
// records than lines, keep every column bounded and valid, and never keep
// a CONNECT credential.
func FuzzParser(f *testing.F) {
	var client, server strings.Builder
	for _, c := range session {
		if c.out {
			client.WriteString(c.data)
		} else {
			server.WriteString(c.data)
		}
	}
	f.Add([]byte(client.String()), []byte(server.String()), uint64(1), uint8(3))
	f.Add([]byte(client.String()), []byte(server.String()), uint64(7), uint8(0x1f))
	f.Add([]byte(client.String()), []byte(server.String()), uint64(5), uint8(0x12))
	f.Add([]byte(`CONNECT {"verbose":true,"pass":"hunter2"}`+"\r\nSUB a 1\r\nPUB b _INBOX.1 1\r\nx\r\n"), []byte(info+"+OK\r\n+OK\r\n-ERR 'x'\r\nMSG _INBOX.1 1 1\r\ny\r\n"), uint64(3), uint8(3))
	f.Fuzz(func(t *testing.T, req, resp []byte, seed uint64, flags uint8) {
		h := newHarness(t, conn.Options{BodyLimit: 64, MaxBufferedBytes: 1024, FullData: flags&16 != 0})
		h.FuzzConn(req, resp, seed, flags)
		lines := strings.Count(string(req), "\n") + strings.Count(string(resp), "\n")
		if len(h.Recs) > lines {
			t.Fatalf("%d records from %d lines", len(h.Recs), lines)
		}
		for _, r := range h.Recs {
			for _, s := range []string{r.Body, r.Resp} {
				if s != "" && s[0] == '{' && !json.Valid([]byte(s)) {
					t.Fatalf("%q is not JSON", s)
				}
			}
			if len(r.Body) > 1024 || len(r.Resp) > 1024 || len(r.Subject) > maxSubject || len(r.Error) > 256 {
				t.Fatalf("unbounded record %+v", r)
			}
			if strings.Contains(r.Body, "hunter2") || r.Latency < 0 {
				t.Fatalf("record %+v", r)
			}
		}
	})
}
