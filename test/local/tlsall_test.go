//go:build linux

package local

import (
	"encoding/json"
	"fmt"
	"io"
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
	var urls []string
	for _, p := range []string{"/", "/status/404", "/", "/status/500", "/", "/"} {
		urls = append(urls, "https://"+addr+p)
	}
	b, _ := json.Marshal(urls)
	cli := startTLSRole(t, "client", string(b))
	tr := startTrace(t, "--all", "--duration", "60s")
	io.WriteString(cli.stdin, "go\n")
	var res clientResult
	if err := json.Unmarshal([]byte(cli.line(t)), &res); err != nil {
		t.Fatal(err)
	}
	recs := tr.stop(t)
	self, _ := os.Executable()
	// Other test binaries of the same name may run on a shared host: the
	// line names the file, not the path.
	probed := fmt.Sprintf("go uprobes on every traced process (%s,", filepath.Base(self))
	if !strings.Contains(tr.errOut.String(), probed) {
		t.Errorf("want %q on stderr:\n%s", probed, tr.errOut.String())
	}
	want := map[string]int{}
	for i, u := range urls {
		want[fmt.Sprintf("GET %s %d", strings.TrimPrefix(u, "https://"+addr), res.Statuses[i])]++
	}
	server := recs.byRole("server", srv.pid())
	client := recs.byRole("client", cli.pid())
	t.Logf("client got %v; server rows %v; client rows %v", want, endpointCounts(server), endpointCounts(client))
	if !sameCounts(endpointCounts(server), want) {
		t.Errorf("server rows %v, want %v", endpointCounts(server), want)
	}
	if !sameCounts(endpointCounts(client), want) {
		t.Errorf("client rows %v, want %v", endpointCounts(client), want)
	}
}
