// Package release proves `make release` against a real registry (Debian's
// docker-registry on loopback): both images pushed as multi-arch indexes,
// each layer holding the right ELF, the probe digest baked into the plugin
// of the archive, both images signed by the real cosign with a test key and
// their SBOMs attached as signed attestations, the krew manifest and
// checksums filled, and a second
// build of the same commit giving the same probe image bytes.
package release

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"debug/elf"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"sigs.k8s.io/yaml"

	"github.com/kubectl-pixie/kubectl-pixie/plugin/image"
	"github.com/kubectl-pixie/kubectl-pixie/plugin/image/registrytest"
)

const version = "v0.9.0"

// platforms keeps the test to the linux archives (the images' arches);
// make krew-verify builds and installs all five.
const platforms = "linux/amd64 linux/arm64"

var machines = map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64}

func repoRoot(t *testing.T) string {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	return root
}

func makeRelease(t *testing.T, goal, dist, registry string, extra ...string) {
	t.Helper()
	cmd := exec.Command("make", append([]string{"-C", repoRoot(t), goal, "VERSION=" + version, "REGISTRY=" + registry,
		"DIST=" + dist, "DIST_PLATFORMS=" + platforms, "RELEASE_URL=https://example.com/dl"}, extra...)...)
	cmd.Env = append(os.Environ(), "COSIGN_PASSWORD="+registrytest.CosignPassword)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("make %s: %v\n%s", goal, err, out)
	}
	t.Logf("make %s: ok (%d lines of output)", goal, bytes.Count(out, []byte("\n")))
}

func TestMakeRelease(t *testing.T) {
	if testing.Short() {
		t.Skip("SKIP: -short: make release builds every binary")
	}
	if runtime.GOOS != "linux" {
		t.Skip("SKIP: needs linux (make, bash, the registry)")
	}
	reg := registrytest.Start(t)
	cosign := registrytest.FindCosign(t)
	signKey, pubKey := cosign.KeyPair()
	registry := reg.Host + "/pixie"
	dist := t.TempDir()
	// Signed with a key here; the release workflow signs keyless.
	makeRelease(t, "release", dist, registry, "COSIGN_KEY="+signKey, "COSIGN_TLOG=false")
	opts := image.Options(context.Background(), "release-test")

	probe := pull(t, registry+"/kubectl-pixie-probe:"+version, opts)
	checkIndex(t, probe, "/pixie-agent")
	plugin := pull(t, registry+"/kubectl-pixie:"+version, opts)
	checkIndex(t, plugin, "/kubectl-pixie")
	probeDigest, _ := probe.Digest()
	want := registry + "/kubectl-pixie-probe:" + version + "@" + probeDigest.String()
	// By digest, as a node pulls it.
	pull(t, want, opts)

	for _, arch := range []string{"amd64", "arm64"} {
		files := untarGz(t, filepath.Join(dist, "kubectl-pixie_"+version+"_linux_"+arch+".tar.gz"))
		for _, f := range []string{"kubectl-pixie", "pixie-agent"} {
			checkELF(t, files[f], arch, f)
		}
	}
	// The archive's own plugin says which image it runs.
	bin := filepath.Join(t.TempDir(), "kubectl-pixie")
	if err := os.WriteFile(bin, untarGz(t, filepath.Join(dist, "kubectl-pixie_"+version+"_linux_"+runtime.GOARCH+".tar.gz"))["kubectl-pixie"], 0o755); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "version", "-o", "json").Output()
	if err != nil {
		t.Fatalf("kubectl-pixie version -o json: %v", err)
	}
	var info struct{ Version, ProbeImage string }
	if err := json.Unmarshal(out, &info); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if info.ProbeImage != want || info.Version != version {
		t.Errorf("plugin reports %s with %s; pushed %s", info.Version, info.ProbeImage, want)
	}
	pluginDigest, _ := plugin.Digest()
	checkSigned(t, cosign, pubKey, registry+"/kubectl-pixie-probe@"+probeDigest.String(), "pixie-agent (linux_arm64)")
	checkSigned(t, cosign, pubKey, registry+"/kubectl-pixie@"+pluginDigest.String(), "kubectl-pixie (linux_arm64)")
	checkManifest(t, dist)
	checkSums(t, dist)
	checkAssets(t, dist)
	checkSBOM(t, dist)

	// Same commit, second build elsewhere: the agents linked again, the
	// same probe image bytes and digest. (test/krew covers the archives.)
	again := t.TempDir()
	probeTar := "kubectl-pixie-probe_" + version + ".oci.tar"
	makeRelease(t, filepath.Join(again, probeTar), again, registry)
	if a, b := fileSHA256(t, filepath.Join(dist, probeTar)), fileSHA256(t, filepath.Join(again, probeTar)); a != b {
		t.Errorf("two builds of the probe image from one commit differ: %s vs %s", a, b)
	}
}

