package http2

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"golang.org/x/net/http2"

	"github.com/kubectl-pixie/kubectl-pixie/probes/api"
	"github.com/kubectl-pixie/kubectl-pixie/probes/api/vocab"
	"github.com/kubectl-pixie/kubectl-pixie/probes/conn"
)

type want struct {
	method, path string
	status       int
	respBody     string
	reqBody      string
	grpc         bool
	grpcStatus   string
}

func check(t *testing.T, h *harness, ws ...want) {
	t.Helper()
	if len(h.Recs) != len(ws) {
		var got []string
		for _, r := range h.Recs {
			got = append(got, fmt.Sprintf("%s %s %d", r.ReqMethod, r.ReqPath, r.RespStatus))
		}
		t.Fatalf("got %d records %q, want %d (stats %+v)", len(h.Recs), got, len(ws), h.Stats())
	}
	for i, w := range ws {
		r := h.Recs[i]
		if r.Table != api.TableHTTPEvents || r.MajorVersion != 2 {
			t.Errorf("record %d: table %q version %d", i, r.Table, r.MajorVersion)
		}
		if r.ReqMethod != w.method || r.ReqPath != w.path || r.RespStatus != w.status {
			t.Errorf("record %d = %s %s %d, want %s %s %d", i, r.ReqMethod, r.ReqPath, r.RespStatus, w.method, w.path, w.status)
		}
		if r.RespBody != w.respBody || r.RespBodySize != int64(len(w.respBody)) {
			t.Errorf("record %d: resp body %q (%d), want %q", i, r.RespBody, r.RespBodySize, w.respBody)
		}
		if r.ReqBody != w.reqBody || r.ReqBodySize != int64(len(w.reqBody)) {
			t.Errorf("record %d: req body %q (%d), want %q", i, r.ReqBody, r.ReqBodySize, w.reqBody)
		}
		if (r.Protocol == vocab.ProtocolGRPC) != w.grpc || r.GRPCStatus != w.grpcStatus {
			t.Errorf("record %d: protocol %q grpc-status %q, want grpc %v %q", i, r.Protocol, r.GRPCStatus, w.grpc, w.grpcStatus)
		}
		if r.Latency <= 0 {
			t.Errorf("record %d: latency %d", i, r.Latency)
		}
	}
}

// everySplit feeds req then resp, each cut in two calls at every point,
// as seen by a server and by a client, and checks the records (and with
// after, anything else) each time.
func everySplit(t *testing.T, req, resp []byte, after func(*harness), ws ...want) {
	t.Helper()
	for _, role := range []conn.Role{conn.RoleServer, conn.RoleClient} {
		reqDir, respDir := conn.Ingress, conn.Egress
		if role == conn.RoleClient {
			reqDir, respDir = conn.Egress, conn.Ingress
		}
		for i := 0; i <= len(req)+len(resp); i++ {
			h := newHarness(t, conn.Options{})
			h.Open(role)
			for _, part := range []struct {
				dir conn.Dir
				b   []byte
				at  int
			}{{reqDir, req, i}, {respDir, resp, i - len(req)}} {
				at := max(0, min(part.at, len(part.b)))
				if at > 0 {
					h.Send(part.dir, part.b[:at])
				}
				if at < len(part.b) {
					h.Send(part.dir, part.b[at:])
				}
			}
			check(t, h, ws...)
			if after != nil {
				h.Close()
				after(h)
			}
		}
	}
}

func TestInfer(t *testing.T) {
	for i := 1; i <= len(Preface); i++ {
		inf := Protocol{}.Infer([]byte(Preface[:i]), conn.Egress, conn.TransportTCP)
		wantConf := conn.NeedMore
		if i == len(Preface) {
			wantConf = conn.High
		}
		if inf.Conf != wantConf || inf.Role != conn.RoleClient {
			t.Errorf("preface[:%d]: %+v", i, inf)
		}
	}
	if inf := (Protocol{}).Infer([]byte(Preface), conn.Ingress, conn.TransportTCP); inf.Role != conn.RoleServer {
		t.Errorf("preface read: role %v", inf.Role)
	}
	srv := newPeer().settings()
	if inf := (Protocol{}).Infer(srv.take(), conn.Egress, conn.TransportTCP); inf.Conf != conn.Low {
		t.Errorf("SETTINGS: %+v, want Low", inf)
	}
	cl := newPeer()
	cl.headers(1, true, reqKV("GET", "/")...).data(1, true, "x")
	if inf := (Protocol{}).Infer(cl.take(), conn.Egress, conn.TransportTCP); inf.Conf != conn.Low {
		t.Errorf("HEADERS+DATA: %+v, want Low", inf)
	}
	for _, s := range []string{
		"GET / HTTP/1.1\r\n\r\n", "HTTP/1.1 200 OK\r\n", "*2\r\n$3\r\nGET\r\n$1\r\nk\r\n", "+OK\r\n",
		"\x00\x00\x00\x08\x04\xd2\x16\x2f",                  // PostgreSQL SSLRequest
		"\x00\x00\x00\x08\x00\x03\x00\x00user\x00x\x00\x00", // PostgreSQL startup
		"\x00\x00\x04\x09\x04\x00\x00\x00\x01abcd",          // CONTINUATION first
		"\x00\x00\x04\x04\x00\x00\x00\x00\x00abcd",          // SETTINGS of 4 bytes
		"\x00\x00\x00\x00\x40\x00\x00\x00\x01",              // DATA with an undefined flag
		"\x00\x40\x01\x00\x00\x00\x00\x00\x01",              // DATA longer than 16 KiB
		"\x00\x00",
	} {
		if inf := (Protocol{}).Infer([]byte(s), conn.Ingress, conn.TransportTCP); inf.Conf != conn.NoMatch {
			t.Errorf("Infer(%q) = %v, want no match", s, inf.Conf)
		}
	}
	if inf := (Protocol{}).Infer([]byte(Preface), conn.Ingress, conn.TransportUDP); inf.Conf != conn.NoMatch {
		t.Errorf("UDP: %v", inf.Conf)
	}
}

