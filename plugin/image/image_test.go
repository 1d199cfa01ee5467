package image

import (
	"archive/tar"
	"bytes"
	"context"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// helloOnce maps an architecture to its build, done once.
var helloOnce sync.Map

// hello builds testdata/hello for linux/arch once per test binary: a real
// static ELF to put in images.
func hello(t *testing.T, arch string) string {
	t.Helper()
	if testing.Short() {
		// Under -race (make test-race) compressing real binaries takes minutes.
		t.Skip("SKIP: -short: builds and compresses a real binary (make test runs this)")
	}
	f, _ := helloOnce.LoadOrStore(arch, sync.OnceValues(func() (string, error) {
		dir, err := os.MkdirTemp("", "pixie-hello-")
		if err != nil {
			return "", err
		}
		out := filepath.Join(dir, "hello-"+arch)
		cmd := exec.Command("go", "build", "-trimpath", "-o", out, "./testdata/hello")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+arch)
		if b, err := cmd.CombinedOutput(); err != nil {
			return "", &buildError{string(b), err}
		}
		return out, nil
	}))
	p, err := f.(func() (string, error))()
	if err != nil {
		t.Fatalf("building the stand-in binary for %s: %v", arch, err)
	}
	return p
}

type buildError struct {
	out string
	err error
}

func (e *buildError) Error() string { return e.err.Error() + "\n" + e.out }

func spec(t *testing.T, epoch int64, arches ...string) Spec {
	s := Spec{Entrypoint: "/pixie-agent", Binaries: map[string]string{}, Title: "test", Created: time.Unix(epoch, 0)}
	for _, a := range arches {
		s.Binaries[a] = hello(t, a)
	}
	return s
}

// TestBuildReproducible: the same inputs give the same digests and
// tarball bytes; another time gives another digest.
func TestBuildReproducible(t *testing.T) {
	digestAndTar := func(epoch int64) (v1.Hash, []byte) {
		idx, err := Build(spec(t, epoch, "amd64", "arm64"))
		if err != nil {
			t.Fatal(err)
		}
		d, err := idx.Digest()
		if err != nil {
			t.Fatal(err)
		}
		out := filepath.Join(t.TempDir(), "probe.tar")
		if err := WriteTarball(out, idx, "localhost/probe:v1", time.Unix(epoch, 0)); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		return d, b
	}
	d1, tar1 := digestAndTar(1700000000)
	d2, tar2 := digestAndTar(1700000000)
	if d1 != d2 || !bytes.Equal(tar1, tar2) {
		t.Errorf("two builds of the same inputs differ: %s vs %s (tarballs equal: %v)", d1, d2, bytes.Equal(tar1, tar2))
	}
	if d3, _ := digestAndTar(1700000001); d3 == d1 {
		t.Error("the epoch does not reach the image")
	}
}

// TestTarballRoundTrip writes both shapes and reads them back: a
// multi-arch index, and a single image for one architecture.
func TestTarballRoundTrip(t *testing.T) {
	for _, arches := range [][]string{{"amd64", "arm64"}, {runtime.GOARCH}} {
		t.Run(strings.Join(arches, "+"), func(t *testing.T) {
			s := spec(t, 1700000000, arches...)
			idx, err := Build(s)
			if err != nil {
				t.Fatal(err)
			}
			out := filepath.Join(t.TempDir(), "probe.tar")
			if err := WriteTarball(out, idx, "localhost/kubectl-pixie/probe:v1", s.Created); err != nil {
				t.Fatal(err)
			}
			tb, err := ReadTarball(out)
			if err != nil {
				t.Fatal(err)
			}
			defer tb.Close()
			if tb.Name != "localhost/kubectl-pixie/probe:v1" {
				t.Errorf("name %q", tb.Name)
			}
			want, _ := Top(idx)
			wd, _ := Digest(want)
			if gd, err := Digest(tb.Image); err != nil || gd != wd {
				t.Errorf("read back %v (%v), wrote %v", gd, err, wd)
			}
			checkImages(t, tb.Image, s)
		})
	}
}

