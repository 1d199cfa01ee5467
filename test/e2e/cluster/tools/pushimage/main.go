// pushimage: push an image tarball to a registry over plain HTTP and print
// the pushed reference with its digest (REPO@sha256:...), which is what the
// e2e tests give the plugin as --image: nodes then pull exactly these bytes.
//
//	pushimage -tar probe.tar -ref 127.0.0.1:5010/kubectl-pixie/probe:dev
//
// The tarball is a docker-archive (manifest.json, what tools/mkimage and
// `make image` write) or an OCI image layout (index.json); an OCI index with
// several images is pushed as an index.
package main

import (
	"archive/tar"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

func main() {
	tarPath := flag.String("tar", "", "image tarball (docker-archive or OCI layout)")
	ref := flag.String("ref", "", "where to push: HOST:PORT/REPO:TAG (plain HTTP)")
	flag.Parse()
	if *tarPath == "" || *ref == "" {
		fmt.Fprintln(os.Stderr, "pushimage: need -tar FILE and -ref HOST:PORT/REPO:TAG")
		os.Exit(2)
	}
	out, err := push(*tarPath, *ref)
	if err != nil {
		fmt.Fprintf(os.Stderr, "pushimage: %s -> %s: %v\n", *tarPath, *ref, err)
		os.Exit(1)
	}
	fmt.Println(out)
}

func push(tarPath, ref string) (string, error) {
	tag, err := name.NewTag(ref, name.Insecure)
	if err != nil {
		return "", err
	}
	names, err := tarNames(tarPath)
	if err != nil {
		return "", err
	}
	var digest v1.Hash
	switch {
	case names["manifest.json"]:
		img, err := tarball.ImageFromPath(tarPath, nil)
		if err != nil {
			return "", err
		}
		if err := remote.Write(tag, img); err != nil {
			return "", err
		}
		digest, err = img.Digest()
		if err != nil {
			return "", err
		}
	case names["index.json"]:
		digest, err = pushLayout(tarPath, tag)
		if err != nil {
			return "", err
		}
	default:
		return "", errors.New("neither manifest.json (docker-archive) nor index.json (OCI layout) in the tarball")
	}
	return tag.Context().Name() + "@" + digest.String(), nil
}

// pushLayout pushes an OCI layout tarball: its only image, or its index.
func pushLayout(tarPath string, tag name.Tag) (v1.Hash, error) {
	dir, err := os.MkdirTemp("", "pushimage-")
	if err != nil {
		return v1.Hash{}, err
	}
	defer func() { _ = os.RemoveAll(dir) }()
	if err := untar(tarPath, dir); err != nil {
		return v1.Hash{}, err
	}
	top, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		return v1.Hash{}, err
	}
	m, err := top.IndexManifest()
	if err != nil {
		return v1.Hash{}, err
	}
	if len(m.Manifests) != 1 {
		return v1.Hash{}, fmt.Errorf("index.json lists %d entries, want 1", len(m.Manifests))
	}
	d := m.Manifests[0]
	if d.MediaType.IsIndex() {
		idx, err := top.ImageIndex(d.Digest)
		if err != nil {
			return v1.Hash{}, err
		}
		return d.Digest, remote.WriteIndex(tag, idx)
	}
	img, err := top.Image(d.Digest)
	if err != nil {
		return v1.Hash{}, err
	}
	return d.Digest, remote.Write(tag, img)
}

func tarNames(path string) (map[string]bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer func() { _ = f.Close() }()
	names := map[string]bool{}
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return names, nil
		}
		if err != nil {
			return nil, err
		}
		names[strings.TrimPrefix(h.Name, "./")] = true
	}
}

func untar(path, dir string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer func() { _ = f.Close() }()
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		p := filepath.Join(dir, filepath.Clean("/"+h.Name))
		switch h.Typeflag {
		case tar.TypeDir:
			err = os.MkdirAll(p, 0o755)
		case tar.TypeReg:
			err = writeFile(p, tr)
		}
		if err != nil {
			return err
		}
	}
}

func writeFile(p string, r io.Reader) error {
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	w, err := os.Create(p)
	if err != nil {
		return err
	}
	if _, err := io.Copy(w, r); err != nil {
		_ = w.Close()
		return err
	}
	return w.Close()
}
