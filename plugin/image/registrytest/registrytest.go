// Package registrytest starts a real registry for tests: Debian's
// docker-registry (the distribution registry v2) on a free loopback port,
// with its own config and storage, stopped when the test ends. Without the
// program a test skips loudly, or fails when PIXIE_REQUIRE_PRIVILEGED=1 (CI
// installs it with hack/deps.sh).
package registrytest

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// Program is the registry binary (Debian package docker-registry).
const Program = "docker-registry"

// Registry is a running registry.
type Registry struct {
	// Host is HOST:PORT on 127.0.0.1 (plain HTTP, as go-containerregistry
	// uses for loopback addresses).
	Host string
	cmd  *exec.Cmd
	logs *bytes.Buffer
	done chan struct{} // closed when the process has exited
}

// Start runs a registry until the test ends.
func Start(t testing.TB) *Registry {
	t.Helper()
	bin, err := exec.LookPath(Program)
	if err != nil {
		msg := fmt.Sprintf("SKIP: %s not installed (apt-get install docker-registry, or bash hack/deps.sh)", Program)
		if os.Getenv("PIXIE_REQUIRE_PRIVILEGED") == "1" {
			t.Fatal(msg + "; PIXIE_REQUIRE_PRIVILEGED=1 requires it")
		}
		t.Skip(msg)
	}
	for attempt := 0; ; attempt++ {
		r, err := start(t, bin)
		if err == nil {
			return r
		}
		if attempt == 4 {
			t.Fatal(err)
		}
		t.Logf("registry did not start (%v), trying another port", err)
	}
}

// Stop ends the registry now (to test a registry that is down).
func (r *Registry) Stop() {
	_ = r.cmd.Process.Kill()
	<-r.done
}

func start(t testing.TB, bin string) (*Registry, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	dir := t.TempDir()
	cfg := filepath.Join(dir, "config.yml")
	conf := fmt.Sprintf(`version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: %s
  delete:
    enabled: true
http:
  addr: 127.0.0.1:%d
`, filepath.Join(dir, "storage"), port)
	if err := os.WriteFile(cfg, []byte(conf), 0o644); err != nil {
		return nil, err
	}
	r := &Registry{Host: fmt.Sprintf("127.0.0.1:%d", port), logs: &bytes.Buffer{}, done: make(chan struct{})}
	r.cmd = exec.Command(bin, "serve", cfg)
	r.cmd.Stdout, r.cmd.Stderr = r.logs, r.logs
	if err := r.cmd.Start(); err != nil {
		return nil, err
	}
	go func() { _ = r.cmd.Wait(); close(r.done) }()
	t.Cleanup(r.Stop)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		if ping(ctx, r.Host) {
			return r, nil
		}
		select {
		case <-r.done:
			return nil, fmt.Errorf("%s exited: %v\n%s", Program, r.cmd.ProcessState, r.logs)
		case <-ctx.Done():
			r.Stop()
			return nil, fmt.Errorf("%s did not answer on %s within 30s:\n%s", Program, r.Host, r.logs)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func ping(ctx context.Context, host string) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+host+"/v2/", nil)
	if err != nil {
		return false
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
