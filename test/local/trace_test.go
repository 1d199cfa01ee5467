//go:build linux

package local

import (
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/kubectl-pixie/kubectl-pixie/probes/api"
)

// TestTraceGoKeepAlive: a Go net/http server and a Go keep-alive client,
// both traced. Every request is seen exactly once per role, with the right
// method, path, status and sizes; client-side latency matches what the
// client measured; server-side latency never exceeds the client's.
func TestTraceGoKeepAlive(t *testing.T) {
	requirePrivileged(t)
	srv, addr := startServer(t, "127.0.0.1:0")
	const n = 300
	paths := nPaths("/users/%d", n-3)
	paths = append(paths, "/status/404", "/status/503", "/big/100000")
	cli, tr, res, recs := traceClientRun(t, srv, clientPlan{URLs: urls(addr, paths...), Pre: 1})

	client := recs.byRole("client", cli.pid())
	server := recs.byRole("server", srv.pid())
	if len(client) != n || len(server) != n {
		t.Fatalf("captured %d client-side and %d server-side requests, want %d each (stderr: %s)", len(client), len(server), n, tr.errOut.String())
	}
	for i, e := range client {
		want := paths[i]
		if e.ReqMethod != "GET" || e.ReqPath != want || e.RespStatus != res.Statuses[i] || e.RespBodySize != res.Bytes[i] {
			t.Fatalf("client record %d = %s %s -> %d (%d bytes); want GET %s -> %d (%d bytes)", i, e.ReqMethod, e.ReqPath, e.RespStatus, e.RespBodySize, want, res.Statuses[i], res.Bytes[i])
		}
		if e.RemotePort == 0 || e.LocalPort == 0 || e.RemoteAddr != "127.0.0.1" {
			t.Fatalf("client record %d has addresses %s:%d -> %s:%d", i, e.LocalAddr, e.LocalPort, e.RemoteAddr, e.RemotePort)
		}
		if s := server[i]; s.ReqPath != want {
			t.Fatalf("server record %d: %s, want %s", i, s.ReqPath, want)
		}
	}
	// The client times each request from just before its write to just
	// after the last body byte is read: right around its syscalls.
	cl, sv := connLatencies(t, tr.out.Bytes(), api.TableHTTPEvents, client[0].LocalPort, func(*api.HTTPEvent) bool { return true })
	checkLatency(t, latencyCase{name: "HTTP/1.1 GET", client: clientTimes{Lat: res.Latencies, Preempted: res.Preempted}, tracedClient: cl, tracedServer: sv})
}

// TestTraceChunkedPostAndBigBodies covers chunked responses, a 1 MiB
// response, and POST bodies.
func TestTraceChunkedPostAndBigBodies(t *testing.T) {
	requirePrivileged(t)
	srv, addr := startServer(t, "127.0.0.1:0")
	tr := startTrace(t, append(pidArgs(srv.pid()), "--duration", "60s")...)
	get := startRole(t, "client", planArg(clientPlan{URLs: urls(addr, "/chunked/50", "/big/1048576", "/chunked/3")}))
	gres := parseClient(t, get.line(t))
	post := startRole(t, "client", planArg(clientPlan{URLs: urls(addr, "/echo", "/echo"), Method: "POST", BodySize: 1 << 20}))
	parseClient(t, post.line(t))
	recs := tr.stop(t)
	server := recs.byRole("server", srv.pid())
	if len(server) != 5 {
		t.Fatalf("captured %d server-side requests, want 5: %+v", len(server), server)
	}
	want := []struct {
		method, path string
		reqBody      int64
		respBody     int64
	}{
		{"GET", "/chunked/50", 0, gres.Bytes[0]},
		{"GET", "/big/1048576", 0, 1 << 20},
		{"GET", "/chunked/3", 0, gres.Bytes[2]},
		{"POST", "/echo", 1 << 20, 7},
		{"POST", "/echo", 1 << 20, 7},
	}
	for i, w := range want {
		e := server[i]
		if e.ReqMethod != w.method || e.ReqPath != w.path || e.ReqBodySize != w.reqBody || e.RespBodySize != w.respBody || e.RespStatus != 200 {
			t.Errorf("record %d = %s %s req %d resp %d status %d; want %s %s req %d resp %d 200", i, e.ReqMethod, e.ReqPath, e.ReqBodySize, e.RespBodySize, e.RespStatus, w.method, w.path, w.reqBody, w.respBody)
		}
		if len(e.RespBody) > 512 || len(e.ReqBody) > 512 {
			t.Errorf("record %d keeps %d/%d body bytes, more than the 512-byte limit", i, len(e.ReqBody), len(e.RespBody))
		}
	}
}