// simple is one GET from a fresh connection: the client's preface,
// SETTINGS and HEADERS; the server's SETTINGS, ACK, HEADERS and DATA.
func simple() (req, resp []byte) {
	cl, srv := newPeer(), newPeer()
	cl.buf.WriteString(Preface)
	cl.settings().headers(1, true, reqKV("GET", "/hello", "user-agent", "curl/8")...)
	srv.settings()
	must(srv.fr.WriteSettingsAck())
	srv.headers(1, false, ":status", "200", "content-type", "text/plain").data(1, false, "hi ").data(1, true, "there")
	return cl.take(), srv.take()
}

var simpleWant = want{method: "GET", path: "/hello", status: 200, respBody: "hi there"}

func TestSimpleEverySplit(t *testing.T) {
	req, resp := simple()
	for _, role := range []conn.Role{conn.RoleServer, conn.RoleClient} {
		reqDir, respDir := conn.Ingress, conn.Egress
		if role == conn.RoleClient {
			reqDir, respDir = conn.Egress, conn.Ingress
		}
		for i := 0; i <= len(req); i++ {
			h := newHarness(t, conn.Options{})
			h.Open(role)
			h.Send(reqDir, req[:i])
			if i < len(req) {
				h.Send(reqDir, req[i:])
			}
			h.Send(respDir, resp)
			check(t, h, simpleWant)
			if r := h.Recs[0]; r.TraceRole != map[conn.Role]string{conn.RoleServer: "server", conn.RoleClient: "client"}[role] {
				t.Fatalf("role %q", r.TraceRole)
			}
		}
		for j := 0; j <= len(resp); j++ {
			h := newHarness(t, conn.Options{})
			h.Open(role)
			h.Send(reqDir, req)
			h.Send(respDir, resp[:j])
			if j < len(resp) {
				h.Send(respDir, resp[j:])
			}
			check(t, h, simpleWant)
			if r := h.Recs[0]; r.ReqHeaders["user-agent"] != "curl/8" || r.RespHeaders["content-type"] != "text/plain" || r.ReqHeaders[":authority"] != "localhost:8080" {
				t.Fatalf("headers %v %v", r.ReqHeaders, r.RespHeaders)
			}
			if s := h.Stats(); s.ParseErrors+s.UnmatchedRequests+s.UnmatchedResponses+s.DroppedBytes != 0 {
				t.Fatalf("split %d: stats %+v", j, s)
			}
		}
	}
	// One byte per call, both directions interleaved.
	h := newHarness(t, conn.Options{})
	h.Open(conn.RoleServer)
	for k := 0; k < max(len(req), len(resp)); k++ {
		if k < len(req) {
			h.Send(conn.Ingress, req[k:k+1])
		}
	}
	for k := range resp {
		h.Send(conn.Egress, resp[k:k+1])
	}
	check(t, h, simpleWant)
}

func TestLatency(t *testing.T) {
	req, resp := simple()
	h := newHarness(t, conn.Options{})
	h.Open(conn.RoleServer)
	h.Send(conn.Ingress, req) // t0 + tStep; arrival = its end
	start := h.Now - tStep + tCall
	h.Send(conn.Egress, resp[:20])
	h.Send(conn.Egress, resp[20:]) // END_STREAM in this write: departure = its start
	end := h.Now - tStep
	check(t, h, simpleWant)
	if got := h.Recs[0].Latency; got != int64(end-start) {
		t.Fatalf("latency %d, want %d", got, end-start)
	}
}

func TestInterleavedStreams(t *testing.T) {
	cl, srv := newPeer(), newPeer()
	cl.buf.WriteString(Preface)
	cl.settings().headers(1, false, reqKV("POST", "/a", "content-type", "text/plain")...)
	cl.headers(3, true, reqKV("GET", "/b")...)
	cl.data(1, true, "body-a")
	srv.settings().headers(3, false, ":status", "404").headers(1, false, ":status", "200")
	srv.data(1, false, "one").data(3, true, "nf").data(1, true, "two")
	everySplit(t, cl.take(), srv.take(), nil,
		want{method: "GET", path: "/b", status: 404, respBody: "nf"},
		want{method: "POST", path: "/a", status: 200, respBody: "onetwo", reqBody: "body-a"})
}

