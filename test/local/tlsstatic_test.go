//go:build linux

package local

import (
	"debug/elf"
	"fmt"
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
	tr, cli, localPort, ct := traceSSLClient(t, ng, n, exec.Command(bin, host, port, "/index.html", strconv.Itoa(n)))
	probed := fmt.Sprintf("TLS: openssl uprobes on pid %d (sslstatic,", cli.pid())
	if !strings.Contains(tr.errOut.String(), probed) {
		t.Errorf("want %q on stderr:\n%s", probed, tr.errOut.String())
	}
	if logged := ng.accessLog(t); logged["GET /index.html 200"] != n {
		t.Fatalf("nginx logged %v, want %d GET /index.html 200", logged, n)
	}
	cl, sv := connLatencies(t, tr.out.Bytes(), api.TableHTTPEvents, localPort, func(e *api.HTTPEvent) bool {
		return e.ReqPath == "/index.html" && e.RespStatus == 200
	})
	checkLatency(t, latencyCase{name: "static OpenSSL GET", client: ct, tracedClient: cl, tracedServer: sv})
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
