package http2

import (
	"bytes"
	"testing"

	"github.com/kubectl-pixie/kubectl-pixie/probes/conn"
	"github.com/kubectl-pixie/kubectl-pixie/probes/protocols/http1"
)

// upgradeReq is curl --http2 asking an http:// URL to upgrade.
const upgradeReq = "GET /up HTTP/1.1\r\nHost: localhost:8080\r\nUser-Agent: curl/7.88.1\r\n" +
	"Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\n\r\n"

const switching = "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n"

// upgradeExchange is an h2c upgrade (RFC 7540 3.2) as four writes: the
// HTTP/1.1 request; the 101 with the server's SETTINGS and stream 1's
// answer; the client's preface and a second request on stream 3; its
// answer.
func upgradeExchange(req string) [4][]byte {
	cl, srv := newPeer(), newPeer()
	srv.settings().headers(1, false, ":status", "200", "content-type", "text/plain").data(1, true, "upgraded")
	up := append([]byte(switching), srv.take()...)
	cl.buf.WriteString(Preface)
	cl.settings().headers(3, true, reqKV("GET", "/two")...)
	second := cl.take()
	srv.headers(3, false, ":status", "404").data(3, true, "no")
	return [4][]byte{[]byte(req), up, second, srv.take()}
}

func newUpgradeHarness(t *testing.T) *harness {
	return newHarness(t, conn.Options{Protocols: []conn.Protocol{http1.Protocol{H2C: Protocol{}}}})
}

// TestUpgradeH2C: the upgrading request is answered on stream 1 (one
// record, HTTP/2, from the request's first byte to stream 1's end), then
// the connection carries HTTP/2 streams; for a server and for a client,
// every write cut in two at every point.
func TestUpgradeH2C(t *testing.T) {
	ex := upgradeExchange(upgradeReq)
	for _, role := range []conn.Role{conn.RoleServer, conn.RoleClient} {
		reqDir, respDir := conn.Ingress, conn.Egress
		if role == conn.RoleClient {
			reqDir, respDir = conn.Egress, conn.Ingress
		}
		dirs := [4]conn.Dir{reqDir, respDir, reqDir, respDir}
		for part := range ex {
			for at := 0; at <= len(ex[part]); at++ {
				h := newUpgradeHarness(t)
				h.Open(role)
				for i, b := range ex {
					if i == part && at > 0 && at < len(b) {
						h.Send(dirs[i], b[:at])
						b = b[at:]
					}
					h.Send(dirs[i], b)
				}
				check(t, h, want{method: "GET", path: "/up", status: 200, respBody: "upgraded"}, want{method: "GET", path: "/two", status: 404, respBody: "no"})
				h.Close()
				if s := h.Stats(); s.ParseErrors+s.UnmatchedRequests+s.UnmatchedResponses+s.DroppedBytes != 0 {
					t.Fatalf("%v, part %d cut at %d: stats %+v", role, part, at, s)
				}
				if r := h.Recs[0]; r.ReqHeaders["upgrade"] != "h2c" || r.RespHeaders["content-type"] != "text/plain" {
					t.Fatalf("stream 1: headers %v %v", r.ReqHeaders, r.RespHeaders)
				}
				// Whole writes: from the request's arrival to the 101's
				// write (server), from the request's write to the read of
				// stream 1's end (client).
				lat := int64(tStep - tCall)
				if role == conn.RoleClient {
					lat = tStep + tCall
				}
				if r := h.Recs[0]; part == 0 && at == 0 && r.Latency != lat {
					t.Fatalf("%v: stream 1 latency %d, want %d", role, r.Latency, lat)
				}
			}
		}
	}
}

// TestUpgradeH2CBody: an upgrading POST sends its body as HTTP/1.1
// before the 101; stream 1 carries it.
func TestUpgradeH2CBody(t *testing.T) {
	req := "POST /form HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: \r\n\r\nhello"
	ex := upgradeExchange(req)
	h := newUpgradeHarness(t)
	h.Open(conn.RoleServer)
	h.Send(conn.Ingress, ex[0])
	h.Send(conn.Egress, ex[1])
	check(t, h, want{method: "POST", path: "/form", status: 200, reqBody: "hello", respBody: "upgraded"})
}

// TestUpgradeNotH2C: a 101 to another protocol (WebSocket), or an h2c
// upgrade without an HTTP/2 parser to hand over to, ends HTTP/1 parsing
// with the 101 as the answer; what follows is not parsed.
func TestUpgradeNotH2C(t *testing.T) {
	ws := "GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n"
	for _, c := range []struct {
		name string
		p    http1.Protocol
		req  string
		resp string
	}{
		{"websocket", http1.Protocol{H2C: Protocol{}}, ws, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n\x81\x02hi"},
		{"h2c without http2", http1.Protocol{}, upgradeReq, switching},
		{"101 h2c unasked", http1.Protocol{H2C: Protocol{}}, ws, switching},
	} {
		h := newHarness(t, conn.Options{Protocols: []conn.Protocol{c.p}})
		h.Open(conn.RoleServer)
		h.Send(conn.Ingress, []byte(c.req))
		h.Send(conn.Egress, []byte(c.resp))
		h.Send(conn.Ingress, []byte(Preface))
		if len(h.Recs) != 1 || h.Recs[0].RespStatus != 101 || h.Recs[0].MajorVersion != 1 {
			t.Fatalf("%s: records %+v", c.name, h.Recs)
		}
	}
}

// FuzzUpgrade plays an h2c upgrade (HTTP/1.1 then HTTP/2 on one
// connection) cut into calls chosen by seed, with the flags of
// prototest's FuzzConn. Records stay bounded: at most the upgrading
// request plus one per HEADERS frame type byte of the request stream.
func FuzzUpgrade(f *testing.F) {
	ex := upgradeExchange(upgradeReq)
	req, resp := append(bytes.Clone(ex[0]), ex[2]...), append(bytes.Clone(ex[1]), ex[3]...)
	for i := range uint8(16) {
		f.Add(req, resp, uint64(i+1), i)
	}
	f.Fuzz(func(t *testing.T, req, resp []byte, seed uint64, flags uint8) {
		h := newHarness(t, conn.Options{BodyLimit: 64, MaxBufferedBytes: 256,
			Protocols: []conn.Protocol{http1.Protocol{H2C: Protocol{}}}})
		h.FuzzConn(req, resp, seed, flags)
		if limit := 1 + bytes.Count(req, []byte{frameHeaders}); len(h.Recs) > limit {
			t.Fatalf("%d records from at most %d requests", len(h.Recs), limit)
		}
		for _, r := range h.Recs {
			if len(r.ReqBody) > 64 || len(r.RespBody) > 64 || r.Latency < 0 || r.ReqMethod == "" {
				t.Fatalf("unbounded or bad record %+v", r)
			}
		}
	})
}