func TestContinuationPaddingPriority(t *testing.T) {
	cl, srv := newPeer(), newPeer()
	cl.buf.WriteString(Preface)
	blk := cl.block(reqKV("GET", "/long", "x-big", strings.Repeat("v", 300), "x-more", strings.Repeat("w", 200))...)
	must(cl.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: blk[:10], EndStream: true, PadLength: 7,
		Priority: http2.PriorityParam{StreamDep: 0, Weight: 200}}))
	must(cl.fr.WriteContinuation(1, false, blk[10:200]))
	must(cl.fr.WriteContinuation(1, true, blk[200:]))
	rb := srv.block(":status", "200", "x-r", "1")
	must(srv.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: rb, EndHeaders: true, PadLength: 3}))
	must(srv.fr.WriteDataPadded(1, false, []byte("pad"), make([]byte, 9)))
	must(srv.fr.WriteDataPadded(1, true, []byte("ded"), nil))
	must(srv.fr.WriteDataPadded(1, false, nil, nil)) // after the end: ignored
	req, resp := cl.take(), srv.take()
	everySplit(t, req, resp, nil, want{method: "GET", path: "/long", status: 200, respBody: "padded"})
	for i := 0; i < len(req); i += 13 {
		h := newHarness(t, conn.Options{})
		h.Open(conn.RoleServer)
		h.Send(conn.Ingress, req[:i])
		h.Send(conn.Ingress, req[i:])
		h.Send(conn.Egress, resp)
		check(t, h, want{method: "GET", path: "/long", status: 200, respBody: "padded"})
		if r := h.Recs[0]; r.ReqHeaders["x-big"] != strings.Repeat("v", 300) || r.RespHeaders["x-r"] != "1" {
			t.Fatalf("headers %v %v", r.ReqHeaders, r.RespHeaders)
		}
	}
	// A frame between HEADERS and its CONTINUATION is a protocol error.
	cl2 := newPeer()
	cl2.buf.WriteString(Preface)
	must(cl2.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: blk[:10]}))
	cl2.data(1, true, "x")
	h := newHarness(t, conn.Options{})
	h.Open(conn.RoleServer)
	h.Send(conn.Ingress, cl2.take())
	h.Send(conn.Egress, resp)
	check(t, h)
	if s := h.Stats(); s.ParseErrors == 0 {
		t.Fatalf("stats %+v", s)
	}
}

func TestResetAndGoAway(t *testing.T) {
	cl, srv := newPeer(), newPeer()
	cl.buf.WriteString(Preface)
	cl.headers(1, true, reqKV("GET", "/reset")...)
	cl.headers(3, true, reqKV("GET", "/ok")...)
	cl.headers(5, true, reqKV("GET", "/late")...)
	must(srv.fr.WriteRSTStream(1, http2.ErrCodeCancel))
	srv.headers(3, true, ":status", "204")
	must(srv.fr.WriteGoAway(3, http2.ErrCodeNo, nil))
	srv.headers(5, true, ":status", "200") // after GOAWAY: its stream is gone
	everySplit(t, cl.take(), srv.take(), func(h *harness) {
		if s := h.Stats(); s.UnmatchedRequests != 2 || s.UnmatchedResponses != 1 || s.ParseErrors != 0 {
			t.Fatalf("stats %+v", s)
		}
	}, want{method: "GET", path: "/ok", status: 204})
}

func TestServerPush(t *testing.T) {
	cl, srv := newPeer(), newPeer()
	cl.buf.WriteString(Preface)
	cl.headers(1, true, reqKV("GET", "/page")...)
	must(srv.fr.WritePushPromise(http2.PushPromiseParam{StreamID: 1, PromiseID: 2, EndHeaders: true, PadLength: 2,
		BlockFragment: srv.block(reqKV("GET", "/style.css")...)}))
	srv.headers(2, false, ":status", "200", "content-type", "text/css").data(2, true, "body{}")
	srv.headers(1, false, ":status", "200").data(1, true, "<html>")
	everySplit(t, cl.take(), srv.take(), func(h *harness) {
		if s := h.Stats(); s.Pushes != 1 || s.UnmatchedResponses+s.UnmatchedRequests+s.ParseErrors != 0 {
			t.Fatalf("stats %+v", s)
		}
	}, want{method: "GET", path: "/page", status: 200, respBody: "<html>"})
}

