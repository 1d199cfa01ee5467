//go:build linux

package local

import (
	"encoding/json"
	"fmt"
	"maps"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kubectl-pixie/kubectl-pixie/probes/api/vocab"
	"github.com/kubectl-pixie/kubectl-pixie/probes/socktrace"
)

// TestTraceNodeTLS: Node's https server and client, each a Node whose
// OpenSSL is linked into the executable (the test fails if it maps a
// libssl) and reached through memory BIOs, so SSL_write and SSL_read make
// no socket call: each SSL* is bound to the socket its handshake is
// written to (px_tls_pending). Keep-alive requests on two sockets (a 64
// KiB body, a POST, a 404) and one new connection per round (SSL* freed
// and reallocated): every response is traced once on each side, none is
// lost for want of a socket (tls_no_fd 0).
func TestTraceNodeTLS(t *testing.T) {
	requirePrivileged(t)
	requireTLSArch(t)
	const rounds = 10
	peer, _ := filepath.Abs("testdata/nodehttps/peer.js")
	cert, key := writeCert(t, t.TempDir())
	srv, port := startPeer(t, exec.Command(nodeAs(t, "nodetlssrv"), peer, "server", key, cert), "the Node HTTPS server")
	cli := startProc(t, exec.Command(nodeAs(t, "nodetlscli"), peer, "client", port, strconv.Itoa(rounds)))
	for _, p := range []*proc{srv, cli} {
		if lib, err := socktrace.LibSSLPath("/proc", p.pid()); err != nil || lib != "" {
			t.Fatalf("node (pid %d) maps %q (%v): this test needs a node with its OpenSSL linked in (nodesource's)", p.pid(), lib, err)
		}
	}

	tr := startTrace(t, append(pidArgs(srv.pid(), cli.pid()), "--duration", "90s")...)
	fmt.Fprintln(cli.stdin, "go")
	var sawClient, sawServer map[string]int
	if err := json.Unmarshal([]byte(cli.line(t)), &sawClient); err != nil {
		t.Fatalf("client output: %v", err)
	}
	recs := tr.stop(t)
	srv.closeAndDecode(t, "server", &sawServer)
	want := map[string]int{"GET /small 200": rounds, "GET /large 200": rounds, "POST /echo 200": rounds,
		"GET /missing 404": rounds, "GET /fresh 200": rounds}
	if !maps.Equal(sawClient, want) || !maps.Equal(sawServer, want) {
		t.Fatalf("the client read %v and the server answered %v, want %v", sawClient, sawServer, want)
	}
	for _, p := range []*proc{srv, cli} {
		probed := fmt.Sprintf("TLS: openssl uprobes on pid %d (node,", p.pid())
		if !strings.Contains(tr.errOut.String(), probed) {
			t.Errorf("want %q on stderr:\n%s", probed, tr.errOut.String())
		}
	}

	got := map[string]map[string]int{vocab.RoleClient: {}, vocab.RoleServer: {}}
	for _, e := range recs.events {
		if e.Latency <= 0 || e.Latency > int64(10*time.Second) || e.MajorVersion != 1 {
			t.Errorf("record %+v", e)
			continue
		}
		got[e.TraceRole][e.ReqMethod+" "+e.ReqPath+" "+strconv.Itoa(e.RespStatus)]++
	}
	last := recs.stats[len(recs.stats)-1]
	t.Logf("traced %v, lost_by %v", got, last.LostBy)
	for _, role := range []string{vocab.RoleClient, vocab.RoleServer} {
		if !maps.Equal(got[role], want) {
			t.Errorf("%s side traced %v, want %v", role, got[role], want)
		}
	}
	if n := last.LostBy[socktrace.LostTLSNoFD]; n != 0 {
		t.Errorf("%d TLS calls found no socket", n)
	}
}
