//go:build linux

package local

import (
	"debug/elf"
	"errors"
	"fmt"
	"maps"
	"net"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/kubectl-pixie/kubectl-pixie/probes/api"
)

// TestTraceTLSStaticOpenSSL: the OpenSSL client of testdata/sslclient
// linked statically with Debian's libssl.a and libcrypto.a (no libssl
// mapped: the test fails if it is dynamic) is found by the SSL_write and
// SSL_read symbols of its executable. 100 keep-alive HTTPS GETs to nginx:
// every one traced on both sides, latency by the shared rule.
func TestTraceTLSStaticOpenSSL(t *testing.T) {
	requirePrivileged(t)
	requireTLSArch(t)
	gcc := requireCmd(t, "gcc")
	bin := filepath.Join(t.TempDir(), "sslstatic")
	if out, err := exec.Command(gcc, "-O2", "-Wall", "-static", "-o", bin, "testdata/sslclient/sslclient.c", "-lssl", "-lcrypto", "-pthread").CombinedOutput(); err != nil {
		t.Fatalf("building the static OpenSSL client (libssl-dev has libssl.a): %v\n%s", err, out)
	}
	if interp := elfInterp(t, bin); interp {
		t.Fatalf("%s has a dynamic loader (PT_INTERP): not static", bin)
	}
	ng := startNginxTLS(t)
	host, port, _ := net.SplitHostPort(ng.addr)
	const n = 100
	checkLatencyRerun(t, func(t *testing.T) latencyCase {
		before := ng.accessLog(t)["GET /index.html 200"]
		tr, cli, localPort, ct := traceSSLClient(t, ng, n, exec.Command(bin, host, port, "/index.html", strconv.Itoa(n)))
		probed := fmt.Sprintf("TLS: openssl uprobes on pid %d (sslstatic,", cli.pid())
		if !strings.Contains(tr.errOut.String(), probed) {
			t.Errorf("want %q on stderr:\n%s", probed, tr.errOut.String())
		}
		if logged := ng.accessLog(t); logged["GET /index.html 200"]-before != n {
			t.Fatalf("nginx logged %v (%d before this run), want %d more GET /index.html 200", logged, before, n)
		}
		cl, sv := connLatencies(t, tr.out.Bytes(), api.TableHTTPEvents, localPort, func(e *api.HTTPEvent) bool {
			return e.ReqPath == "/index.html" && e.RespStatus == 200
		})
		return latencyCase{name: "static OpenSSL GET", client: ct, tracedClient: cl, tracedServer: sv}
	})
}

// elfInterp reports whether an executable asks for a dynamic loader.
func elfInterp(t *testing.T, path string) bool {
	t.Helper()
	f, err := elf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return true
		}
	}
	return false
}

// TestTraceTLSStrippedStaticOpenSSL: testdata/sslserver linked statically
// with Debian's libssl.a and stripped (no symbol at all: the test fails
// if any is left or it is dynamic) is found by the code of the node's
// libssl.a (socktrace's tls_stripped.go). curl (the system libssl) makes
// 4 keep-alive connections of 4 requests each; the server alternates
// between SSL_read/SSL_write and their _ex forms by connection. Every
// request is traced once on each side.
func TestTraceTLSStrippedStaticOpenSSL(t *testing.T) {
	requirePrivileged(t)
	requireTLSArch(t)
	gcc, strip, curl := requireCmd(t, "gcc"), requireCmd(t, "strip"), requireCmd(t, "curl")
	bin := filepath.Join(t.TempDir(), "sslstripped")
	if out, err := exec.Command(gcc, "-O2", "-Wall", "-static", "-o", bin, "testdata/sslserver/sslserver.c", "-lssl", "-lcrypto", "-pthread").CombinedOutput(); err != nil {
		t.Fatalf("building the static OpenSSL server (libssl-dev has libssl.a): %v\n%s", err, out)
	}
	if out, err := exec.Command(strip, bin).CombinedOutput(); err != nil {
		t.Fatalf("strip: %v\n%s", err, out)
	}
	requireStrippedStatic(t, bin)
	cert, key := writeCert(t, t.TempDir())
	srv, port := startPeer(t, exec.Command(bin, cert, key), "the stripped OpenSSL server")
	addr := net.JoinHostPort("127.0.0.1", port)

	tr := startTrace(t, append(pidArgs(srv.pid()), "--comm", "curl", "--duration", "60s")...)
	paths := []string{"/hello", "/big", "/nope", "/hello"}
	want := map[string]int{}
	const conns = 4
	for range conns {
		args := []string{"-sk", "--http1.1", "-w", "%{http_code}\n"}
		for _, p := range paths {
			args = append(args, "-o", "/dev/null", "https://"+addr+p)
		}
		out, err := exec.Command(curl, args...).CombinedOutput()
		if err != nil || string(out) != "200\n200\n404\n200\n" {
			t.Fatalf("curl: %v, printed %q", err, out)
		}
		for _, p := range paths {
			want[fmt.Sprintf("GET %s %d", p, map[bool]int{true: 404, false: 200}[p == "/nope"])]++
		}
	}
	for range conns * len(paths) {
		srv.line(t) // the server answered
	}
	recs := tr.stop(t)
	probed := fmt.Sprintf("TLS: openssl uprobes on pid %d (sslstripped, 9 probes, stripped: found by the code of /usr/lib/x86_64-linux-gnu/libssl.a)", srv.pid())
	if !strings.Contains(tr.errOut.String(), probed) {
		t.Errorf("want %q on stderr:\n%s", probed, tr.errOut.String())
	}
	server, client := endpointCounts(recs.byRole("server", srv.pid())), endpointCounts(clientsOf(t, recs.events, "curl", addr))
	t.Logf("server rows %v, client rows %v, lost_by %v", server, client, recs.stats[len(recs.stats)-1].LostBy)
	if !maps.Equal(server, want) || !maps.Equal(client, want) {
		t.Errorf("server rows %v, client rows %v, want %v on each side", server, client, want)
	}
}

// requireStrippedStatic fails unless path is static and has no symbols.
func requireStrippedStatic(t *testing.T, path string) {
	t.Helper()
	if elfInterp(t, path) {
		t.Fatalf("%s has a dynamic loader (PT_INTERP): not static", path)
	}
	f, err := elf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if syms, err := f.Symbols(); !errors.Is(err, elf.ErrNoSymbols) {
		t.Fatalf("%s: %d symbols (%v), want none", path, len(syms), err)
	}
}
