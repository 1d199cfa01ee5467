package cmd

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"

	"github.com/kubectl-pixie/kubectl-pixie/internal/version"
	"github.com/kubectl-pixie/kubectl-pixie/plugin/image"
	"github.com/kubectl-pixie/kubectl-pixie/plugin/image/registrytest"
)

// The flags are checked, and the key read, before any request.
func TestDoctorVerifyFlags(t *testing.T) {
	junk := filepath.Join(t.TempDir(), "junk.pub")
	if err := os.WriteFile(junk, []byte("not a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		v    verifyFlags
		want string
	}{
		{"key without --verify", verifyFlags{Key: "cosign.pub"}, "add --verify"},
		{"identity without --verify", verifyFlags{Identity: "me"}, "add --verify"},
		{"key and identity", verifyFlags{Verify: true, Key: "cosign.pub", Identity: "me", Issuer: "i"}, "one or the other"},
		{"identity alone", verifyFlags{Verify: true, Identity: "me"}, "give both"},
		{"issuer alone", verifyFlags{Verify: true, Issuer: "i"}, "give both"},
		{"missing key file", verifyFlags{Verify: true, Key: filepath.Join(t.TempDir(), "none.pub")}, "--key: reading the public key"},
		{"not a key", verifyFlags{Verify: true, Key: junk}, "not a PEM public key"},
	}
	for _, c := range cases {
		err := c.v.validate()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err %v, want %q", c.name, err, c.want)
		}
	}
	v := verifyFlags{Verify: true}
	if err := v.validate(); err != nil || v.Identity != releaseIdentity+version.Version || v.Issuer != releaseIssuer {
		t.Errorf("--verify alone: %v, identity %q issuer %q; want this version's release workflow", err, v.Identity, v.Issuer)
	}
}

// signedImage pushes a random image to a real registry and signs it with
// the real cosign; it returns the image by tag, the cosign program and
// the public key.
func signedImage(t *testing.T) (ref string, cosign *registrytest.Cosign, pub string) {
	t.Helper()
	reg := registrytest.Start(t)
	cosign = registrytest.FindCosign(t)
	priv, pub := cosign.KeyPair()
	img, err := random.Image(512, 1)
	if err != nil {
		t.Fatal(err)
	}
	ref = reg.Host + "/pixie/probe:v1"
	r, _ := name.ParseReference(ref)
	d, err := image.Push(img, r)
	if err != nil {
		t.Fatal(err)
	}
	cosign.Sign(priv, r.Context().Digest(d.String()).String())
	return ref, cosign, pub
}

func runDoctorVerify(t *testing.T, imageRef string, v verifyFlags) (stdout, stderr string, k *doctorKubelet) {
	t.Helper()
	if err := v.validate(); err != nil {
		t.Fatal(err)
	}
	client := doctorClient(testNode("amd-1", "amd64", nil))
	k = &doctorKubelet{client: client}
	stdout, stderr, _ = runDoctorWith(t, client, k, imageRef, func(o *DoctorOptions) { o.Verify = v })
	t.Logf("doctor --verify %s:\n%s%s", imageRef, stdout, stderr)
	return stdout, stderr, k
}

// ran is the images the kubelet's pods ran.
func (k *doctorKubelet) ran() []string {
	k.mu.Lock()
	defer k.mu.Unlock()
	return append([]string(nil), k.images...)
}

