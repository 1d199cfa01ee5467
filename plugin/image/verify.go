package image

// Key-based cosign signatures, checked with go-containerregistry and the
// standard library only (no Sigstore client in the plugin). Written from
// the format cosign stores: the tag sha256-<hex>.sig in the image's
// repository names a manifest whose layers are "simple signing" JSON
// payloads; each layer's annotation holds the base64 ASN.1 ECDSA signature
// of the SHA-256 of its payload, and the payload names the signed image's
// manifest digest.

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

const (
	// SimpleSigningMediaType is the media type of a cosign signature layer.
	SimpleSigningMediaType types.MediaType = "application/vnd.dev.cosign.simplesigning.v1+json"
	// SignatureAnnotation holds the base64 signature of the layer's payload.
	SignatureAnnotation = "dev.cosignproject.cosign/signature"
	// simpleSigningType is the payload's critical.type.
	simpleSigningType = "cosign container image signature"
	// maxPayload bounds what is read of one signature layer (cosign's are
	// a few hundred bytes).
	maxPayload = 1 << 20
)

// ErrNoSignature: the image has no cosign signature in its repository.
var ErrNoSignature = errors.New("no cosign signature")

// LoadPublicKey reads a PEM public key as cosign writes it (cosign.pub, from
// cosign generate-key-pair): ECDSA only, the kind cosign makes.
func LoadPublicKey(path string) (*ecdsa.PublicKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading the public key: %w", err)
	}
	block, _ := pem.Decode(b)
	if block == nil || block.Type != "PUBLIC KEY" {
		return nil, fmt.Errorf("%s is not a PEM public key (\"-----BEGIN PUBLIC KEY-----\"): pass the cosign.pub that cosign generate-key-pair wrote, not the private key", path)
	}
	pub, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	k, ok := pub.(*ecdsa.PublicKey)
	if !ok {
		return nil, fmt.Errorf("%s holds a %T key; only ECDSA keys (cosign generate-key-pair) are checked here: verify others with cosign verify --key", path, pub)
	}
	return k, nil
}

// simpleSigning is the part of the payload that is checked.
type simpleSigning struct {
	Critical struct {
		Identity struct {
			DockerReference string `json:"docker-reference"`
		} `json:"identity"`
		Image struct {
			DockerManifestDigest string `json:"docker-manifest-digest"`
		} `json:"image"`
		Type string `json:"type"`
	} `json:"critical"`
}

// SignatureTag is where cosign keeps the signatures of digest in repo.
func SignatureTag(repo name.Repository, digest v1.Hash) name.Tag {
	return repo.Tag(digest.Algorithm + "-" + digest.Hex + ".sig")
}

// Resolve returns the manifest digest ref names (asking the registry when
// ref is a tag).
func Resolve(ref name.Reference, opts ...remote.Option) (v1.Hash, error) {
	if d, ok := ref.(name.Digest); ok {
		return v1.NewHash(d.DigestStr())
	}
	desc, err := remote.Head(ref, opts...)
	if err != nil {
		return v1.Hash{}, explain("reading", ref, err)
	}
	return desc.Digest, nil
}

// Verify checks that the image ref names carries at least one cosign
// signature made with key over its manifest digest, and returns that digest.
// A missing signature wraps ErrNoSignature; signatures that do not check
// out say why, each.
func Verify(ref name.Reference, key *ecdsa.PublicKey, opts ...remote.Option) (v1.Hash, error) {
	digest, err := Resolve(ref, opts...)
	if err != nil {
		return v1.Hash{}, err
	}
	tag := SignatureTag(ref.Context(), digest)
	sigs, err := remote.Image(tag, opts...)
	if isNotFound(err) {
		return digest, fmt.Errorf("%w for %s@%s (no tag %s): the image is unsigned, or was copied without its signature", ErrNoSignature, ref.Context(), digest, tag.TagStr())
	}
	if err != nil {
		return digest, explain("reading the signatures of", ref, err)
	}
	m, err := sigs.Manifest()
	if err != nil {
		return digest, explain("reading the signatures of", ref, err)
	}
	var why []string
	for i, l := range m.Layers {
		err := checkLayer(sigs, l, digest, key)
		if err == nil {
			return digest, nil
		}
		why = append(why, fmt.Sprintf("signature %d: %v", i+1, err))
	}
	if len(why) == 0 {
		return digest, fmt.Errorf("%w for %s@%s: %s holds no signature layer", ErrNoSignature, ref.Context(), digest, tag.TagStr())
	}
	return digest, fmt.Errorf("no signature of %s@%s verifies with the key: %s", ref.Context(), digest, strings.Join(why, "; "))
}

