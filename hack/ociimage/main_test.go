package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// fakeAgent writes a file with an ELF header for arch (enough for checkELF).
func fakeAgent(t *testing.T, arch string) string {
	t.Helper()
	machine := map[string]byte{"amd64": 62, "arm64": 183}[arch]
	b := make([]byte, 64)
	copy(b, "\x7fELF\x02\x01\x01")
	b[18] = machine
	b = append(b, []byte("agent for "+arch)...)
	p := filepath.Join(t.TempDir(), "pixie-agent-"+arch)
	if err := os.WriteFile(p, b, 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func untar(t *testing.T, b []byte) (map[string][]byte, []*tar.Header) {
	t.Helper()
	files := map[string][]byte{}
	var headers []*tar.Header
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return files, headers
		}
		if err != nil {
			t.Fatal(err)
		}
		headers = append(headers, h)
		c, _ := io.ReadAll(tr)
		files[h.Name] = c
	}
}

// blob reads a blob and checks that its name is its digest.
func blob(t *testing.T, files map[string][]byte, d descriptor) []byte {
	t.Helper()
	c, ok := files[blobPath(d.Digest)]
	if !ok {
		t.Fatalf("blob %s missing", d.Digest)
	}
	sum := sha256.Sum256(c)
	if "sha256:"+hex.EncodeToString(sum[:]) != d.Digest || int64(len(c)) != d.Size {
		t.Fatalf("blob %s: content does not match its descriptor", d.Digest)
	}
	return c
}

