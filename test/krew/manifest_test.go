// Package krew tests the release path: reproducible archives (hack/dist),
// the krew manifest rendered from them, and the completion helper run the
// way kubectl runs it. `make krew-verify` adds the real krew and kubectl.
package krew

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/yaml"
)

// platforms are the release platforms, as in hack/make/dist.mk.
var platforms = []string{"linux/amd64", "linux/arm64", "darwin/amd64", "darwin/arm64", "windows/amd64"}

// krewOSArch is every <os,arch> krew knows (validate-krew-manifest's list).
var krewOSArch = []string{
	"windows/386", "windows/amd64", "windows/arm64",
	"linux/386", "linux/amd64", "linux/arm", "linux/arm64",
	"darwin/386", "darwin/amd64", "darwin/arm64",
}

type plugin struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name string `json:"name"`
	} `json:"metadata"`
	Spec struct {
		Version          string     `json:"version"`
		Homepage         string     `json:"homepage"`
		ShortDescription string     `json:"shortDescription"`
		Description      string     `json:"description"`
		Caveats          string     `json:"caveats"`
		Platforms        []platform `json:"platforms"`
	} `json:"spec"`
}

type platform struct {
	Selector *metav1.LabelSelector `json:"selector"`
	URI      string                `json:"uri"`
	Sha256   string                `json:"sha256"`
	Bin      string                `json:"bin"`
	Files    []struct {
		From string `json:"from"`
		To   string `json:"to"`
	} `json:"files"`
}

var (
	semverV   = regexp.MustCompile(`^v(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(-[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?(\+[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?$`)
	sha256Hex = regexp.MustCompile(`^[a-f0-9]{64}$`)
	safeName  = regexp.MustCompile(`^[\w-]+$`)
)

func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	return root
}

func readManifest(t *testing.T, path string) plugin {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var p plugin
	if err := yaml.UnmarshalStrict(b, &p); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return p
}

// validate applies krew v0.4.3's rules (internal/index/validation and
// cmd/validate-krew-manifest, which is internal and cannot be imported):
// the structure, selectors that match a krew platform, and no overlap.
// `make krew-verify` also runs the real validate-krew-manifest.
func validate(p plugin, fileName string) error {
	name := strings.TrimSuffix(fileName, ".yaml")
	switch {
	case p.APIVersion != "krew.googlecontainertools.github.com/v1alpha2":
		return fmt.Errorf("apiVersion %q", p.APIVersion)
	case p.Kind != "Plugin":
		return fmt.Errorf("kind %q", p.Kind)
	case !safeName.MatchString(name) || p.Metadata.Name != name:
		return fmt.Errorf("name %q does not match file %s", p.Metadata.Name, fileName)
	case p.Spec.ShortDescription == "" || strings.ContainsAny(p.Spec.ShortDescription, "\r\n"):
		return fmt.Errorf("shortDescription %q: required, one line", p.Spec.ShortDescription)
	case len(p.Spec.Platforms) == 0:
		return fmt.Errorf("no platforms")
	case !semverV.MatchString(p.Spec.Version):
		return fmt.Errorf("version %q is not v-prefixed semver", p.Spec.Version)
	}
	for i, pl := range p.Spec.Platforms {
		switch {
		case pl.URI == "":
			return fmt.Errorf("platforms[%d]: no uri", i)
		case !sha256Hex.MatchString(pl.Sha256):
			return fmt.Errorf("platforms[%d]: sha256 %q", i, pl.Sha256)
		case pl.Bin == "":
			return fmt.Errorf("platforms[%d]: no bin", i)
		case pl.Files != nil && len(pl.Files) == 0:
			return fmt.Errorf("platforms[%d]: empty files", i)
		case pl.Selector == nil || (len(pl.Selector.MatchLabels) == 0 && len(pl.Selector.MatchExpressions) == 0):
			return fmt.Errorf("platforms[%d]: empty selector", i)
		}
		for k := range pl.Selector.MatchLabels {
			if k != "os" && k != "arch" {
				return fmt.Errorf("platforms[%d]: selector key %q", i, k)
			}
		}
		for _, e := range pl.Selector.MatchExpressions {
			if e.Key != "os" && e.Key != "arch" {
				return fmt.Errorf("platforms[%d]: selector key %q", i, e.Key)
			}
		}
		if len(matching(pl)) == 0 {
			return fmt.Errorf("platforms[%d]: selector matches no krew platform", i)
		}
	}
	for _, osArch := range krewOSArch {
		var hits []int
		for i, pl := range p.Spec.Platforms {
			for _, m := range matching(pl) {
				if m == osArch {
					hits = append(hits, i)
				}
			}
		}
		if len(hits) > 1 {
			return fmt.Errorf("platforms %v overlap on %s", hits, osArch)
		}
	}
	return nil
}

