// Command ociimage writes the probe image as an OCI image layout tarball,
// without Docker: FROM scratch, one layer holding a static /pixie-agent,
// entrypoint /pixie-agent. The output is byte-for-byte reproducible
// (fixed times, sorted entries, owner 0, gzip without name or time).
//
//	go run ./hack/ociimage -o probe.tar -name localhost/kubectl-pixie/probe:v0.1.0 \
//	    -epoch 1700000000 -agent amd64=dist/build/linux_amd64/pixie-agent [-agent arm64=...]
//
// One -agent: index.json points at the image manifest (what
// `ctr -n k8s.io images import` reads), and a docker-archive manifest.json
// rides along for `docker load` (untested here: no Docker engine). Several: index.json points at an image index
// (multi-arch) that lists one manifest per architecture. The image name is
// in both annotations containerd reads (io.containerd.image.name is used
// as is; org.opencontainers.image.ref.name is what OCI tools read).
package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

const (
	mediaIndex    = "application/vnd.oci.image.index.v1+json"
	mediaManifest = "application/vnd.oci.image.manifest.v1+json"
	mediaConfig   = "application/vnd.oci.image.config.v1+json"
	mediaLayer    = "application/vnd.oci.image.layer.v1.tar+gzip"

	annotRefName       = "org.opencontainers.image.ref.name"
	annotContainerName = "io.containerd.image.name"

	entrypoint = "/pixie-agent"
)

