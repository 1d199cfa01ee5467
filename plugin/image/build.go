// Package image builds, stores and copies kubectl pixie's images with
// go-containerregistry: the probe image (the agent alone, FROM scratch) and
// the plugin image, each an index of linux/amd64 and linux/arm64 images.
// Builds are reproducible: the same binaries and time give the same digests.
package image

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"debug/elf"
	"fmt"
	"io"
	"os"
	"path"
	"sort"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Spec describes an image of one static binary per architecture.
type Spec struct {
	// Entrypoint is the binary's absolute path in the image, e.g. /pixie-agent.
	Entrypoint string
	// Binaries maps a Go architecture (amd64, arm64) to a static linux binary.
	Binaries map[string]string
	// Title goes into the org.opencontainers.image.title label.
	Title string
	// Created is every timestamp in the image (SOURCE_DATE_EPOCH).
	Created time.Time
}

// elfMachines are the architectures an image can hold.
var elfMachines = map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64}

// Build returns an OCI index with one image per architecture, in name order.
func Build(s Spec) (v1.ImageIndex, error) {
	if !path.IsAbs(s.Entrypoint) || path.Clean(s.Entrypoint) != s.Entrypoint || s.Entrypoint == "/" {
		return nil, fmt.Errorf("entrypoint %q is not a clean absolute file path: use e.g. /pixie-agent", s.Entrypoint)
	}
	if len(s.Binaries) == 0 {
		return nil, fmt.Errorf("no binary given: name one per architecture (amd64, arm64)")
	}
	arches := make([]string, 0, len(s.Binaries))
	for a := range s.Binaries {
		arches = append(arches, a)
	}
	sort.Strings(arches)
	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	for _, arch := range arches {
		img, err := buildOne(s, arch)
		if err != nil {
			return nil, err
		}
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{
			Add:        img,
			Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: arch}},
		})
	}
	return idx, nil
}

func buildOne(s Spec, arch string) (v1.Image, error) {
	bin, err := os.ReadFile(s.Binaries[arch])
	if err != nil {
		return nil, fmt.Errorf("reading the %s binary: %w (build it with CGO_ENABLED=0 GOOS=linux GOARCH=%s)", arch, err, arch)
	}
	if err := CheckELF(bin, arch); err != nil {
		return nil, fmt.Errorf("%s: %w", s.Binaries[arch], err)
	}
	rootfs, err := layerTar(s.Entrypoint[1:], bin, s.Created)
	if err != nil {
		return nil, err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(rootfs)), nil
	}, tarball.WithMediaType(types.OCILayer), tarball.WithCompressionLevel(gzip.BestCompression))
	if err != nil {
		return nil, err
	}
	created := v1.Time{Time: s.Created.UTC()}
	img := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	img, err = mutate.Append(img, mutate.Addendum{
		Layer:   layer,
		History: v1.History{Created: created, CreatedBy: "kubectl-pixie: COPY " + path.Base(s.Entrypoint) + " " + s.Entrypoint},
	})
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.Architecture, cf.OS, cf.Created = arch, "linux", created
	cf.Config.Entrypoint = []string{s.Entrypoint}
	if s.Title != "" {
		cf.Config.Labels = map[string]string{"org.opencontainers.image.title": s.Title}
	}
	return mutate.ConfigFile(img, cf)
}

// layerTar is a root file system holding one executable, owned by 0.
func layerTar(name string, content []byte, t time.Time) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	h := &tar.Header{Name: name, Mode: 0o755, Size: int64(len(content)), ModTime: t.UTC(), Typeflag: tar.TypeReg, Format: tar.FormatUSTAR}
	if err := tw.WriteHeader(h); err != nil {
		return nil, fmt.Errorf("layer of %s: %w", name, err)
	}
	if _, err := tw.Write(content); err != nil {
		return nil, err
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// CheckELF fails unless b is a linux ELF executable for arch (amd64, arm64).
func CheckELF(b []byte, arch string) error {
	want, ok := elfMachines[arch]
	if !ok {
		return fmt.Errorf("unsupported architecture %q: use amd64 or arm64", arch)
	}
	f, err := elf.NewFile(bytes.NewReader(b))
	if err != nil {
		return fmt.Errorf("not an ELF binary (%w): build it with GOOS=linux", err)
	}
	if f.Machine != want {
		return fmt.Errorf("ELF machine %v is not %s: build it with GOARCH=%s", f.Machine, arch, arch)
	}
	return nil
}
