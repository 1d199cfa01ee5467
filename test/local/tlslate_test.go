//go:build linux

package local

import (
	"encoding/json"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestTraceTLSLateLibssl: Debian's Python, traced by --pid, maps libssl
// only when it imports ssl, after the trace started: the next scan of its
// maps finds the library and probes it (stderr says so), and its HTTPS
// requests to nginx are read in clear text, counted exactly against what
// the client got.
func TestTraceTLSLateLibssl(t *testing.T) {
	requirePrivileged(t)
	requireTLSArch(t)
	python := requireCmd(t, "/usr/bin/python3") // Debian's, over the system libssl
	ng := startNginxTLS(t)
	paths := []string{"/index.html", "/other.html", "/missing", "/index.html", "/index.html", "/missing", "/other.html"}
	py := startProc(t, exec.Command(python, append([]string{"testdata/tlspy/late.py", ng.addr}, paths...)...))
	tr := startTrace(t, "--pid", fmt.Sprint(py.pid()), "--duration", "60s")
	probed := fmt.Sprintf("TLS: openssl uprobes on pid %d", py.pid())
	if strings.Contains(tr.errOut.String(), probed) {
		t.Fatalf("libssl probed before Python mapped it:\n%s", tr.errOut.String())
	}
	io.WriteString(py.stdin, "load\n")
	if l := py.line(t); l != "loaded" {
		t.Fatalf("python: %q", l)
	}
	// Scans run every 0.5 s; 20 s covers a loaded machine.
	tr.waitStderr(t, probed, 20*time.Second)
	io.WriteString(py.stdin, "go\n")
	var got map[string]int
	if err := json.Unmarshal([]byte(py.line(t)), &got); err != nil {
		t.Fatal(err)
	}
	recs := tr.stop(t)
	client := endpointCounts(clientsOf(t, recs.byRole("client", py.pid()), "python3", ng.addr))
	t.Logf("python got %v; traced %v", got, client)
	if !sameCounts(client, got) {
		t.Errorf("client rows %v, python got %v", client, got)
	}
	if logged := ng.accessLog(t); sum(got) != len(paths) || !sameCounts(logged, got) {
		t.Fatalf("python got %v for %d requests, nginx logged %v", got, len(paths), logged)
	}
}
