//go:build linux

package local

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestTraceGoTLSAll: with --all, the scan of /proc finds the Go
// crypto/tls server and client (the test binary, stripped as go test
// builds it) and probes their executable for every process running it:
// exact per-endpoint counts on both sides against what the client got.
func TestTraceGoTLSAll(t *testing.T) {
	requirePrivileged(t)
	requireTLSArch(t)
	cert, key := writeCert(t, t.TempDir())
	srv := startTLSRole(t, "server", cert, key)
	addr := srv.line(t)
	cli := startGoTLSClient(t, addr, "/", "/status/404", "/", "/status/500", "/", "/")
	tr := startTrace(t, "--all", "--duration", "60s")
	res := cli.result(t)
	recs := tr.stop(t)
	self, _ := os.Executable()
	// Other test binaries of the same name may run on a shared host: the
	// line names the file, not the path.
	probed := fmt.Sprintf("go uprobes on every traced process (%s,", filepath.Base(self))
	if !strings.Contains(tr.errOut.String(), probed) {
		t.Errorf("want %q on stderr:\n%s", probed, tr.errOut.String())
	}
	cli.checkRows(t, recs, srv, res)
}