type descriptor struct {
	MediaType   string            `json:"mediaType"`
	Digest      string            `json:"digest"`
	Size        int64             `json:"size"`
	Platform    *platform         `json:"platform,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
}

type platform struct {
	Architecture string `json:"architecture"`
	OS           string `json:"os"`
}

type index struct {
	SchemaVersion int          `json:"schemaVersion"`
	MediaType     string       `json:"mediaType"`
	Manifests     []descriptor `json:"manifests"`
}

type manifest struct {
	SchemaVersion int          `json:"schemaVersion"`
	MediaType     string       `json:"mediaType"`
	Config        descriptor   `json:"config"`
	Layers        []descriptor `json:"layers"`
}

type imageConfig struct {
	Created      string `json:"created"`
	Architecture string `json:"architecture"`
	OS           string `json:"os"`
	Config       struct {
		Entrypoint []string          `json:"Entrypoint"`
		Labels     map[string]string `json:"Labels,omitempty"`
	} `json:"config"`
	RootFS struct {
		Type    string   `json:"type"`
		DiffIDs []string `json:"diff_ids"`
	} `json:"rootfs"`
	History []history `json:"history"`
}

type history struct {
	Created   string `json:"created"`
	CreatedBy string `json:"created_by"`
}

// dockerManifest is one entry of docker-archive's manifest.json.
type dockerManifest struct {
	Config   string
	RepoTags []string
	Layers   []string
}

type agentFlag map[string]string

func (a agentFlag) String() string { return fmt.Sprint(map[string]string(a)) }
func (a agentFlag) Set(v string) error {
	arch, path, ok := strings.Cut(v, "=")
	if !ok || arch == "" || path == "" {
		return errors.New("want ARCH=PATH, e.g. amd64=bin/pixie-agent")
	}
	if _, dup := a[arch]; dup {
		return fmt.Errorf("architecture %s given twice", arch)
	}
	a[arch] = path
	return nil
}

func main() {
	agents := agentFlag{}
	out := flag.String("o", "", "output tarball")
	name := flag.String("name", "", "image name with host and tag, e.g. localhost/kubectl-pixie/probe:v0.1.0")
	epoch := flag.Int64("epoch", 0, "timestamp of every file and of the image (SOURCE_DATE_EPOCH)")
	flag.Var(agents, "agent", "ARCH=PATH of a static linux pixie-agent binary (repeatable)")
	flag.Parse()
	if *out == "" || *name == "" || len(agents) == 0 {
		fmt.Fprintln(os.Stderr, "usage: ociimage -o OUT.tar -name HOST/REPO:TAG [-epoch SECONDS] -agent ARCH=PATH...")
		os.Exit(2)
	}
	if err := run(*out, *name, time.Unix(*epoch, 0).UTC(), agents); err != nil {
		fmt.Fprintf(os.Stderr, "ociimage: %v\n", err)
		os.Exit(1)
	}
}

// blobs maps a digest to its content.
type blobs map[string][]byte

func (b blobs) add(mediaType string, content []byte) descriptor {
	sum := sha256.Sum256(content)
	d := "sha256:" + hex.EncodeToString(sum[:])
	b[d] = content
	return descriptor{MediaType: mediaType, Digest: d, Size: int64(len(content))}
}

func (b blobs) addJSON(mediaType string, v any) (descriptor, error) {
	content, err := json.Marshal(v)
	if err != nil {
		return descriptor{}, err
	}
	return b.add(mediaType, content), nil
}

func run(out, name string, created time.Time, agents agentFlag) error {
	if !strings.Contains(name, "/") || !strings.Contains(name[strings.LastIndex(name, "/"):], ":") {
		return fmt.Errorf("image name %q needs a host and a tag (containerd keeps the name as given)", name)
	}
	store := blobs{}
	var manifests []descriptor
	var docker []dockerManifest
	arches := make([]string, 0, len(agents))
	for arch := range agents {
		arches = append(arches, arch)
	}
	sort.Strings(arches)
	for _, arch := range arches {
		m, cfg, layer, err := buildImage(store, arch, agents[arch], name, created)
		if err != nil {
			return err
		}
		manifests = append(manifests, m)
		docker = append(docker, dockerManifest{
			Config:   blobPath(cfg.Digest),
			RepoTags: []string{name},
			Layers:   []string{blobPath(layer.Digest)},
		})
	}
	names := map[string]string{annotRefName: name, annotContainerName: name}
	top := index{SchemaVersion: 2, MediaType: mediaIndex}
	if len(manifests) == 1 {
		manifests[0].Annotations = names
		top.Manifests = manifests
	} else {
		nested, err := store.addJSON(mediaIndex, index{SchemaVersion: 2, MediaType: mediaIndex, Manifests: manifests})
		if err != nil {
			return err
		}
		nested.Annotations = names
		top.Manifests = []descriptor{nested}
	}

	files := map[string][]byte{"oci-layout": []byte(`{"imageLayoutVersion":"1.0.0"}`)}
	var err error
	if files["index.json"], err = json.Marshal(top); err != nil {
		return err
	}
	if len(docker) == 1 {
		if files["manifest.json"], err = json.Marshal(docker); err != nil {
			return err
		}
	}
	for d, content := range store {
		files[blobPath(d)] = content
	}
	var buf bytes.Buffer
	if err := writeTar(&buf, files, []string{"blobs/", "blobs/sha256/"}, created); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return err
	}
	return os.WriteFile(out, buf.Bytes(), 0o644)
}

// buildImage adds one architecture's layer, config and manifest.
func buildImage(store blobs, arch, agentPath, name string, created time.Time) (m, cfg, layer descriptor, err error) {
	agent, err := os.ReadFile(agentPath)
	if err != nil {
		return m, cfg, layer, fmt.Errorf("reading the %s agent: %w (build it with CGO_ENABLED=0 GOOS=linux GOARCH=%s)", arch, err, arch)
	}
	if err := checkELF(agent, arch); err != nil {
		return m, cfg, layer, fmt.Errorf("%s: %w", agentPath, err)
	}
	var rootfs bytes.Buffer
	if err := writeTar(&rootfs, map[string][]byte{entrypoint[1:]: agent}, nil, created); err != nil {
		return m, cfg, layer, err
	}
	diffID := sha256.Sum256(rootfs.Bytes())
	var gz bytes.Buffer
	zw, err := gzip.NewWriterLevel(&gz, gzip.BestCompression) // header has no name and a zero time
	if err != nil {
		return m, cfg, layer, err
	}
	if _, err := zw.Write(rootfs.Bytes()); err != nil {
		return m, cfg, layer, err
	}
	if err := zw.Close(); err != nil {
		return m, cfg, layer, err
	}
	layer = store.add(mediaLayer, gz.Bytes())

	var c imageConfig
	c.Created = created.Format(time.RFC3339)
	c.Architecture = arch
	c.OS = "linux"
	c.Config.Entrypoint = []string{entrypoint}
	c.Config.Labels = map[string]string{"org.opencontainers.image.title": "kubectl-pixie probe"}
	c.RootFS.Type = "layers"
	c.RootFS.DiffIDs = []string{"sha256:" + hex.EncodeToString(diffID[:])}
	c.History = []history{{Created: c.Created, CreatedBy: "hack/ociimage: COPY pixie-agent " + entrypoint}}
	if cfg, err = store.addJSON(mediaConfig, c); err != nil {
		return m, cfg, layer, err
	}
	if m, err = store.addJSON(mediaManifest, manifest{SchemaVersion: 2, MediaType: mediaManifest, Config: cfg, Layers: []descriptor{layer}}); err != nil {
		return m, cfg, layer, err
	}
	m.Platform = &platform{Architecture: arch, OS: "linux"}
	return m, cfg, layer, nil
}

// checkELF catches the easy mistakes: a non-Linux or wrong-arch binary.
func checkELF(b []byte, arch string) error {
	machines := map[string]uint16{"amd64": 62, "arm64": 183}
	want, ok := machines[arch]
	if !ok {
		return fmt.Errorf("unsupported architecture %q: use amd64 or arm64", arch)
	}
	if len(b) < 20 || string(b[:4]) != "\x7fELF" || b[5] != 1 {
		return errors.New("not a little-endian ELF binary (GOOS=linux?)")
	}
	if got := uint16(b[18]) | uint16(b[19])<<8; got != want {
		return fmt.Errorf("ELF machine %d is not %s", got, arch)
	}
	return nil
}

func blobPath(digest string) string { return "blobs/" + strings.Replace(digest, ":", "/", 1) }

// writeTar writes dirs and files in name order, owned by 0, at time t.
// Files are executable when they start with an ELF header.
func writeTar(w io.Writer, files map[string][]byte, dirs []string, t time.Time) error {
	tw := tar.NewWriter(w)
	names := append([]string(nil), dirs...)
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		h := &tar.Header{Name: n, ModTime: t, Format: tar.FormatUSTAR}
		content, isFile := files[n]
		switch {
		case !isFile:
			h.Typeflag, h.Mode = tar.TypeDir, 0o755
		case bytes.HasPrefix(content, []byte("\x7fELF")):
			h.Typeflag, h.Mode, h.Size = tar.TypeReg, 0o755, int64(len(content))
		default:
			h.Typeflag, h.Mode, h.Size = tar.TypeReg, 0o644, int64(len(content))
		}
		if err := tw.WriteHeader(h); err != nil {
			return fmt.Errorf("tar header %s: %w", n, err)
		}
		if _, err := tw.Write(content); err != nil {
			return err
		}
	}
	return tw.Close()
}
