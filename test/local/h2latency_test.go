//go:build linux

package local

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"

	"golang.org/x/net/http2"

	"github.com/kubectl-pixie/kubectl-pixie/probes/api"
	"github.com/kubectl-pixie/kubectl-pixie/test/internal/stampconn"
)

// timedRun is what a timed client role prints: its connection's local
// port and each request's latency as it measured it (ns, in order).
type timedRun struct {
	Port uint16  `json:"port"`
	Lat  []int64 `json:"lat"`
}

// h2ClientMain is the HTTP/2 client role (golang.org/x/net/http2: h2c
// with prior knowledge, or TLS): after a line on stdin it GETs
// os.Args[1] os.Args[2] times, one after the other on one connection, and
// times each at the connection (see stampconn: from the HEADERS frame's
// write to the read that brought END_STREAM), prints a timedRun and waits
// for stdin to close. The library's own clock, around client.Get, also
// holds its read loop's and writer's scheduling: measured 22 µs (h2c) and
// 56 µs (TLS) more at p50 on a loaded 2-core machine.
func h2ClientMain() {
	url := os.Args[1]
	var n int
	fmt.Sscan(os.Args[2], &n)
	var run timedRun
	var sc *stampconn.Conn
	tr := &http2.Transport{AllowHTTP: true, DialTLSContext: func(ctx context.Context, network, addr string, cfg *tls.Config) (net.Conn, error) {
		c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		run.Port = uint16(c.LocalAddr().(*net.TCPAddr).Port)
		if strings.HasPrefix(url, "https:") {
			tc := tls.Client(c, &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"h2"}})
			if err := tc.HandshakeContext(ctx); err != nil {
				return nil, err
			}
			c = tc
		}
		sc = stampconn.New(c)
		return sc, nil
	}}
	client := &http.Client{Transport: tr}
	in := bufio.NewReader(os.Stdin)
	in.ReadString('\n')
	for range n {
		if sc != nil {
			sc.Arm()
		}
		resp, err := client.Get(url)
		if err != nil {
			fatalf("h2client: %v", err)
		}
		if _, err := io.Copy(io.Discard, resp.Body); err != nil || resp.ProtoMajor != 2 || resp.StatusCode != 200 {
			fatalf("h2client: %s %d %v", resp.Proto, resp.StatusCode, err)
		}
		resp.Body.Close()
		run.Lat = append(run.Lat, sc.Span().Nanoseconds())
	}
	b, _ := json.Marshal(run)
	fmt.Println(string(b))
	io.Copy(io.Discard, in)
}

// readTimedRun reads a timed client's result line.
func readTimedRun(t *testing.T, p *proc) timedRun {
	t.Helper()
	var run timedRun
	if line := p.line(t); json.Unmarshal([]byte(line), &run) != nil {
		t.Fatalf("timed client printed %q", line)
	}
	return run
}

// TestTraceHTTP2Latency: net/http's HTTP/2 client to nginx, h2c and over
// TLS (the client through the Go TLS uprobes, nginx through OpenSSL's),
// both sides traced: the latency rule per request. The stamps sit on the
// connection but the library reads and writes from its own goroutines,
// and late frames (WINDOW_UPDATE, PING) can move them: p99 one-sided
// (measured 229 µs per-request excess at the tail under load 10).
func TestTraceHTTP2Latency(t *testing.T) {
	requirePrivileged(t)
	for _, overTLS := range []bool{false, true} {
		name := map[bool]string{false: "h2c", true: "h2 over TLS"}[overTLS]
		t.Run(strings.ReplaceAll(name, " ", "_"), func(t *testing.T) {
			if overTLS {
				requireTLSArch(t)
			}
			addr, _ := startNginxH2(t, overTLS)
			url := "http://" + addr + "/ok"
			if overTLS {
				url = "https://" + addr + "/ok"
			}
			cli := startRole(t, "h2client", url, "200")
			tr := startTrace(t, append(pidArgs(cli.pid()), "--comm", "nginx", "--duration", "60s")...)
			fmt.Fprintln(cli.stdin)
			run := readTimedRun(t, cli)
			tr.stop(t)
			cl, sv := connLatencies(t, tr.out.Bytes(), api.TableHTTPEvents, run.Port, func(e *api.HTTPEvent) bool { return e.ReqPath == "/ok" })
			checkLatency(t, latencyCase{name: "HTTP/2 " + name + " GET", client: clientTimes{Lat: run.Lat}, tracedClient: cl, tracedServer: sv})
		})
	}
}

// TestTraceGRPCLatency: grpc-go's client (testdata/http2/grpcpeer timed:
// unary calls one after the other, timed at the connection) to grpc-go's
// server, both traced: the latency rule per request, p99 one-sided (the
// library reads and writes from its own goroutines, and its BDP pings
// share the connection).
func TestTraceGRPCLatency(t *testing.T) {
	requirePrivileged(t)
	srvBin, cliBin := buildGRPCPeer(t)
	srv := startProc(t, exec.Command(srvBin, "server", "127.0.0.1:0"))
	addr := srv.line(t)
	cli := startProc(t, exec.Command(cliBin, "timed", addr, "200"))
	tr := startTrace(t, append(pidArgs(srv.pid(), cli.pid()), "--duration", "60s")...)
	fmt.Fprintln(cli.stdin)
	run := readTimedRun(t, cli)
	tr.stop(t)
	cl, sv := connLatencies(t, tr.out.Bytes(), api.TableHTTPEvents, run.Port, func(e *api.HTTPEvent) bool { return e.ReqPath == "/pixie.test.Echo/Say" })
	checkLatency(t, latencyCase{name: "gRPC unary", client: clientTimes{Lat: run.Lat}, tracedClient: cl, tracedServer: sv})
}