func matching(pl platform) []string {
	sel, err := metav1.LabelSelectorAsSelector(pl.Selector)
	if err != nil {
		return nil
	}
	var out []string
	for _, osArch := range krewOSArch {
		os, arch, _ := strings.Cut(osArch, "/")
		if sel.Matches(labels.Set{"os": os, "arch": arch}) {
			out = append(out, osArch)
		}
	}
	return out
}

func TestCommittedManifestIsValid(t *testing.T) {
	path := filepath.Join(repoRoot(t), "krew-manifest.yaml")
	p := readManifest(t, path)
	if err := validate(p, "pixie.yaml"); err != nil {
		t.Fatalf("krew-manifest.yaml: %v", err)
	}
	checkPlatforms(t, p)
	for _, want := range []string{"privileged", "hostPID", "5.8", "BTF"} {
		if !strings.Contains(p.Spec.Caveats, want) {
			t.Errorf("caveats do not mention %q", want)
		}
	}
}

// checkPlatforms: one entry per release platform, each pointing at its own
// archive for this version.
func checkPlatforms(t *testing.T, p plugin) {
	t.Helper()
	if len(p.Spec.Platforms) != len(platforms) {
		t.Errorf("%d platforms, want %d", len(p.Spec.Platforms), len(platforms))
	}
	for _, want := range platforms {
		found := false
		for _, pl := range p.Spec.Platforms {
			m := matching(pl)
			if len(m) != 1 || m[0] != want {
				continue
			}
			found = true
			os, arch, _ := strings.Cut(want, "/")
			archive := fmt.Sprintf("kubectl-pixie_%s_%s_%s.tar.gz", p.Spec.Version, os, arch)
			if !strings.HasSuffix(pl.URI, "/"+p.Spec.Version+"/"+archive) {
				t.Errorf("%s: uri %s is not .../%s/%s", want, pl.URI, p.Spec.Version, archive)
			}
			if bin := binName(os); pl.Bin != bin {
				t.Errorf("%s: bin %q, want %q", want, pl.Bin, bin)
			}
		}
		if !found {
			t.Errorf("no platform selects exactly %s", want)
		}
	}
}

func binName(os string) string {
	if os == "windows" {
		return "kubectl-pixie.exe"
	}
	return "kubectl-pixie"
}

// distDir returns a dist directory and its version: the real one when
// `make krew-verify` passes PIXIE_DIST_DIR and PIXIE_DIST_VERSION, else one
// made here with hack/dist/archive.sh from stand-in binaries.
func distDir(t *testing.T) (dir, version string) {
	t.Helper()
	if d := os.Getenv("PIXIE_DIST_DIR"); d != "" {
		return d, os.Getenv("PIXIE_DIST_VERSION")
	}
	version = "v1.2.3-rc.1"
	dir = t.TempDir()
	for _, p := range platforms {
		os, arch, _ := strings.Cut(p, "/")
		makeArchive(t, dir, version, os, arch, fmt.Sprintf("#!/bin/sh\necho stand-in %s\n", p), "1700000000")
	}
	return dir, version
}