// checkLayer verifies one signature layer: its bytes are the payload it
// claims, the payload names digest, and the signature is key's over it.
func checkLayer(sigs v1.Image, l v1.Descriptor, digest v1.Hash, key *ecdsa.PublicKey) error {
	if l.MediaType != SimpleSigningMediaType {
		return fmt.Errorf("media type %s is not a cosign signature", l.MediaType)
	}
	sig, err := base64.StdEncoding.DecodeString(l.Annotations[SignatureAnnotation])
	if err != nil || len(sig) == 0 {
		return fmt.Errorf("no readable %s annotation", SignatureAnnotation)
	}
	payload, err := readBlob(sigs, l)
	if err != nil {
		return err
	}
	var p simpleSigning
	if err := json.Unmarshal(payload, &p); err != nil {
		return fmt.Errorf("payload is not simple-signing JSON: %w", err)
	}
	sum := sha256.Sum256(payload)
	if !ecdsa.VerifyASN1(key, sum[:], sig) {
		return errors.New("the signature does not match the payload with this key (another key signed it, or the payload was altered)")
	}
	if p.Critical.Type != simpleSigningType {
		return fmt.Errorf("signed payload of type %q, not %q", p.Critical.Type, simpleSigningType)
	}
	if p.Critical.Image.DockerManifestDigest != digest.String() {
		return fmt.Errorf("the signed payload names %s, not this image (%s): a signature of another image", p.Critical.Image.DockerManifestDigest, digest)
	}
	return nil
}

// readBlob reads a signature layer and checks it against its digest.
func readBlob(img v1.Image, l v1.Descriptor) ([]byte, error) {
	if l.Size > maxPayload {
		return nil, fmt.Errorf("payload of %d bytes; a cosign payload is under %d", l.Size, maxPayload)
	}
	layer, err := img.LayerByDigest(l.Digest)
	if err != nil {
		return nil, err
	}
	rc, err := layer.Compressed()
	if err != nil {
		return nil, fmt.Errorf("reading payload %s: %w", l.Digest, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, maxPayload+1))
	if err != nil {
		return nil, fmt.Errorf("reading payload %s: %w", l.Digest, err)
	}
	if h, _, _ := v1.SHA256(bytes.NewReader(b)); h != l.Digest {
		return nil, fmt.Errorf("payload bytes hash to %s, the manifest says %s", h, l.Digest)
	}
	return b, nil
}

// CopySignatures copies what cosign keeps beside the image digest in src
// (its signatures, .sig, and attestations, .att: the signed SBOM) to dst,
// so that the copy can be verified like the original. It returns the tags
// copied; one that src does not have is skipped.
func CopySignatures(src, dst name.Repository, digest v1.Hash, opts ...remote.Option) ([]string, error) {
	var copied []string
	for _, suffix := range []string{".sig", ".att"} {
		tag := digest.Algorithm + "-" + digest.Hex + suffix
		img, err := remote.Image(src.Tag(tag), opts...)
		if isNotFound(err) {
			continue
		}
		if err != nil {
			return copied, explain("reading", src.Tag(tag), err)
		}
		if err := remote.Write(dst.Tag(tag), img, opts...); err != nil {
			return copied, explain("pushing to", dst.Tag(tag), err)
		}
		copied = append(copied, tag)
	}
	return copied, nil
}

func isNotFound(err error) bool {
	var terr *transport.Error
	return errors.As(err, &terr) && (terr.StatusCode == http.StatusNotFound ||
		hasCode(terr, transport.ManifestUnknownErrorCode, transport.NameUnknownErrorCode))
}