func TestGRPC(t *testing.T) {
	msg := "\x00\x00\x00\x00\x03abc"
	cl, srv := newPeer(), newPeer()
	cl.buf.WriteString(Preface)
	g := []string{"content-type", "application/grpc", "te", "trailers"}
	cl.headers(1, false, reqKV("POST", "/pkg.Echo/Say", g...)...).data(1, true, msg)
	cl.headers(3, false, reqKV("POST", "/pkg.Echo/Fail", g...)...).data(1, true, "")
	cl.data(3, true, msg)
	cl.headers(5, false, reqKV("POST", "/pkg.Echo/Say", g...)...).data(5, false, msg)
	// Request trailers are rare but legal.
	cl.headers(5, true, "x-req-trailer", "1")
	srv.headers(1, false, ":status", "200", "content-type", "application/grpc").data(1, false, msg)
	srv.headers(1, true, "grpc-status", "0", "grpc-message", "")
	// Trailers-only response.
	srv.headers(3, true, ":status", "200", "content-type", "application/grpc", "grpc-status", "14", "grpc-message", "unavailable")
	srv.headers(5, false, ":status", "200", "content-type", "application/grpc+proto").data(5, false, msg)
	srv.headers(5, true, "grpc-status", "4")
	req, resp := cl.take(), srv.take()
	everySplit(t, req, resp, nil,
		want{method: "POST", path: "/pkg.Echo/Say", status: 200, reqBody: msg, respBody: msg, grpc: true, grpcStatus: "0"},
		want{method: "POST", path: "/pkg.Echo/Fail", status: 200, reqBody: msg, grpc: true, grpcStatus: "14"},
		want{method: "POST", path: "/pkg.Echo/Say", status: 200, reqBody: msg, respBody: msg, grpc: true, grpcStatus: "4"})
	h := newHarness(t, conn.Options{})
	h.Open(conn.RoleServer)
	h.Send(conn.Ingress, req)
	h.Send(conn.Egress, resp)
	check(t, h,
		want{method: "POST", path: "/pkg.Echo/Say", status: 200, reqBody: msg, respBody: msg, grpc: true, grpcStatus: "0"},
		want{method: "POST", path: "/pkg.Echo/Fail", status: 200, reqBody: msg, grpc: true, grpcStatus: "14"},
		want{method: "POST", path: "/pkg.Echo/Say", status: 200, reqBody: msg, respBody: msg, grpc: true, grpcStatus: "4"})
	if r := h.Recs[1]; r.RespMessage != "unavailable" {
		t.Errorf("grpc-message %q", r.RespMessage)
	}
	if r := h.Recs[2]; r.ReqHeaders["x-req-trailer"] != "1" {
		t.Errorf("request trailers %v", r.ReqHeaders)
	}
	for code, name := range map[string]string{"0": "OK", "14": "UNAVAILABLE", "16": "UNAUTHENTICATED", "17": "grpc 17", "x": "grpc x", "": ""} {
		if got := GRPCStatusName(code); got != name {
			t.Errorf("GRPCStatusName(%q) = %q, want %q", code, got, name)
		}
	}
}

// TestDynamicTable: later requests refer to fields the first ones put in
// the dynamic table (Go's encoder indexes everything it may).
func TestDynamicTable(t *testing.T) {
	cl, srv := newPeer(), newPeer()
	cl.buf.WriteString(Preface)
	paths := []string{"/items/1", "/items/2", "/items/1", "/items/1"}
	var sizes []int
	for i, p := range paths {
		id := uint32(2*i + 1)
		before := cl.buf.Len()
		cl.headers(id, true, reqKV("GET", p, "x-tenant", "acme")...)
		sizes = append(sizes, cl.buf.Len()-before)
		srv.headers(id, i%2 == 0, ":status", []string{"200", "404"}[i%2], "server", "test")
		if i%2 == 1 {
			srv.data(id, true, "nope")
		}
	}
	if sizes[2] >= sizes[0] || sizes[3] != sizes[2] {
		t.Fatalf("the encoder did not index: block sizes %v", sizes)
	}
	everySplit(t, cl.take(), srv.take(), func(h *harness) {
		if s := h.Stats(); s.ParseErrors+s.UnmatchedRequests+s.UnmatchedResponses != 0 {
			t.Fatalf("stats %+v", s)
		}
	},
		want{method: "GET", path: "/items/1", status: 200},
		want{method: "GET", path: "/items/2", status: 404, respBody: "nope"},
		want{method: "GET", path: "/items/1", status: 200},
		want{method: "GET", path: "/items/1", status: 404, respBody: "nope"})
}

// TestMidConnection: a trace that starts after the tables were filled
// cannot decode the indexed fields; it must count, not invent paths, and
// decode what it can once the peers add entries it sees.
func TestMidConnection(t *testing.T) {
	cl, srv := newPeer(), newPeer()
	for i := range 3 { // before tracing: fills both dynamic tables
		cl.headers(uint32(2*i+1), true, reqKV("GET", "/secret/path", "x-tenant", "acme")...)
		srv.headers(uint32(2*i+1), true, ":status", "200", "server", "test")
	}
	cl.take()
	srv.take()
	h := newHarness(t, conn.Options{})
	for i := 3; i < 6; i++ {
		id := uint32(2*i + 1)
		h.Send(conn.Ingress, cl.headers(id, true, reqKV("GET", "/secret/path", "x-tenant", "acme")...).take())
		h.Send(conn.Egress, srv.headers(id, true, ":status", "200", "server", "test").take())
	}
	check(t, h)
	if s := h.Stats(); s.ParseErrors != 3 || s.Records != 0 { // the requests' :path is unknown
		t.Fatalf("stats %+v", s)
	}
	// A request made only of static and new fields decodes, and so does
	// its answer; the next one refers to what it inserted.
	for _, id := range []uint32{13, 15} {
		h.Send(conn.Ingress, cl.headers(id, true, ":method", "GET", ":scheme", "http", ":path", "/new", ":authority", "other:1").take())
		h.Send(conn.Egress, srv.headers(id, true, ":status", "201", "x-id", "n").take())
	}
	check(t, h, want{method: "GET", path: "/new", status: 201}, want{method: "GET", path: "/new", status: 201})
	if r := h.Recs[1]; r.ReqHeaders[":authority"] != "other:1" || r.RespHeaders["x-id"] != "n" {
		t.Fatalf("headers %v %v", r.ReqHeaders, r.RespHeaders)
	}

	// Recovery: each message inserts a new field, so the peers' tables
	// turn over and the paths come back as literals with the static name.
	cl3, srv3 := newPeer(), newPeer()
	for _, p := range []*peer{cl3, srv3} {
		p.enc.SetMaxDynamicTableSizeLimit(512)
	}
	paths := []string{"/a", "/b", "/c"}
	h = newHarness(t, conn.Options{})
	var ws []want
	for i := range 60 {
		id := uint32(2*i + 1)
		path := paths[i%3]
		req := cl3.headers(id, true, reqKV("GET", path, "x-req-id", fmt.Sprint(i))...).take()
		resp := srv3.headers(id, true, ":status", "404", "x-resp-id", fmt.Sprint(i)).take()
		if i < 10 {
			continue // before the trace
		}
		h.Send(conn.Ingress, req)
		h.Send(conn.Egress, resp)
		if i >= 40 {
			ws = append(ws, want{method: "GET", path: path, status: 404})
		}
	}
	if n := len(h.Recs); n < len(ws) {
		t.Fatalf("%d records; the last %d calls should have decoded (stats %+v)", n, len(ws), h.Stats())
	}
	h.Recs = h.Recs[len(h.Recs)-len(ws):]
	check(t, h, ws...)

	// Mid-connection with only static and literal fields (a fresh
	// encoder without indexing): decodable; role from the request.
	cl2, srv2 := newPeer(), newPeer()
	cl2.enc.SetMaxDynamicTableSizeLimit(0)
	srv2.enc.SetMaxDynamicTableSizeLimit(0)
	h = newHarness(t, conn.Options{})
	h.Send(conn.Egress, cl2.headers(41, true, reqKV("GET", "/mid")...).take())
	h.Send(conn.Ingress, srv2.headers(41, false, ":status", "503").data(41, true, "busy").take())
	check(t, h, want{method: "GET", path: "/mid", status: 503, respBody: "busy"})
	if r := h.Recs[0]; r.TraceRole != "client" {
		t.Fatalf("role %q", r.TraceRole)
	}
}