// TestTracePipelined sends three requests in one write; each is matched
// to its own response in order.
func TestTracePipelined(t *testing.T) {
	requirePrivileged(t)
	srv, addr := startServer(t, "127.0.0.1:0")
	tr := startTrace(t, append(pidArgs(srv.pid()), "--duration", "60s")...)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	req := "GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /status/418 HTTP/1.1\r\nHost: x\r\n\r\nGET /c HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
	if _, err := c.Write([]byte(req)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4096)
	var got strings.Builder
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		n, err := c.Read(buf)
		got.Write(buf[:n])
		if err != nil {
			break
		}
	}
	c.Close()
	if strings.Count(got.String(), "HTTP/1.1 ") != 3 {
		t.Fatalf("server answered %q", got.String())
	}
	recs := tr.stop(t)
	server := recs.byRole("server", srv.pid())
	if len(server) != 3 {
		t.Fatalf("captured %d requests, want 3: %+v", len(server), server)
	}
	for i, w := range []struct {
		path   string
		status int
	}{{"/a", 200}, {"/status/418", 418}, {"/c", 200}} {
		if server[i].ReqPath != w.path || server[i].RespStatus != w.status {
			t.Errorf("record %d = %s -> %d, want %s -> %d", i, server[i].ReqPath, server[i].RespStatus, w.path, w.status)
		}
	}
}

// TestTraceIPv6 serves on [::1].
func TestTraceIPv6(t *testing.T) {
	requirePrivileged(t)
	if ln, err := net.Listen("tcp6", "[::1]:0"); err != nil {
		t.Skipf("SKIP: no IPv6 loopback here: %v", err)
	} else {
		ln.Close()
	}
	srv, addr := startServer(t, "[::1]:0")
	tr := startTrace(t, append(pidArgs(srv.pid()), "--duration", "60s")...)
	cli := startRole(t, "client", planArg(clientPlan{URLs: urls(addr, nPaths("/v6/%d", 20)...)}))
	parseClient(t, cli.line(t))
	recs := tr.stop(t)
	server := recs.byRole("server", srv.pid())
	if len(server) != 20 {
		t.Fatalf("captured %d requests, want 20", len(server))
	}
	if server[0].LocalAddr != "::1" || server[0].RemoteAddr != "::1" {
		t.Fatalf("addresses %s -> %s, want ::1", server[0].RemoteAddr, server[0].LocalAddr)
	}
}

// TestTraceStartedAfterConnect: the connection is open and used before the
// trace starts; only the requests after it are reported, none invented.
func TestTraceStartedAfterConnect(t *testing.T) {
	requirePrivileged(t)
	srv, addr := startServer(t, "127.0.0.1:0")
	paths := nPaths("/after/%d", 25)
	cli := startRole(t, "client", planArg(clientPlan{URLs: urls(addr, paths...), Pre: 3}))
	if cli.line(t) != "ready" {
		t.Fatal("client not ready")
	}
	tr := startTrace(t, append(pidArgs(srv.pid(), cli.pid()), "--duration", "60s")...)
	fmt.Fprintln(cli.stdin)
	parseClient(t, cli.line(t))
	recs := tr.stop(t)
	for _, role := range []string{"client", "server"} {
		got := recs.byRole(role, 0)
		if len(got) != len(paths) {
			t.Fatalf("%s side: captured %d requests, want %d (the %d before the trace must not appear)", role, len(got), len(paths), 3)
		}
		for i, e := range got {
			if e.ReqPath != paths[i] {
				t.Fatalf("%s record %d path %s, want %s", role, i, e.ReqPath, paths[i])
			}
		}
	}
}

// TestTraceUntargetedInvisible: only client A is targeted; client B talks
// to the same (untargeted) server and must not appear.
func TestTraceUntargetedInvisible(t *testing.T) {
	requirePrivileged(t)
	_, addr := startServer(t, "127.0.0.1:0")
	a := startRole(t, "client", planArg(clientPlan{URLs: urls(addr, nPaths("/a/%d", 10)...), Pre: 1}))
	if a.line(t) != "ready" {
		t.Fatal("client not ready")
	}
	tr := startTrace(t, append(pidArgs(a.pid()), "--duration", "60s")...)
	b := startRole(t, "client", planArg(clientPlan{URLs: urls(addr, nPaths("/b/%d", 10)...)}))
	parseClient(t, b.line(t))
	fmt.Fprintln(a.stdin)
	parseClient(t, a.line(t))
	recs := tr.stop(t)
	if len(recs.events) != 10 {
		t.Fatalf("captured %d requests, want the 10 of client A", len(recs.events))
	}
	for _, e := range recs.events {
		if e.PID != a.pid() || !strings.HasPrefix(e.ReqPath, "/a/") {
			t.Fatalf("untargeted traffic appeared: pid %d %s", e.PID, e.ReqPath)
		}
	}
}