func makeArchive(t *testing.T, dir, version, goos, arch, binContent, epoch string) string {
	t.Helper()
	root := repoRoot(t)
	build := filepath.Join(t.TempDir(), goos+"_"+arch)
	if err := os.MkdirAll(build, 0o755); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(build, binName(goos))
	if err := os.WriteFile(bin, []byte(binContent), 0o755); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, fmt.Sprintf("kubectl-pixie_%s_%s_%s.tar.gz", version, goos, arch))
	args := []string{filepath.Join(root, "hack/dist/archive.sh"), out, bin, filepath.Join(root, "LICENSE"),
		filepath.Join(root, "plugin/completion/kubectl_complete-pixie")}
	if goos == "windows" {
		args = append(args, filepath.Join(root, "plugin/completion/kubectl_complete-pixie.cmd"))
	}
	cmd := exec.Command("bash", args...)
	cmd.Env = append(os.Environ(), "SOURCE_DATE_EPOCH="+epoch)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("archive.sh: %v\n%s", err, b)
	}
	sum := fileSHA256(t, out)
	if err := os.WriteFile(out+".sha256", []byte(sum+"  "+filepath.Base(out)+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return out
}

func fileSHA256(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func renderManifest(t *testing.T, dist, version string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "pixie.yaml")
	cmd := exec.Command("bash", filepath.Join(repoRoot(t), "hack/dist/krew-manifest.sh"), "-version", version, "-dist", dist, "-o", out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("krew-manifest.sh: %v\n%s", err, b)
	}
	return out
}

// TestReleaseManifest renders the manifest for a release and checks every
// platform's sha256 against its archive, and each archive's content.
func TestReleaseManifest(t *testing.T) {
	dist, version := distDir(t)
	path := renderManifest(t, dist, version)
	p := readManifest(t, path)
	if err := validate(p, filepath.Base(path)); err != nil {
		t.Fatal(err)
	}
	if p.Spec.Version != version {
		t.Errorf("version %q, want %q", p.Spec.Version, version)
	}
	checkPlatforms(t, p)
	committed := readManifest(t, filepath.Join(repoRoot(t), "krew-manifest.yaml"))
	if p.Spec.Description != committed.Spec.Description || p.Spec.Caveats != committed.Spec.Caveats {
		t.Error("rendering changed description or caveats")
	}
	for _, pl := range p.Spec.Platforms {
		archive := filepath.Join(dist, filepath.Base(pl.URI))
		if got := fileSHA256(t, archive); got != pl.Sha256 {
			t.Errorf("%s: manifest sha256 %s, archive has %s", filepath.Base(archive), pl.Sha256, got)
		}
		checkArchive(t, archive, pl.Bin)
	}
}

// checkArchive: binary, LICENSE and the completion helper at the root,
// owner 0, one mtime, sorted, gzip without name or time.
func checkArchive(t *testing.T, path, bin string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	if zr.Name != "" || !zr.ModTime.IsZero() {
		t.Errorf("%s: gzip header has name %q, time %v", path, zr.Name, zr.ModTime)
	}
	tr := tar.NewReader(zr)
	modes := map[string]int64{}
	var names []string
	var mtime time.Time
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, h.Name)
		modes[h.Name] = h.Mode
		if h.Uid != 0 || h.Gid != 0 {
			t.Errorf("%s: %s owned by %d:%d", path, h.Name, h.Uid, h.Gid)
		}
		if mtime.IsZero() {
			mtime = h.ModTime
		} else if !h.ModTime.Equal(mtime) {
			t.Errorf("%s: %s has mtime %v, others %v", path, h.Name, h.ModTime, mtime)
		}
		if h.Name == "kubectl_complete-pixie" {
			b, _ := io.ReadAll(tr)
			want, _ := os.ReadFile(filepath.Join(repoRoot(t), "plugin/completion/kubectl_complete-pixie"))
			if !bytes.Equal(b, want) {
				t.Errorf("%s: helper differs from plugin/completion's", path)
			}
		}
	}
	for i := 1; i < len(names); i++ {
		if names[i-1] >= names[i] {
			t.Errorf("%s: entries not sorted: %v", path, names)
		}
	}
	for _, want := range []string{bin, "LICENSE", "kubectl_complete-pixie"} {
		mode, ok := modes[want]
		if !ok {
			t.Errorf("%s: no %s at the root (has %v)", path, want, names)
			continue
		}
		if exec := mode&0o111 != 0; exec != (want != "LICENSE") {
			t.Errorf("%s: %s has mode %o", path, want, mode)
		}
	}
}