// TestUnsureGRPC: mid-connection, a field the trace cannot decode may be
// the content type or the grpc-status; a POST is then counted, not
// guessed to be gRPC or not; another method is never gRPC.
func TestUnsureGRPC(t *testing.T) {
	cl, srv := newPeer(), newPeer()
	g := []string{"content-type", "application/grpc", "x-k", "v"}
	grpcCall := func(id uint32, path, ct string) ([]byte, []byte) {
		req := cl.headers(id, false, reqKV("POST", path, "content-type", ct, "x-k", "v")...).data(id, true, "\x00\x00\x00\x00\x00").take()
		srv.headers(id, false, ":status", "200", "content-type", "application/grpc").data(id, false, "\x00\x00\x00\x00\x00")
		return req, srv.headers(id, true, "grpc-status", "0").take()
	}
	grpcCall(1, "/pkg.S/M", "application/grpc") // before the trace: all of it indexed
	cl.headers(3, true, reqKV("GET", "/plain", g[2:]...)...).take()
	srv.headers(3, true, ":status", "200", "x-k", "v").take()
	h := newHarness(t, conn.Options{})
	req, resp := grpcCall(5, "/pkg.S/A", "application/grpc") // content type unknown on both sides
	h.Send(conn.Ingress, req)
	h.Send(conn.Egress, resp)
	req, resp = grpcCall(7, "/pkg.S/B", "application/grpc+proto") // gRPC for sure, grpc-status unknown
	h.Send(conn.Ingress, req)
	h.Send(conn.Egress, resp)
	h.Send(conn.Ingress, cl.headers(9, true, reqKV("GET", "/new", g[2:]...)...).take()) // x-k, :authority unknown
	h.Send(conn.Egress, srv.headers(9, true, ":status", "200", "x-k", "v").take())
	check(t, h, want{method: "GET", path: "/new", status: 200})
	if s := h.Stats(); s.ParseErrors != 2 {
		t.Fatalf("stats %+v", s)
	}
}

// TestOrphanTrailers: trailers that end a stream begun before the trace
// are an answer without its request, not a malformed request.
func TestOrphanTrailers(t *testing.T) {
	srv := newPeer()
	srv.enc.SetMaxDynamicTableSizeLimit(0)
	h := newHarness(t, conn.Options{})
	h.Send(conn.Egress, srv.data(5, false, "tail").headers(5, true, "grpc-status", "0").take())
	check(t, h)
	if s := h.Stats(); s.UnmatchedResponses != 1 || s.ParseErrors != 0 {
		t.Fatalf("stats %+v", s)
	}
}

func TestBadIndexNoPanic(t *testing.T) {
	for _, blk := range [][]byte{
		{0xff, 0xff, 0xff, 0xff, 0x0f},       // indexed, huge index
		{0xbe},                               // indexed 62: the empty dynamic table
		{0x7f, 0x80, 0x80, 0x80, 0x80, 0x10}, // literal with a huge name index
		{0x3f, 0xe1, 0xff, 0x07, 0xbe},       // a large table size update, then an unknown index
		{0x82, 0x84, 0x86, 0x41},             // truncated literal
	} {
		cl := newPeer()
		cl.buf.WriteString(Preface)
		must(cl.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: blk, EndStream: true, EndHeaders: true}))
		h := newHarness(t, conn.Options{})
		h.Open(conn.RoleServer)
		h.Send(conn.Ingress, cl.take())
		h.Send(conn.Egress, newPeer().headers(1, true, ":status", "200").take())
		check(t, h)
		if s := h.Stats(); s.ParseErrors == 0 || s.UnmatchedResponses != 0 {
			t.Fatalf("block %x: stats %+v", blk, s)
		}
	}
}

