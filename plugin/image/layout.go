package image

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// Annotations containerd and OCI tools read for an image's name in a layout.
const (
	annotRefName       = "org.opencontainers.image.ref.name"
	annotContainerName = "io.containerd.image.name"
)

// WriteTarball writes idx as an OCI image layout tarball named ref (a
// full name with host and tag: `ctr images import` keeps it as given). An
// index of one image is written as that image, so every tool imports it.
// The tarball is reproducible: entries sorted, times t, owner 0.
func WriteTarball(out string, idx v1.ImageIndex, ref string, t time.Time) error {
	dir, err := os.MkdirTemp("", "pixie-layout-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		return err
	}
	names := layout.WithAnnotations(map[string]string{annotRefName: ref, annotContainerName: ref})
	top, err := Top(idx)
	if err != nil {
		return err
	}
	if img, ok := top.(v1.Image); ok {
		err = p.AppendImage(img, names)
	} else {
		err = p.AppendIndex(idx, names)
	}
	if err != nil {
		return fmt.Errorf("writing the image layout: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return err
	}
	f, err := os.Create(out + ".tmp")
	if err != nil {
		return err
	}
	defer os.Remove(out + ".tmp")
	if err := tarDir(f, dir, t); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(out+".tmp", out)
}

// Top is what a registry should hold for idx: its only image, or idx.
func Top(idx v1.ImageIndex) (remote.Taggable, error) {
	m, err := idx.IndexManifest()
	if err != nil {
		return nil, err
	}
	if len(m.Manifests) == 1 && m.Manifests[0].MediaType.IsImage() {
		return idx.Image(m.Manifests[0].Digest)
	}
	return idx, nil
}

// tarDir writes the files under dir in name order, owned by 0, at time t.
func tarDir(w io.Writer, dir string, t time.Time) error {
	var names []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == dir {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		names = append(names, filepath.ToSlash(rel))
		return err
	})
	if err != nil {
		return err
	}
	sort.Strings(names)
	tw := tar.NewWriter(w)
	for _, n := range names {
		st, err := os.Stat(filepath.Join(dir, n))
		if err != nil {
			return err
		}
		h := &tar.Header{Name: n, ModTime: t.UTC(), Typeflag: tar.TypeReg, Mode: 0o644, Size: st.Size(), Format: tar.FormatUSTAR}
		if st.IsDir() {
			h.Name, h.Typeflag, h.Mode, h.Size = n+"/", tar.TypeDir, 0o755, 0
		}
		if err := tw.WriteHeader(h); err != nil {
			return fmt.Errorf("tar header %s: %w", n, err)
		}
		if !st.IsDir() {
			if err := copyFile(tw, filepath.Join(dir, n)); err != nil {
				return err
			}
		}
	}
	return tw.Close()
}

func copyFile(w io.Writer, p string) error {
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(w, f)
	return err
}

// Tarball is an image read from an OCI layout tarball.
type Tarball struct {
	// Name is the name the tarball gives its image ("" when it has none).
	Name string
	// Image is the image or index to push.
	Image remote.Taggable
	dir   string
}

// Close removes the unpacked layout.
func (t *Tarball) Close() error { return os.RemoveAll(t.dir) }

// ReadTarball unpacks an OCI layout tarball (as WriteTarball and
// `make dist` write it) and returns its first image or index.
func ReadTarball(path string) (*Tarball, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	dir, err := os.MkdirTemp("", "pixie-layout-")
	if err != nil {
		return nil, err
	}
	t := &Tarball{dir: dir}
	if err := untar(f, dir); err != nil {
		t.Close()
		return nil, fmt.Errorf("%s is not an OCI image layout tarball: %w", path, err)
	}
	if err := t.load(); err != nil {
		t.Close()
		return nil, fmt.Errorf("%s is not an OCI image layout tarball: %w (use the kubectl-pixie-probe_VERSION.oci.tar of a release)", path, err)
	}
	return t, nil
}

func (t *Tarball) load() error {
	idx, err := layout.ImageIndexFromPath(t.dir)
	if err != nil {
		return err
	}
	m, err := idx.IndexManifest()
	if err != nil {
		return err
	}
	if len(m.Manifests) == 0 {
		return errors.New("its index.json lists no image")
	}
	d := m.Manifests[0]
	t.Name = d.Annotations[annotContainerName]
	if t.Name == "" {
		t.Name = d.Annotations[annotRefName]
	}
	switch {
	case d.MediaType.IsIndex():
		t.Image, err = idx.ImageIndex(d.Digest)
	case d.MediaType.IsImage():
		t.Image, err = idx.Image(d.Digest)
	default:
		err = fmt.Errorf("its index.json names a %s, not an image", d.MediaType)
	}
	return err
}

// untar unpacks regular files and directories, refusing paths that leave dir.
func untar(r io.Reader, dir string) error {
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if !filepath.IsLocal(h.Name) {
			return fmt.Errorf("entry %q leaves the archive", h.Name)
		}
		p := filepath.Join(dir, filepath.FromSlash(h.Name))
		switch h.Typeflag {
		case tar.TypeDir:
			err = os.MkdirAll(p, 0o755)
		case tar.TypeReg:
			err = writeFile(p, tr)
		default:
			err = fmt.Errorf("entry %q is not a file or directory", h.Name)
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
	f, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, r); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