// checkSigned: the image's signature, made by the real cosign in make
// release, verifies with our verifier (what doctor --verify runs), and its
// SBOM attestation verifies with cosign and describes the image's own
// binaries (binary, for one of them) and nothing else.
func checkSigned(t *testing.T, cosign *registrytest.Cosign, pub, ref, binary string) {
	t.Helper()
	key, err := image.LoadPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	r, err := name.NewDigest(ref)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := image.Verify(r, key); err != nil {
		t.Errorf("%s: %v", ref, err)
	}
	out := cosign.Run("verify-attestation", "--key", pub, "--insecure-ignore-tlog=true", "--type", "spdxjson", ref)
	var statement struct {
		PredicateType string
		Subject       []struct{ Digest map[string]string }
		Predicate     struct {
			Packages []struct{ Name, PackageFileName string }
		}
	}
	for _, line := range strings.Split(out, "\n") {
		var env struct{ PayloadType, Payload string }
		if json.Unmarshal([]byte(line), &env) != nil || env.PayloadType == "" {
			continue // cosign's messages
		}
		b, err := base64.StdEncoding.DecodeString(env.Payload)
		if err != nil || json.Unmarshal(b, &statement) != nil {
			t.Fatalf("%s: attestation payload: %v\n%s", ref, err, b)
		}
	}
	if statement.PredicateType != "https://spdx.dev/Document" || len(statement.Subject) != 1 || "sha256:"+statement.Subject[0].Digest["sha256"] != r.DigestStr() {
		t.Fatalf("%s: attestation %+v is not an SPDX document about this image:\n%s", ref, statement, out)
	}
	files := map[string]bool{}
	for _, p := range statement.Predicate.Packages {
		if p.PackageFileName != "" {
			files[p.Name] = true
		}
	}
	if !files[binary] || len(files) != 2 {
		t.Errorf("%s: the SBOM describes %v, want the image's two binaries (%s among them)", ref, files, binary)
	}
}

func pull(t *testing.T, ref string, opts []remote.Option) v1.ImageIndex {
	t.Helper()
	r, err := name.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	got, err := image.Get(r, opts...)
	if err != nil {
		t.Fatal(err)
	}
	idx, ok := got.(v1.ImageIndex)
	if !ok {
		t.Fatalf("%s is not an index", ref)
	}
	return idx
}

// checkIndex: linux/amd64 and linux/arm64, each one layer holding the
// entrypoint, an ELF for its arch.
func checkIndex(t *testing.T, idx v1.ImageIndex, entrypoint string) {
	t.Helper()
	m, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, d := range m.Manifests {
		arch := d.Platform.Architecture
		seen[d.Platform.OS+"/"+arch] = true
		img, err := idx.Image(d.Digest)
		if err != nil {
			t.Fatal(err)
		}
		cf, err := img.ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		if cf.Architecture != arch || strings.Join(cf.Config.Entrypoint, " ") != entrypoint {
			t.Errorf("%s: config says %s, entrypoint %v", arch, cf.Architecture, cf.Config.Entrypoint)
		}
		layers, err := img.Layers()
		if err != nil || len(layers) != 1 {
			t.Fatalf("%s: %d layers (%v), want 1", arch, len(layers), err)
		}
		rc, err := layers[0].Uncompressed()
		if err != nil {
			t.Fatal(err)
		}
		files := untar(t, rc)
		rc.Close()
		if len(files) != 1 {
			t.Errorf("%s: layer holds %d files, want only %s", arch, len(files), entrypoint)
		}
		checkELF(t, files[entrypoint[1:]], arch, entrypoint)
	}
	if len(seen) != 2 || !seen["linux/amd64"] || !seen["linux/arm64"] {
		t.Errorf("index platforms %v, want linux/amd64 and linux/arm64", seen)
	}
}

func checkELF(t *testing.T, b []byte, arch, what string) {
	t.Helper()
	f, err := elf.NewFile(bytes.NewReader(b))
	if err != nil {
		t.Errorf("%s for %s: not ELF: %v", what, arch, err)
		return
	}
	if f.Machine != machines[arch] {
		t.Errorf("%s for %s: ELF machine %v", what, arch, f.Machine)
	}
}

// checkManifest: dist/pixie.yaml names each archive under the release URL
// with its real sha256.
func checkManifest(t *testing.T, dist string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dist, "pixie.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		Spec struct {
			Version   string
			Platforms []struct{ URI, Sha256 string }
		}
	}
	if err := yaml.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	if m.Spec.Version != version || len(m.Spec.Platforms) != len(strings.Fields(platforms)) {
		t.Fatalf("manifest version %s with %d platforms:\n%s", m.Spec.Version, len(m.Spec.Platforms), b)
	}
	for _, p := range m.Spec.Platforms {
		archive := filepath.Base(p.URI)
		if p.URI != "https://example.com/dl/"+version+"/"+archive {
			t.Errorf("uri %s is not under the release URL", p.URI)
		}
		if got := fileSHA256(t, filepath.Join(dist, archive)); got != p.Sha256 {
			t.Errorf("%s: manifest sha256 %s, archive %s", archive, p.Sha256, got)
		}
	}
}