func TestGaps(t *testing.T) {
	// Bytes of a DATA payload not captured: the record keeps the size.
	cl, srv := newPeer(), newPeer()
	cl.buf.WriteString(Preface)
	cl.headers(1, true, reqKV("GET", "/big")...)
	srv.headers(1, false, ":status", "200")
	big := strings.Repeat("z", 5000)
	srv.data(1, true, big)
	req, resp := cl.take(), srv.take()
	h := newHarness(t, conn.Options{BodyLimit: 16})
	h.Open(conn.RoleServer)
	h.Send(conn.Ingress, req)
	h.CallBytes(conn.Egress, resp[:100], len(resp), 0)
	if len(h.Recs) != 1 || h.Recs[0].RespBodySize != 5000 || h.Recs[0].RespBody != big[:16] {
		t.Fatalf("records %+v stats %+v", h.Recs, h.Stats())
	}

	// Lost bytes spanning frame headers: the direction resynchronises at a
	// later call with an empty HPACK table. A block whose :status refers
	// to an entry inserted in the lost bytes is counted; one with a known
	// :status decodes, without the fields it cannot know.
	cl, srv = newPeer(), newPeer()
	cl.buf.WriteString(Preface)
	cl.enc.SetMaxDynamicTableSizeLimit(0) // the request side is not the point
	for _, id := range []uint32{1, 3, 5, 7, 9} {
		cl.headers(id, true, reqKV("GET", fmt.Sprintf("/s%d", id))...)
	}
	h = newHarness(t, conn.Options{})
	h.Open(conn.RoleServer)
	h.Send(conn.Ingress, cl.take())
	lost := srv.headers(1, true, ":status", "503", "x-srv", "alpha").take() // inserts both
	h.CallBytes(conn.Egress, nil, len(lost), 0)
	h.Send(conn.Egress, srv.headers(3, true, ":status", "503").take())                   // refers to it
	h.Send(conn.Egress, srv.headers(5, true, ":status", "204").take())                   // static
	h.Send(conn.Egress, srv.headers(7, true, ":status", "202", "x-new", "beta").take())  // new literals
	h.Send(conn.Egress, srv.headers(9, true, ":status", "200", "x-srv", "alpha").take()) // x-srv unknown
	check(t, h, want{method: "GET", path: "/s5", status: 204}, want{method: "GET", path: "/s7", status: 202},
		want{method: "GET", path: "/s9", status: 200})
	if r := h.Recs[2]; len(r.RespHeaders) != 0 {
		t.Fatalf("headers it cannot know: %v", r.RespHeaders)
	}
	h.Close()
	if s := h.Stats(); s.Resyncs != 1 || s.ParseErrors != 1 || s.UnmatchedRequests != 2 {
		t.Fatalf("stats %+v", s)
	}
}

func TestRedaction(t *testing.T) {
	for _, full := range []bool{false, true} {
		cl, srv := newPeer(), newPeer()
		cl.buf.WriteString(Preface)
		cl.headers(1, true, reqKV("GET", "/me", "authorization", "Bearer abc", "cookie", "a=1", "cookie", "b=2", "accept", "*/*")...)
		srv.headers(1, true, ":status", "200", "set-cookie", "s=1")
		h := newHarness(t, conn.Options{FullData: full, Access: api.DataAccessRestricted})
		h.Open(conn.RoleServer)
		h.Send(conn.Ingress, cl.take())
		h.Send(conn.Egress, srv.take())
		check(t, h, want{method: "GET", path: "/me", status: 200})
		r := h.Recs[0]
		auth, cookie, set := r.ReqHeaders["authorization"], r.ReqHeaders["cookie"], r.RespHeaders["set-cookie"]
		if full && (auth != "Bearer abc" || cookie != "a=1, b=2" || set != "s=1") ||
			!full && (auth != "<redacted 10 bytes>" || cookie != "<redacted 8 bytes>" || set != "<redacted 3 bytes>") || r.ReqHeaders["accept"] != "*/*" {
			t.Fatalf("full %v: %v %v", full, r.ReqHeaders, r.RespHeaders)
		}
	}
	// Aggregates only: no header maps.
	req, resp := simple()
	h := newHarness(t, conn.Options{NoHeaders: true, BodyLimit: -1})
	h.Open(conn.RoleServer)
	h.Send(conn.Ingress, req)
	h.Send(conn.Egress, resp)
	if len(h.Recs) != 1 || h.Recs[0].ReqHeaders != nil || h.Recs[0].RespBody != "" || h.Recs[0].RespBodySize != 8 {
		t.Fatalf("%+v", h.Recs)
	}
}

// emitter collects records of a parser driven without a Tracker.
type emitter struct{ n int }

func (e *emitter) Emit(api.Record, uint64, uint64) { e.n++ }

