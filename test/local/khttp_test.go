//go:build linux

package local

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/kubectl-pixie/kubectl-pixie/probes/api"
)

// rawHTTP writes each of writes on c (pausing between them, so the server
// reads them apart) and reads n responses to requests of method.
func rawHTTP(t *testing.T, c net.Conn, br *bufio.Reader, method string, n int, writes ...string) []int {
	t.Helper()
	for i, w := range writes {
		if i > 0 {
			time.Sleep(50 * time.Millisecond)
		}
		if _, err := io.WriteString(c, w); err != nil {
			t.Fatal(err)
		}
	}
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	var statuses []int
	for range n {
		resp, err := http.ReadResponse(br, &http.Request{Method: method})
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		statuses = append(statuses, resp.StatusCode)
	}
	return statuses
}

// TestKernelHTTP1Summary: with PIXIE_KERNEL_HTTP1 the kernel summarizes
// nginx's keep-alive exchanges (a page, a sendfile body, a 404, a HEAD):
// one summary per request, counted in probe_stats, and the records are
// exact. A pipelined pair and a request line split over two reads go to
// the payload path, counted by reason, and are exact too.
func TestKernelHTTP1Summary(t *testing.T) {
	requirePrivileged(t)
	t.Setenv("PIXIE_KERNEL_HTTP1", "force") // inherited by the agent
	ng := startNginx(t, true)
	tr := startTrace(t, append(pidArgs(ng.worker), "--duration", "60s")...)
	dial := func() (net.Conn, *bufio.Reader) {
		c, err := net.Dial("tcp", ng.addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c, bufio.NewReader(c)
	}
	const n = 50
	c, br := dial()
	for range n {
		rawHTTP(t, c, br, "GET", 1, "GET /index.html HTTP/1.1\r\nHost: x\r\n\r\n")
	}
	rawHTTP(t, c, br, "GET", 1, "GET /static.bin HTTP/1.1\r\nHost: x\r\n\r\n")
	rawHTTP(t, c, br, "GET", 1, "GET /missing HTTP/1.1\r\nHost: x\r\n\r\n")
	rawHTTP(t, c, br, "HEAD", 1, "HEAD /index.html HTTP/1.1\r\nHost: x\r\n\r\n")
	c, br = dial()
	rawHTTP(t, c, br, "GET", 2, "GET /index.html?p=1 HTTP/1.1\r\nHost: x\r\n\r\nGET /index.html?p=2 HTTP/1.1\r\nHost: x\r\n\r\n")
	c, br = dial()
	rawHTTP(t, c, br, "GET", 1, "GE", "T /index.html?split HTTP/1.1\r\nHost: x\r\n\r\n")
	recs := tr.stop(t)

	server := recs.byRole("server", ng.worker)
	type want struct {
		method, path string
		status       int
		body         int64
	}
	var wants []want
	for range n {
		wants = append(wants, want{"GET", "/index.html", 200, 17})
	}
	wants = append(wants, want{"GET", "/static.bin", 200, 200_000}, want{"GET", "/missing", 404, -1}, want{"HEAD", "/index.html", 200, 0},
		want{"GET", "/index.html?p=1", 200, 17}, want{"GET", "/index.html?p=2", 200, 17}, want{"GET", "/index.html?split", 200, 17})
	if len(server) != len(wants) {
		t.Fatalf("captured %d server-side requests, want %d (stderr: %s)", len(server), len(wants), tr.errOut.String())
	}
	for i, w := range wants {
		e := server[i]
		if e.ReqMethod != w.method || e.ReqPath != w.path || e.RespStatus != w.status || (w.body >= 0 && e.RespBodySize != w.body) || e.Latency <= 0 {
			t.Errorf("record %d = %s %s -> %d (%d bytes, latency %d); want %s %s -> %d (%d bytes)", i, e.ReqMethod, e.ReqPath, e.RespStatus, e.RespBodySize, e.Latency, w.method, w.path, w.status, w.body)
		}
	}
	final := recs.stats[len(recs.stats)-1]
	k := final.KernelHTTP1
	if !final.Final || k == nil {
		t.Fatalf("final probe_stats %+v has no kernel_http1", final)
	}
	wantFB := map[string]uint64{"pipelined": 1, "split": 1}
	if k.Summaries != n+3 || len(k.Fallbacks) != len(wantFB) || k.Fallbacks["pipelined"] != 1 || k.Fallbacks["split"] != 1 {
		t.Errorf("kernel_http1 %+v, want %d summaries and fallbacks %v", *k, n+3, wantFB)
	}
	if final.EventsLost != 0 {
		t.Errorf("lost %d events: %v", final.EventsLost, final.LostBy)
	}
	if strings.Contains(tr.errOut.String(), "bpf_loop") {
		t.Errorf("summaries were not on: %s", tr.errOut.String())
	}
}

// TestKernelHTTP1Latency: the latency rule (latency_test.go) on requests
// the kernel summarizes on both sides: a Go keep-alive client, connecting
// after the trace started, and nginx. Every request is one summary per
// side (kernel_http1 counts exactly 2n, no fallback), each record exact,
// and the traced latencies follow the client's clock.
func TestKernelHTTP1Latency(t *testing.T) {
	requirePrivileged(t)
	t.Setenv("PIXIE_KERNEL_HTTP1", "force")
	ng := startNginx(t, true)
	const n = 200
	paths := make([]string, n)
	for i := range paths {
		paths[i] = "/index.html"
	}
	cli := startRole(t, "client", planArg(clientPlan{URLs: urls(ng.addr, paths...), Wait: true}))
	if cli.line(t) != "ready" {
		t.Fatal("client not ready")
	}
	tr := startTrace(t, append(pidArgs(ng.worker, cli.pid()), "--duration", "60s")...)
	fmt.Fprintln(cli.stdin)
	res := parseClient(t, cli.line(t))
	recs := tr.stop(t)

	client, server := recs.byRole("client", cli.pid()), recs.byRole("server", ng.worker)
	if len(client) != n || len(server) != n {
		t.Fatalf("captured %d client-side and %d server-side requests, want %d each", len(client), len(server), n)
	}
	for i, e := range append(client, server...) {
		if e.ReqMethod != "GET" || e.ReqPath != "/index.html" || e.RespStatus != 200 || e.RespBodySize != 17 {
			t.Fatalf("record %d = %s %s -> %d (%d bytes)", i, e.ReqMethod, e.ReqPath, e.RespStatus, e.RespBodySize)
		}
	}
	final := recs.stats[len(recs.stats)-1]
	if k := final.KernelHTTP1; k == nil || k.Summaries != 2*n || len(k.Fallbacks) != 0 {
		t.Fatalf("kernel_http1 %+v, want %d summaries and no fallback", final.KernelHTTP1, 2*n)
	}
	cl, sv := connLatencies(t, tr.out.Bytes(), api.TableHTTPEvents, client[0].LocalPort, func(*api.HTTPEvent) bool { return true })
	checkLatency(t, latencyCase{name: "HTTP/1.1 GET (kernel summaries)", client: clientTimes{Lat: res.Latencies, Preempted: res.Preempted}, tracedClient: cl, tracedServer: sv})
}

// TestKernelHTTP1Footer: in the default view (the aggregated table) with
// PIXIE_KERNEL_HTTP1=on, the footer counts what the kernel summarized and
// the connection it left to the payload path: n keep-alive requests, then
// a pipelined pair, all in the table's count.
func TestKernelHTTP1Footer(t *testing.T) {
	requirePrivileged(t)
	t.Setenv("PIXIE_KERNEL_HTTP1", "on")
	ng := startNginx(t, true)
	tt := startTable(t, append(pidArgs(ng.worker), "--duration", "60s")...)
	const n = 40
	c, err := net.Dial("tcp", ng.addr)
	if err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	for range n {
		rawHTTP(t, c, br, "GET", 1, "GET /index.html HTTP/1.1\r\nHost: x\r\n\r\n")
	}
	c.Close()
	c, err = net.Dial("tcp", ng.addr)
	if err != nil {
		t.Fatal(err)
	}
	rawHTTP(t, c, bufio.NewReader(c), "GET", 2, "GET /index.html HTTP/1.1\r\nHost: x\r\n\r\nGET /index.html HTTP/1.1\r\nHost: x\r\n\r\n")
	c.Close()
	time.Sleep(500 * time.Millisecond)
	out := tt.end(t)
	want := fmt.Sprintf("captured %d requests", n+2)
	foot := fmt.Sprintf("kernel http1 %d requests, 1 connections as payload (pipelined 1)", n)
	if !strings.Contains(out, want) || !strings.Contains(out, foot) {
		t.Fatalf("the table's footer lacks %q or %q:\n%s\nstderr:\n%s", want, foot, out, tt.errOut.String())
	}
}
