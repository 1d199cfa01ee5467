//go:build linux

package profile

import (
	"bytes"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kubectl-pixie/kubectl-pixie/plugin/flame"
	"github.com/kubectl-pixie/kubectl-pixie/probes/internal/probetest"
)

// TestLocalCLI runs `kubectl pixie profile --local` as users do: the plugin
// binary re-executes itself as the agent and reads its NDJSON stream.
func TestLocalCLI(t *testing.T) {
	probetest.RequirePrivileged(t)
	probetest.RequireCommand(t, "go")
	dir := t.TempDir()
	plugin, burn := filepath.Join(dir, "kubectl-pixie"), filepath.Join(dir, "goburn")
	for bin, pkg := range map[string]string{plugin: "../../cmd/kubectl-pixie", burn: "./testdata/goburn"} {
		if out, err := exec.Command("go", "build", "-o", bin, pkg).CombinedOutput(); err != nil {
			t.Fatalf("go build %s: %v\n%s", pkg, err, out)
		}
	}
	w := start(t, "go", "main.hotAlpha", burn, "12")
	pid := fmt.Sprint(w.pid())

	var stdout, stderr bytes.Buffer
	cmd := exec.Command(plugin, "profile", "--local", "--pid", pid, "--duration", "4s", "-o", "folded")
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("profile -o folded: %v\n%s", err, stderr.String())
	}
	p, err := flame.ParseFolded(&stdout, 99)
	if err != nil {
		t.Fatal(err)
	}
	top := p.Top(1)
	if p.Total() < 20 || len(top) == 0 || top[0].Name != "main.hotAlpha" {
		t.Fatalf("folded profile: %d samples, top %+v\n%s", p.Total(), top, stderr.String())
	}
	if !strings.Contains(stderr.String(), "samples ") || !strings.Contains(stderr.String(), "1 process") {
		t.Fatalf("stderr summary: %q", stderr.String())
	}

	stdout.Reset()
	stderr.Reset()
	cmd = exec.Command(plugin, "profile", "--local", "--comm", "goburn", "--duration", "3s", "--kernel", "--color", "never")
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("profile (terminal): %v\n%s", err, stderr.String())
	}
	out := stdout.String()
	if !strings.Contains(out, "TOP (self)") || !strings.Contains(out, "main.hotAlpha") || !strings.Contains(out, "all ") || strings.Contains(out, "\x1b") {
		t.Fatalf("terminal output:\n%s", out)
	}
	t.Logf("terminal output:\n%s\n%s", out, stderr.String())
}
