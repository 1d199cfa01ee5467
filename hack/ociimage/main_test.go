package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/kubectl-pixie/kubectl-pixie/plugin/image"
)

// build compiles plugin/image's stand-in binary for linux/arch.
func build(t *testing.T, arch string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "hello-"+arch)
	cmd := exec.Command("go", "build", "-o", out, "../../plugin/image/testdata/hello")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+arch)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building the stand-in agent: %v\n%s", err, b)
	}
	return out
}

func probeConfig(t *testing.T, out, name string, arches ...string) config {
	c := config{out: out, name: name, spec: image.Spec{Entrypoint: "/pixie-agent", Binaries: map[string]string{}, Created: time.Unix(1700000000, 0)}}
	for _, a := range arches {
		c.spec.Binaries[a] = build(t, a)
	}
	return c
}

// TestRunWritesDigest: the digest printed and written is the one of the
// tarball's image, so the release can bake it before pushing.
func TestRunWritesDigest(t *testing.T) {
	c := probeConfig(t, filepath.Join(t.TempDir(), "probe.tar"), "localhost/probe:v1", "amd64", "arm64")
	c.digestFile = filepath.Join(t.TempDir(), "digest")
	var stdout bytes.Buffer
	if err := run(context.Background(), c, &stdout); err != nil {
		t.Fatal(err)
	}
	tb, err := image.ReadTarball(c.out)
	if err != nil {
		t.Fatal(err)
	}
	defer tb.Close()
	d, err := image.Digest(tb.Image)
	if err != nil {
		t.Fatal(err)
	}
	written, _ := os.ReadFile(c.digestFile)
	if strings.TrimSpace(string(written)) != d.String() || !strings.HasPrefix(stdout.String(), d.String()+" ") {
		t.Errorf("tarball %s, digest file %q, printed %q", d, written, stdout.String())
	}
}

// TestContainerdImports imports both tarballs into a private containerd
// (its own root and socket, no CRI), as the cluster harness does with
// `ctr -n k8s.io images import`, and runs the single-arch one when runc is
// there. Needs root, containerd and ctr.
func TestContainerdImports(t *testing.T) {
	if os.Getuid() != 0 || runtime.GOOS != "linux" {
		t.Skip("SKIP: needs root on linux to run a private containerd")
	}
	for _, c := range []string{"containerd", "ctr"} {
		if _, err := exec.LookPath(c); err != nil {
			t.Skipf("SKIP: %s not installed", c)
		}
	}
	dir, err := os.MkdirTemp("", "ociimage-ctd") // short: the socket path has a length limit
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	sock := filepath.Join(dir, "ctd.sock")
	cfg := filepath.Join(dir, "config.toml")
	os.WriteFile(cfg, []byte(`version = 2
root = "`+dir+`/root"
state = "`+dir+`/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "`+sock+`"
`), 0o644)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var logs bytes.Buffer
	daemon := exec.CommandContext(ctx, "containerd", "--config", cfg)
	daemon.Stdout, daemon.Stderr = &logs, &logs
	if err := daemon.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { daemon.Process.Kill(); daemon.Wait() })
	ctr := func(args ...string) (string, error) {
		b, err := exec.CommandContext(ctx, "ctr", append([]string{"--address", sock, "-n", "k8s.io"}, args...)...).CombinedOutput()
		return string(b), err
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		if _, err := ctr("version"); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("containerd did not start:\n%s", logs.String())
		}
	}

	// Real static binaries, so the image of this arch can run.
	single := probeConfig(t, filepath.Join(t.TempDir(), "single.tar"), "localhost/kubectl-pixie/probe:single", runtime.GOARCH)
	multi := probeConfig(t, filepath.Join(t.TempDir(), "multi.tar"), "localhost/kubectl-pixie/probe:multi", "amd64", "arm64")
	for _, c := range []config{single, multi} {
		if err := run(ctx, c, &bytes.Buffer{}); err != nil {
			t.Fatal(err)
		}
		if out, err := ctr("images", "import", c.out); err != nil {
			t.Fatalf("import %s: %v\n%s", c.out, err, out)
		}
	}
	out, err := ctr("images", "ls", "-q")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"localhost/kubectl-pixie/probe:single", "localhost/kubectl-pixie/probe:multi"} {
		if !strings.Contains(out, want+"\n") {
			t.Errorf("containerd has %q, not %s", out, want)
		}
	}
	if _, err := exec.LookPath("runc"); err != nil {
		t.Skip("SKIP run: no runc")
	}
	// No command given: ctr runs the image's entrypoint, /pixie-agent.
	out, err = ctr("run", "--rm", "localhost/kubectl-pixie/probe:single", "ociimage-test")
	if err != nil || strings.TrimSpace(out) != "hello" {
		t.Errorf("running the image: %v\n%s", err, out)
	}
}