func TestBounds(t *testing.T) {
	var st conn.Stats
	out := &emitter{}
	env := &conn.Env{Role: conn.RoleServer, Fresh: true, MaxBufferedBytes: 1024, Stats: &st, Out: out}
	p := NewParser(env)
	cl := newPeer()
	cl.buf.WriteString(Preface)
	for i := range 1000 {
		cl.headers(uint32(2*i+1), true, reqKV("GET", fmt.Sprintf("/n/%d", i), "x-pad", strings.Repeat("p", 100))...)
	}
	b := cl.take()
	p.Feed(&conn.Chunk{Dir: conn.Ingress, Data: b})
	if len(p.streams) > maxStreams || st.UnmatchedRequests+uint64(len(p.streams)) != 1000 || len(p.streams) < 10 {
		t.Fatalf("streams %d, stats %+v", len(p.streams), st)
	}
	if p.pendingHdr > pendingFactor*1024 {
		t.Fatalf("pending header bytes %d", p.pendingHdr)
	}
	// A header block larger than the buffer bound is dropped and counted.
	cl.headers(5001, true, reqKV("GET", "/huge", "x-big", strings.Repeat("q", 5000))...)
	p.Feed(&conn.Chunk{Dir: conn.Ingress, Data: cl.take()})
	if st.DroppedBytes == 0 || st.ParseErrors == 0 {
		t.Fatalf("stats %+v", st)
	}
	p.End(0, conn.EndFlush)
	if out.n != 0 {
		t.Fatalf("%d records", out.n)
	}

	// With the default buffer bound, the stream bound is the one hit.
	st = conn.Stats{}
	p = NewParser(&conn.Env{Role: conn.RoleServer, Fresh: true, Stats: &st, Out: out})
	cl = newPeer()
	cl.buf.WriteString(Preface)
	for i := range 1000 {
		cl.headers(uint32(2*i+1), true, reqKV("GET", fmt.Sprintf("/n/%d", i))...)
	}
	p.Feed(&conn.Chunk{Dir: conn.Ingress, Data: cl.take()})
	if len(p.streams) != maxStreams || st.UnmatchedRequests != 1000-maxStreams {
		t.Fatalf("streams %d, stats %+v", len(p.streams), st)
	}
	// The newest streams are kept: their answers still pair.
	srv := newPeer()
	srv.headers(1999, true, ":status", "200")
	p.Feed(&conn.Chunk{Dir: conn.Egress, Data: srv.take()})
	if out.n != 1 {
		t.Fatalf("%d records", out.n)
	}
}

// TestLossNeverInvents: HTTP/2 and gRPC exchanges from real encoders
// (dynamic table in use), traced from the start or from the middle, with
// whole calls lost, captures cut short and writes split at random. Every
// record must carry its own stream's method, path, status and
// grpc-status (the bodies, which HPACK never touches, say which stream it
// is), whatever the decoder missed.
func TestLossNeverInvents(t *testing.T) {
	records, lost := 0, 0
	for seed := uint64(1); seed <= 1500; seed++ {
		rnd := rand.New(rand.NewPCG(seed, 7))
		cl, srv := newPeer(), newPeer()
		h := newHarness(t, conn.Options{})
		skip := 0
		if rnd.IntN(2) == 0 {
			h.Open(conn.RoleServer)
			cl.buf.WriteString(Preface)
		} else {
			skip = 1 + rnd.IntN(10) // exchanges before the trace started
		}
		truth := map[string]string{}
		lossy := 10 + 20*int(seed%3) // 1 call in 5, 15 or 25 lost or cut
		send := func(dir conn.Dir, b []byte) {
			switch rnd.IntN(lossy) {
			case 0:
				h.CallBytes(dir, nil, len(b), 0) // the call was lost
				lost++
			case 1:
				h.CallBytes(dir, b[:rnd.IntN(len(b))], len(b), 0) // capture cut short
				lost++
			case 2, 3:
				k := rnd.IntN(len(b)) // one write read in two calls
				h.Send(dir, b[:k])
				h.Send(dir, b[k:])
			default:
				h.Send(dir, b)
			}
		}
		for i := range 40 {
			id := uint32(2*i + 1)
			path := fmt.Sprintf("/p%d", rnd.IntN(6))
			status := []string{"200", "404", "503", "201", "204"}[rnd.IntN(5)]
			tag := fmt.Sprintf("<%03d>", id) // no tag is a prefix of another
			var req, resp []byte
			if rnd.IntN(2) == 0 {
				truth[tag] = "GET " + path + " " + status + " "
				req = cl.headers(id, false, reqKV("GET", path, "x-v", fmt.Sprint(rnd.IntN(3)))...).data(id, true, tag).take()
				resp = srv.headers(id, false, ":status", status, "x-s", fmt.Sprint(rnd.IntN(3))).data(id, true, tag).take()
			} else { // gRPC: the status is in the trailers
				code := []string{"0", "0", "5", "14"}[rnd.IntN(4)]
				truth[tag] = "POST " + path + " 200 " + code
				req = cl.headers(id, false, reqKV("POST", path, "content-type", "application/grpc", "x-v", fmt.Sprint(rnd.IntN(3)))...).data(id, true, tag).take()
				srv.headers(id, false, ":status", "200", "content-type", "application/grpc").data(id, false, tag)
				resp = srv.headers(id, true, "grpc-status", code, "x-s", fmt.Sprint(rnd.IntN(3))).take()
			}
			if i < skip {
				continue
			}
			send(conn.Ingress, req)
			send(conn.Egress, resp)
		}
		h.Close()
		for _, r := range h.Recs {
			tag := r.RespBody
			if _, ok := truth[tag]; !ok {
				tag = r.ReqBody // the response body was cut short
			}
			if _, ok := truth[tag]; !ok {
				continue
			}
			got := fmt.Sprintf("%s %s %d %s", r.ReqMethod, r.ReqPath, r.RespStatus, r.GRPCStatus)
			if truth[tag] != got || (r.Protocol == vocab.ProtocolGRPC) != (r.ReqMethod == "POST") {
				t.Fatalf("seed %d: stream %s recorded as %q (protocol %q), truth %q", seed, tag, got, r.Protocol, truth[tag])
			}
			records++
		}
	}
	t.Logf("%d records checked, %d calls lost or cut", records, lost)
	if records < 4000 {
		t.Fatalf("only %d records: the test checks little", records)
	}
}