// checkSums: the checksums file covers the archives and both images.
func checkSums(t *testing.T, dist string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dist, "kubectl-pixie_"+version+"_SHA256SUMS"))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		sum, file, ok := strings.Cut(line, "  ")
		if !ok || fileSHA256(t, filepath.Join(dist, file)) != sum {
			t.Errorf("checksums line %q does not match the file", line)
		}
		n++
	}
	if want := len(strings.Fields(platforms)) + 3; n != want {
		t.Errorf("%d checksums, want %d (archives, two images, the SBOM)", n, want)
	}
}

// checkAssets: the list the release workflow attaches names every archive,
// both images, the checksums, the krew manifest and the image references.
func checkAssets(t *testing.T, dist string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dist, "kubectl-pixie_"+version+"_assets.txt"))
	if err != nil {
		t.Fatal(err)
	}
	listed := map[string]bool{}
	for _, p := range strings.Fields(string(b)) {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("asset %s: %v", p, err)
		}
		listed[filepath.Base(p)] = true
	}
	want := []string{"pixie.yaml", "kubectl-pixie_" + version + "_SHA256SUMS", "kubectl-pixie_" + version + "_images.txt", "kubectl-pixie_" + version + ".spdx.json",
		"kubectl-pixie-probe_" + version + ".oci.tar", "kubectl-pixie_" + version + ".oci.tar"}
	for _, p := range strings.Fields(platforms) {
		want = append(want, "kubectl-pixie_"+version+"_"+strings.Replace(p, "/", "_", 1)+".tar.gz")
	}
	for _, w := range want {
		if !listed[w] {
			t.Errorf("assets list lacks %s:\n%s", w, b)
		}
	}
	if len(listed) != len(want) {
		t.Errorf("assets list has %d files, want %d:\n%s", len(listed), len(want), b)
	}
}

// checkSBOM: one package per released binary with its real sha256, and
// the modules each links: go-containerregistry in the plugin (not in the
// agent), cilium/ebpf in the agent, the Go standard library in both.
func checkSBOM(t *testing.T, dist string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dist, "kubectl-pixie_"+version+".spdx.json"))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		SPDXVersion string
		Packages    []struct {
			SPDXID, Name, VersionInfo, PackageFileName string
			Checksums                                  []struct{ ChecksumValue string }
		}
		Relationships []struct{ SpdxElementID, RelationshipType, RelatedSpdxElement string }
	}
	if err := json.Unmarshal(b, &doc); err != nil || doc.SPDXVersion != "SPDX-2.3" {
		t.Fatalf("not an SPDX 2.3 document (%v)", err)
	}
	names := map[string]string{} // SPDXID -> module path
	for _, p := range doc.Packages {
		names[p.SPDXID] = p.Name
		if p.PackageFileName != "" {
			platform := strings.TrimSuffix(strings.TrimPrefix(p.Name, p.PackageFileName+" ("), ")") // OS_ARCH
			want := fileSHA256(t, filepath.Join(dist, "build", platform, p.PackageFileName))
			if len(p.Checksums) != 1 || p.Checksums[0].ChecksumValue != want {
				t.Errorf("%s: sha256 %v, the file has %s", p.Name, p.Checksums, want)
			}
		}
	}
	contains := map[string]map[string]bool{}
	for _, r := range doc.Relationships {
		if r.RelationshipType == "CONTAINS" {
			bin := names[r.SpdxElementID]
			if contains[bin] == nil {
				contains[bin] = map[string]bool{}
			}
			contains[bin][names[r.RelatedSpdxElement]] = true
		}
	}
	for _, arch := range []string{"amd64", "arm64"} {
		plugin, agent := contains["kubectl-pixie (linux_"+arch+")"], contains["pixie-agent (linux_"+arch+")"]
		if !plugin["github.com/google/go-containerregistry"] || !plugin["stdlib"] || agent["github.com/google/go-containerregistry"] ||
			!agent["github.com/cilium/ebpf"] || !agent["stdlib"] {
			t.Errorf("%s: the SBOM's modules are wrong: plugin %d modules, agent %d", arch, len(plugin), len(agent))
		}
	}
}

func fileSHA256(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func untarGz(t *testing.T, p string) map[string][]byte {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	return untar(t, zr)
}

func untar(t *testing.T, r io.Reader) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return files
		}
		if err != nil {
			t.Fatal(err)
		}
		files[h.Name], _ = io.ReadAll(tr)
	}
}