func TestArchivesAreReproducible(t *testing.T) {
	dir1, dir2 := t.TempDir(), t.TempDir()
	a := makeArchive(t, dir1, "v1.0.0", "linux", "amd64", "same content\n", "1700000000")
	time.Sleep(1100 * time.Millisecond) // new file mtimes on disk must not matter
	b := makeArchive(t, dir2, "v1.0.0", "linux", "amd64", "same content\n", "1700000000")
	if fileSHA256(t, a) != fileSHA256(t, b) {
		t.Error("same inputs gave different archives")
	}
	c := makeArchive(t, t.TempDir(), "v1.0.0", "linux", "amd64", "same content\n", "1700000001")
	if fileSHA256(t, a) == fileSHA256(t, c) {
		t.Error("SOURCE_DATE_EPOCH does not reach the archive")
	}
}

func TestRenderRefusesMissingArchive(t *testing.T) {
	dist, version := distDir(t)
	if os.Getenv("PIXIE_DIST_DIR") != "" {
		t.Skip("not on the real dist")
	}
	if err := os.Remove(filepath.Join(dist, "kubectl-pixie_"+version+"_darwin_arm64.tar.gz.sha256")); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "pixie.yaml")
	b, err := exec.Command("bash", filepath.Join(repoRoot(t), "hack/dist/krew-manifest.sh"), "-version", version, "-dist", dist, "-o", out).CombinedOutput()
	if err == nil || !strings.Contains(string(b), "darwin_arm64") {
		t.Fatalf("rendered without the darwin/arm64 archive: %v\n%s", err, b)
	}
	if _, err := os.Stat(out); err == nil {
		t.Error("a partial manifest was written")
	}
	b, err = exec.Command("bash", filepath.Join(repoRoot(t), "hack/dist/krew-manifest.sh"), "-version", "1.2.3", "-dist", dist).CombinedOutput()
	if err == nil {
		t.Fatalf("accepted a version without v: %s", b)
	}
}

func TestMain(m *testing.M) {
	if runtime.GOOS == "windows" {
		fmt.Println("skipping: release scripts need bash, GNU tar and gzip")
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// The validator must be able to fail: each mutation breaks one krew rule.
func TestValidateRejects(t *testing.T) {
	base := readManifest(t, filepath.Join(repoRoot(t), "krew-manifest.yaml"))
	for name, mutate := range map[string]func(p *plugin){
		"overlap": func(p *plugin) {
			p.Spec.Platforms[1].Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"os": "linux"}}
		},
		"sha256":        func(p *plugin) { p.Spec.Platforms[0].Sha256 = strings.ToUpper(p.Spec.Platforms[0].Sha256[:63]) + "A" },
		"no v":          func(p *plugin) { p.Spec.Version = "1.0.0" },
		"two lines":     func(p *plugin) { p.Spec.ShortDescription = "a\nb" },
		"selector key":  func(p *plugin) { p.Spec.Platforms[0].Selector.MatchLabels["distro"] = "debian" },
		"no such arch":  func(p *plugin) { p.Spec.Platforms[0].Selector.MatchLabels["arch"] = "riscv64" },
		"no bin":        func(p *plugin) { p.Spec.Platforms[0].Bin = "" },
		"wrong name":    func(p *plugin) { p.Metadata.Name = "pixie2" },
		"wrong version": func(p *plugin) { p.APIVersion = "krew.googlecontainertools.github.com/v1alpha1" },
	} {
		b, _ := yaml.Marshal(base)
		var p plugin
		if err := yaml.Unmarshal(b, &p); err != nil {
			t.Fatal(err)
		}
		mutate(&p)
		if err := validate(p, "pixie.yaml"); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