// framePieces is what the socket tracer reports of a call b of HTTP/2
// frames (starting at a frame header) cut after its first head bytes
// with its last tail kept: of the middle, every frame header and the
// payloads of frames other than DATA (bpf/socktrace.bpf.c, h2_frames).
func framePieces(b []byte, head, tail int) [][2]int {
	return framePiecesAt(b, 0, len(b), head, tail)
}

// framePiecesAt is framePieces for the call b[start:end] of the stream of
// frames b (offsets in the call).
func framePiecesAt(b []byte, start, end, head, tail int) [][2]int {
	lo, hi := start+head, end-tail
	var out [][2]int
	add := func(a, z int) {
		a, z = max(a, lo), min(z, hi)
		if a < z {
			out = append(out, [2]int{a - start, z - start})
		}
	}
	for f := 0; f+9 <= len(b) && f < end; {
		n := int(b[f])<<16 | int(b[f+1])<<8 | int(b[f+2])
		add(f, f+9)
		if b[f+3] != frameData {
			add(f+9, f+9+n)
		}
		f += 9 + n
	}
	return out
}

// TestCutCallFrames: gRPC messages of 100 KB in 16 KiB DATA frames, each
// message and its frames one call cut by a 4 KiB capture. With the frame
// headers (and the trailers) of the uncaptured middles, as the tracer
// reports them, both calls are traced with their grpc-status, the HPACK
// tables stay in step for the next call, and the bodies count every
// byte; without them, the frame boundaries are lost.
func TestCutCallFrames(t *testing.T) {
	msg := strings.Repeat("m", 100_000)
	g := []string{"content-type", "application/grpc", "te", "trailers"}
	cl, srv := newPeer(), newPeer()
	cl.buf.WriteString(Preface)
	cl.settings()
	cl.headers(1, false, reqKV("POST", "/pkg.Echo/Say", g...)...)
	for i := 0; i < len(msg); i += 16384 {
		cl.data(1, i+16384 >= len(msg), msg[i:min(i+16384, len(msg))])
	}
	req1 := cl.take()
	cl.headers(3, false, reqKV("POST", "/pkg.Echo/Say", g...)...).data(3, true, "small")
	req2 := cl.take()
	srv.settings()
	srv.headers(1, false, ":status", "200", "content-type", "application/grpc")
	for i := 0; i < len(msg); i += 16384 {
		srv.data(1, false, msg[i:min(i+16384, len(msg))])
	}
	srv.headers(1, true, "grpc-status", "0", "grpc-message", "")
	resp1 := srv.take()
	srv.headers(3, false, ":status", "200", "content-type", "application/grpc").data(3, false, "small")
	srv.headers(3, true, "grpc-status", "5")
	resp2 := srv.take()
	for _, role := range []conn.Role{conn.RoleServer, conn.RoleClient} {
		reqDir, respDir := conn.Ingress, conn.Egress
		if role == conn.RoleClient {
			reqDir, respDir = conn.Egress, conn.Ingress
		}
		for _, pieces := range []bool{true, false} {
			h := newHarness(t, conn.Options{})
			h.Open(role)
			for _, c := range []struct {
				dir conn.Dir
				b   []byte
			}{{reqDir, req1}, {respDir, resp1}, {reqDir, req2}, {respDir, resp2}} {
				if len(c.b) <= 4096 {
					h.Send(c.dir, c.b)
					continue
				}
				var ps [][2]int
				if pieces {
					ps = framePieces(c.b, 4096, 64)
				}
				h.CallCut(c.dir, c.b, 4096, 64, ps)
			}
			h.Close()
			if !pieces {
				if len(h.Recs) == 2 || h.Stats().Resyncs == 0 {
					t.Errorf("%s without pieces: %d records, stats %+v: want the frames lost", role, len(h.Recs), h.Stats())
				}
				continue
			}
			if len(h.Recs) != 2 {
				t.Fatalf("%s: %d records, want 2 (stats %+v)", role, len(h.Recs), h.Stats())
			}
			for i, w := range []struct {
				status string
				size   int64
			}{{"0", int64(len(msg))}, {"5", 5}} {
				r := h.Recs[i]
				if r.ReqPath != "/pkg.Echo/Say" || r.GRPCStatus != w.status || r.ReqBodySize != w.size || r.RespBodySize != w.size || r.Latency <= 0 {
					t.Errorf("%s record %d: %s %s grpc-status %q bodies %d %d latency %d, want grpc-status %q bodies %d",
						role, i, r.ReqMethod, r.ReqPath, r.GRPCStatus, r.ReqBodySize, r.RespBodySize, r.Latency, w.status, w.size)
				}
			}
			if st := h.Stats(); st.ParseErrors != 0 || st.Resyncs != 0 || st.UnmatchedRequests != 0 {
				t.Errorf("%s: stats %+v", role, st)
			}
		}
	}
}
