package release

import (
	"bytes"
	"crypto/ecdsa"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"

	"github.com/kubectl-pixie/kubectl-pixie/plugin/image"
	"github.com/kubectl-pixie/kubectl-pixie/plugin/image/registrytest"
)

// pushRandom pushes a small random image to repo:tag and returns repo@digest.
func pushRandom(t *testing.T, repo, tag string) name.Digest {
	t.Helper()
	img, err := random.Image(512, 1)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := name.ParseReference(repo + ":" + tag)
	if err != nil {
		t.Fatal(err)
	}
	d, err := image.Push(img, ref)
	if err != nil {
		t.Fatal(err)
	}
	return ref.Context().Digest(d.String())
}

// Signatures made by the real cosign verify with our verifier (and the
// ones it rejects, cosign rejects too): a good one, by tag and by digest;
// then each failure says why: a wrong key, no signature, another image's
// signature put under this one, a payload altered after signing, a
// registry that is down.
func TestVerifyCosignSignatures(t *testing.T) {
	reg := registrytest.Start(t)
	cosign := registrytest.FindCosign(t)
	priv, pub := cosign.KeyPair()
	_, otherPub := cosign.KeyPair()
	key, err := image.LoadPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	other, err := image.LoadPublicKey(otherPub)
	if err != nil {
		t.Fatal(err)
	}
	repo := reg.Host + "/pixie/probe"
	signed := pushRandom(t, repo, "signed")
	cosign.Sign(priv, signed.String())

	for _, r := range []string{signed.String(), repo + ":signed"} {
		ref, _ := name.ParseReference(r)
		d, err := image.Verify(ref, key)
		if err != nil || d.String() != signed.DigestStr() {
			t.Errorf("%s: verified %s, %v; want %s", r, d, err, signed.DigestStr())
		}
	}
	cosign.Run("verify", "--key", pub, "--insecure-ignore-tlog=true", signed.String())

	// A copy made as image push makes it (the image, then its signature)
	// verifies too, with our verifier and with cosign.
	copyRepo, _ := name.NewRepository(reg.Host + "/team/probe")
	img, err := remote.Image(signed)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(copyRepo.Tag("v1"), img); err != nil {
		t.Fatal(err)
	}
	h, _ := v1.NewHash(signed.DigestStr())
	if tags, err := image.CopySignatures(signed.Context(), copyRepo, h); err != nil || len(tags) != 1 {
		t.Fatalf("copying the signature: %v %v", tags, err)
	}
	if _, err := image.Verify(copyRepo.Digest(h.String()), key); err != nil {
		t.Errorf("the copy: %v", err)
	}
	cosign.Run("verify", "--key", pub, "--insecure-ignore-tlog=true", copyRepo.Digest(h.String()).String())

	wantFail := func(what string, ref name.Reference, k *ecdsa.PublicKey, want string, cosignRejects bool) {
		t.Helper()
		_, err := image.Verify(ref, k)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: err %v, want %q", what, err, want)
		}
		if cosignRejects {
			if out, err := cosign.Try("verify", "--key", pub, "--insecure-ignore-tlog=true", ref.String()); err == nil {
				t.Errorf("%s: our verifier rejects it, cosign accepts it:\n%s", what, out)
			}
		}
	}
	wantFail("wrong key", signed, other, "does not match the payload with this key", false)

	unsigned := pushRandom(t, repo, "unsigned")
	if _, err := image.Verify(unsigned, key); !errors.Is(err, image.ErrNoSignature) {
		t.Errorf("unsigned image: err %v, want ErrNoSignature", err)
	}

	// A valid signature of another image, copied under this one's tag.
	replayed := pushRandom(t, repo, "replayed")
	copySignature(t, signed, replayed)
	wantFail("another image's signature", replayed, key, "not this image", true)

	// The payload altered after signing (the signature kept).
	tamperSignature(t, signed)
	wantFail("altered payload", signed, key, "does not match the payload", true)

	reg.Stop()
	_, err = image.Verify(signed, key)
	if err == nil || !strings.Contains(err.Error(), "cannot be reached") {
		t.Errorf("registry down: %v", err)
	}
}

// The private key, or a file that is no key, is refused with what to pass.
func TestLoadPublicKeyRejects(t *testing.T) {
	cosign := registrytest.FindCosign(t)
	priv, _ := cosign.KeyPair()
	if _, err := image.LoadPublicKey(priv); err == nil || !strings.Contains(err.Error(), "cosign.pub") {
		t.Errorf("private key accepted or unclear: %v", err)
	}
}

func sigImage(t *testing.T, of name.Digest) (v1.Image, name.Tag) {
	t.Helper()
	h, err := v1.NewHash(of.DigestStr())
	if err != nil {
		t.Fatal(err)
	}
	tag := image.SignatureTag(of.Context(), h)
	img, err := remote.Image(tag)
	if err != nil {
		t.Fatal(err)
	}
	return img, tag
}

func copySignature(t *testing.T, from, to name.Digest) {
	t.Helper()
	img, _ := sigImage(t, from)
	h, _ := v1.NewHash(to.DigestStr())
	if err := remote.Write(image.SignatureTag(to.Context(), h), img); err != nil {
		t.Fatal(err)
	}
}

// tamperSignature rewrites the signed payload of img (one byte of its
// docker-reference) and pushes it with the original signature annotation.
func tamperSignature(t *testing.T, of name.Digest) {
	t.Helper()
	img, tag := sigImage(t, of)
	m, err := img.Manifest()
	if err != nil || len(m.Layers) != 1 {
		t.Fatalf("signature manifest: %v, %d layers", err, len(m.Layers))
	}
	l, err := img.LayerByDigest(m.Layers[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	rc, err := l.Compressed()
	if err != nil {
		t.Fatal(err)
	}
	var payload bytes.Buffer
	_, _ = payload.ReadFrom(rc)
	rc.Close()
	altered := bytes.Replace(payload.Bytes(), []byte(`"docker-reference":"`), []byte(`"docker-reference":"evil.example/`), 1)
	if bytes.Equal(altered, payload.Bytes()) {
		t.Fatalf("payload has no docker-reference: %s", payload.Bytes())
	}
	forged, err := mutate.Append(empty.Image, mutate.Addendum{
		Layer:       static.NewLayer(altered, image.SimpleSigningMediaType),
		Annotations: m.Layers[0].Annotations,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(tag, forged); err != nil {
		t.Fatal(err)
	}
}