func checkImage(t *testing.T, files map[string][]byte, m descriptor, arch string, agent []byte, created time.Time) {
	t.Helper()
	var man manifest
	if err := json.Unmarshal(blob(t, files, m), &man); err != nil {
		t.Fatal(err)
	}
	var cfg imageConfig
	if err := json.Unmarshal(blob(t, files, man.Config), &cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.Architecture != arch || cfg.OS != "linux" || strings.Join(cfg.Config.Entrypoint, " ") != "/pixie-agent" {
		t.Errorf("config: %s/%s entrypoint %v", cfg.OS, cfg.Architecture, cfg.Config.Entrypoint)
	}
	if cfg.Created != created.Format(time.RFC3339) {
		t.Errorf("created %s, want %s", cfg.Created, created.Format(time.RFC3339))
	}
	if len(man.Layers) != 1 {
		t.Fatalf("%d layers, want 1", len(man.Layers))
	}
	zr, err := gzip.NewReader(bytes.NewReader(blob(t, files, man.Layers[0])))
	if err != nil {
		t.Fatal(err)
	}
	rootfs, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(rootfs)
	if len(cfg.RootFS.DiffIDs) != 1 || cfg.RootFS.DiffIDs[0] != "sha256:"+hex.EncodeToString(sum[:]) {
		t.Errorf("diff_ids %v do not match the layer", cfg.RootFS.DiffIDs)
	}
	layer, headers := untar(t, rootfs)
	if len(headers) != 1 || headers[0].Name != "pixie-agent" || headers[0].Mode != 0o755 || headers[0].Uid != 0 {
		t.Fatalf("layer entries: %+v", headers)
	}
	if !bytes.Equal(layer["pixie-agent"], agent) {
		t.Error("layer does not hold the agent")
	}
}

func TestSingleArchImage(t *testing.T) {
	agent := fakeAgent(t, "amd64")
	agentBytes, _ := os.ReadFile(agent)
	created := time.Unix(1700000000, 0).UTC()
	out := filepath.Join(t.TempDir(), "img.tar")
	const name = "localhost/kubectl-pixie/probe:dev"
	if err := run(out, name, created, agentFlag{"amd64": agent}); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(out)
	files, headers := untar(t, b)
	for i, h := range headers {
		if h.Uid != 0 || h.Gid != 0 || !h.ModTime.Equal(created) {
			t.Errorf("%s: owner %d:%d time %v", h.Name, h.Uid, h.Gid, h.ModTime)
		}
		if i > 0 && headers[i-1].Name >= h.Name {
			t.Errorf("entries not sorted at %s", h.Name)
		}
	}
	if string(files["oci-layout"]) != `{"imageLayoutVersion":"1.0.0"}` {
		t.Errorf("oci-layout %q", files["oci-layout"])
	}
	var idx index
	if err := json.Unmarshal(files["index.json"], &idx); err != nil {
		t.Fatal(err)
	}
	if len(idx.Manifests) != 1 || idx.Manifests[0].MediaType != mediaManifest {
		t.Fatalf("index.json: %+v", idx)
	}
	m := idx.Manifests[0]
	if m.Annotations[annotContainerName] != name || m.Annotations[annotRefName] != name {
		t.Errorf("annotations %v", m.Annotations)
	}
	checkImage(t, files, m, "amd64", agentBytes, created)
	var docker []dockerManifest
	if err := json.Unmarshal(files["manifest.json"], &docker); err != nil || len(docker) != 1 || docker[0].RepoTags[0] != name {
		t.Errorf("manifest.json: %s (%v)", files["manifest.json"], err)
	}

	// Reproducible: the same inputs give the same bytes.
	out2 := filepath.Join(t.TempDir(), "img.tar")
	if err := run(out2, name, created, agentFlag{"amd64": agent}); err != nil {
		t.Fatal(err)
	}
	if b2, _ := os.ReadFile(out2); !bytes.Equal(b, b2) {
		t.Error("two builds differ")
	}
}

func TestMultiArchImage(t *testing.T) {
	agents := agentFlag{"amd64": fakeAgent(t, "amd64"), "arm64": fakeAgent(t, "arm64")}
	created := time.Unix(1700000000, 0).UTC()
	out := filepath.Join(t.TempDir(), "img.tar")
	const name = "localhost/kubectl-pixie/probe:v1.2.3"
	if err := run(out, name, created, agents); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(out)
	files, _ := untar(t, b)
	if _, ok := files["manifest.json"]; ok {
		t.Error("multi-arch tarball has a docker manifest.json")
	}
	var top index
	if err := json.Unmarshal(files["index.json"], &top); err != nil {
		t.Fatal(err)
	}
	if len(top.Manifests) != 1 || top.Manifests[0].MediaType != mediaIndex || top.Manifests[0].Annotations[annotContainerName] != name {
		t.Fatalf("index.json: %+v", top)
	}
	var nested index
	if err := json.Unmarshal(blob(t, files, top.Manifests[0]), &nested); err != nil {
		t.Fatal(err)
	}
	if len(nested.Manifests) != 2 {
		t.Fatalf("%d manifests, want 2", len(nested.Manifests))
	}
	for _, m := range nested.Manifests {
		arch := m.Platform.Architecture
		agent, _ := os.ReadFile(agents[arch])
		checkImage(t, files, m, arch, agent, created)
	}
}

func TestRejects(t *testing.T) {
	out := filepath.Join(t.TempDir(), "img.tar")
	created := time.Unix(0, 0)
	if err := run(out, "probe:dev", created, agentFlag{"amd64": fakeAgent(t, "amd64")}); err == nil {
		t.Error("accepted a name without a host")
	}
	if err := run(out, "localhost/probe:dev", created, agentFlag{"amd64": fakeAgent(t, "arm64")}); err == nil {
		t.Error("accepted an arm64 binary as amd64")
	}
	notELF := filepath.Join(t.TempDir(), "script")
	os.WriteFile(notELF, []byte("#!/bin/sh\n"), 0o755)
	if err := run(out, "localhost/probe:dev", created, agentFlag{"amd64": notELF}); err == nil {
		t.Error("accepted a non-ELF agent")
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

	// A real static binary of this arch, so the image can run.
	agent := filepath.Join(t.TempDir(), "pixie-agent")
	build := exec.Command("go", "build", "-o", agent, "./testdata/hello")
	build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux")
	if b, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the stand-in agent: %v\n%s", err, b)
	}
	single := filepath.Join(t.TempDir(), "single.tar")
	if err := run(single, "localhost/kubectl-pixie/probe:single", time.Unix(1700000000, 0), agentFlag{runtime.GOARCH: agent}); err != nil {
		t.Fatal(err)
	}
	multi := filepath.Join(t.TempDir(), "multi.tar")
	if err := run(multi, "localhost/kubectl-pixie/probe:multi", time.Unix(1700000000, 0), agentFlag{"amd64": fakeAgent(t, "amd64"), "arm64": fakeAgent(t, "arm64")}); err != nil {
		t.Fatal(err)
	}
	for _, tarball := range []string{single, multi} {
		if out, err := ctr("images", "import", tarball); err != nil {
			t.Fatalf("import %s: %v\n%s", tarball, err, out)
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