// checkImages checks every image in t against s: platform, entrypoint,
// time, and one layer holding the binary, executable, owned by 0.
func checkImages(t *testing.T, top any, s Spec) {
	t.Helper()
	images := map[string]v1.Image{}
	switch top := top.(type) {
	case v1.Image:
		cf, err := top.ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		images[cf.Architecture] = top
	case v1.ImageIndex:
		m, err := top.IndexManifest()
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range m.Manifests {
			img, err := top.Image(d.Digest)
			if err != nil {
				t.Fatal(err)
			}
			images[d.Platform.Architecture] = img
		}
	}
	if len(images) != len(s.Binaries) {
		t.Fatalf("%d images, want %d", len(images), len(s.Binaries))
	}
	for arch, img := range images {
		cf, err := img.ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		if cf.OS != "linux" || cf.Architecture != arch || strings.Join(cf.Config.Entrypoint, " ") != s.Entrypoint || !cf.Created.Equal(s.Created) {
			t.Errorf("%s: config %s/%s entrypoint %v created %v", arch, cf.OS, cf.Architecture, cf.Config.Entrypoint, cf.Created)
		}
		want, _ := os.ReadFile(s.Binaries[arch])
		files := layerFiles(t, img)
		if len(files) != 1 || !bytes.Equal(files[s.Entrypoint[1:]], want) {
			t.Errorf("%s: layer holds %d files, not just %s", arch, len(files), s.Entrypoint)
		}
		if err := CheckELF(files[s.Entrypoint[1:]], arch); err != nil {
			t.Errorf("%s: %v", arch, err)
		}
	}
}

func layerFiles(t *testing.T, img v1.Image) map[string][]byte {
	t.Helper()
	layers, err := img.Layers()
	if err != nil || len(layers) != 1 {
		t.Fatalf("%d layers (%v), want 1", len(layers), err)
	}
	rc, err := layers[0].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	files := map[string][]byte{}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return files
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Mode != 0o755 || h.Uid != 0 || h.Gid != 0 {
			t.Errorf("%s: mode %o owner %d:%d", h.Name, h.Mode, h.Uid, h.Gid)
		}
		files[h.Name], _ = io.ReadAll(tr)
	}
}

func TestBuildRejects(t *testing.T) {
	notELF := filepath.Join(t.TempDir(), "script")
	if err := os.WriteFile(notELF, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		spec Spec
		want string
	}{
		{"wrong arch", Spec{Entrypoint: "/a", Binaries: map[string]string{"arm64": hello(t, "amd64")}}, "is not arm64"},
		{"not ELF", Spec{Entrypoint: "/a", Binaries: map[string]string{"amd64": notELF}}, "not an ELF binary"},
		{"missing", Spec{Entrypoint: "/a", Binaries: map[string]string{"amd64": notELF + ".gone"}}, "reading the amd64 binary"},
		{"unknown arch", Spec{Entrypoint: "/a", Binaries: map[string]string{"riscv64": notELF}}, "unsupported architecture"},
		{"relative entrypoint", Spec{Entrypoint: "a", Binaries: map[string]string{"amd64": notELF}}, "not a clean absolute"},
		{"no binary", Spec{Entrypoint: "/a"}, "no binary given"},
	} {
		if _, err := Build(c.spec); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want %q", c.name, err, c.want)
		}
	}
}

// TestReadTarballRejects: not a tarball, a path escaping the archive, no layout.
func TestReadTarballRejects(t *testing.T) {
	dir := t.TempDir()
	evil := filepath.Join(dir, "evil.tar")
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	_ = tw.WriteHeader(&tar.Header{Name: "../escape", Mode: 0o644, Size: 1, Typeflag: tar.TypeReg})
	_, _ = tw.Write([]byte("x"))
	_ = tw.Close()
	empty := filepath.Join(dir, "empty.tar")
	var ebuf bytes.Buffer
	_ = tar.NewWriter(&ebuf).Close()
	for p, b := range map[string][]byte{evil: buf.Bytes(), empty: ebuf.Bytes(), filepath.Join(dir, "text"): []byte("hello")} {
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		if tb, err := ReadTarball(p); err == nil || !strings.Contains(err.Error(), "not an OCI image layout tarball") {
			t.Errorf("%s: got %v, %v", filepath.Base(p), tb, err)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "escape")); err == nil {
		t.Error("an entry escaped the unpack directory")
	}
}

// TestPushAndGet against go-containerregistry's in-memory registry (the
// real registry is in test/release): push, get back, and the errors.
func TestPushAndGet(t *testing.T) {
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	idx, err := Build(spec(t, 1, "amd64", "arm64"))
	if err != nil {
		t.Fatal(err)
	}
	opts := Options(context.Background(), "test")
	ref, err := name.ParseReference(host + "/pixie/probe:v1")
	if err != nil {
		t.Fatal(err)
	}
	d, err := Push(idx, ref, opts...)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Get(ref, opts...)
	if err != nil {
		t.Fatal(err)
	}
	if gd, _ := Digest(got); gd != d {
		t.Errorf("got %s back, pushed %s", gd, d)
	}
	missing, _ := name.ParseReference(host + "/pixie/probe:v2")
	if _, err := Get(missing, opts...); err == nil || !strings.Contains(err.Error(), "has no such image") {
		t.Errorf("missing tag: %v", err)
	}
	srv.Close()
	if _, err := Get(ref, opts...); err == nil || !strings.Contains(err.Error(), "cannot be reached") {
		t.Errorf("registry down: %v", err)
	}
}