// A key-based signature made by the real cosign passes, and the image pod
// runs the digest that was verified; with another key the check fails and
// no pod runs the image.
func TestDoctorVerifyKey(t *testing.T) {
	ref, cosign, pub := signedImage(t)
	stdout, _, k := runDoctorVerify(t, ref, verifyFlags{Verify: true, Key: pub})
	row := regexp.MustCompile(`probe image signature\s+ok\s+signed with \S+ \(cosign, key-based\): \S+/pixie/probe@(sha256:[0-9a-f]{64}) \(the image pods below run this digest\)`).FindStringSubmatch(stdout)
	if row == nil {
		t.Fatalf("no signature row:\n%s", stdout)
	}
	if len(k.ran()) != 1 || k.ran()[0] != strings.TrimSuffix(ref, ":v1")+":v1@"+row[1] {
		t.Errorf("image pods ran %v, want the verified %s", k.ran(), row[1])
	}

	_, otherPub := cosign.KeyPair()
	stdout, stderr, k := runDoctorVerify(t, ref, verifyFlags{Verify: true, Key: otherPub})
	if !regexp.MustCompile(`probe image signature\s+FAIL\s+no signature of \S+ verifies with the key`).MatchString(stdout) ||
		!strings.Contains(stderr, "do not run this image") {
		t.Errorf("wrong key:\n%s\n%s", stdout, stderr)
	}
	if len(k.ran()) != 0 {
		t.Errorf("a pod ran an image that failed its signature check: %v", k.ran())
	}
}

// An unsigned image fails with how to sign it; a registry that is down
// fails too, before any pod runs.
func TestDoctorVerifyUnsignedAndDown(t *testing.T) {
	ref, _, pub := signedImage(t)
	unsigned := strings.TrimSuffix(ref, ":v1") + ":unsigned"
	img, _ := random.Image(256, 1)
	r, _ := name.ParseReference(unsigned)
	if _, err := image.Push(img, r); err != nil {
		t.Fatal(err)
	}
	stdout, stderr, k := runDoctorVerify(t, unsigned, verifyFlags{Verify: true, Key: pub})
	if !regexp.MustCompile(`probe image signature\s+FAIL\s+no cosign signature for`).MatchString(stdout) || !strings.Contains(stderr, "cosign sign --key") || len(k.ran()) != 0 {
		t.Errorf("unsigned image (pods %v):\n%s\n%s", k.ran(), stdout, stderr)
	}
	down := "127.0.0.1:1/pixie/probe:v1"
	stdout, _, k = runDoctorVerify(t, down, verifyFlags{Verify: true, Key: pub})
	if !regexp.MustCompile(`probe image signature\s+FAIL\s+reading 127.0.0.1:1/pixie/probe:v1: the registry 127.0.0.1:1 cannot be reached`).MatchString(stdout) || len(k.ran()) != 0 {
		t.Errorf("registry down (pods %v):\n%s", k.ran(), stdout)
	}
}

// Keyless signatures are checked by the cosign program: without it the
// check fails with the command to run; with it, cosign's verdict decides
// (here a FAIL with cosign's reason: the signature is key-based, and this
// machine cannot reach Sigstore's roots). A keyless signature that passes
// needs Sigstore's public services and is not tested here.
func TestDoctorVerifyKeyless(t *testing.T) {
	ref, cosign, _ := signedImage(t)
	v := verifyFlags{Verify: true, cosign: "cosign-not-installed-here"}
	stdout, stderr, k := runDoctorVerify(t, ref, v)
	want := "cosign verify --certificate-identity " + releaseIdentity + version.Version + " --certificate-oidc-issuer " + releaseIssuer + " "
	if !regexp.MustCompile(`probe image signature\s+FAIL\s+keyless signatures are checked by cosign, which is not installed here`).MatchString(stdout) ||
		!strings.Contains(stderr, want) || len(k.ran()) != 0 {
		t.Errorf("no cosign (pods %v):\n%s\n%s", k.ran(), stdout, stderr)
	}
	v = verifyFlags{Verify: true, Identity: "someone@example.com", Issuer: "https://accounts.example.com", cosign: cosign.Path}
	stdout, _, k = runDoctorVerify(t, ref, v)
	if !regexp.MustCompile(`probe image signature\s+FAIL\s+cosign verify --certificate-identity someone@example.com --certificate-oidc-issuer https://accounts.example.com \S+@sha256:[0-9a-f]{64}: exit status \d+: \S`).MatchString(stdout) || len(k.ran()) != 0 {
		t.Errorf("cosign's refusal (pods %v):\n%s", k.ran(), stdout)
	}
}
