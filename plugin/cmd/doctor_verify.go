package cmd

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"errors"
	"fmt"
	"os/exec"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/spf13/pflag"

	"github.com/kubectl-pixie/kubectl-pixie/internal/version"
	"github.com/kubectl-pixie/kubectl-pixie/plugin/image"
)

// The identity of a keyless release signature: the release workflow of the
// project's repository, run for this version's tag.
const (
	releaseIssuer   = "https://token.actions.githubusercontent.com"
	releaseIdentity = "https://github.com/kubectl-pixie/kubectl-pixie/.github/workflows/release.yml@refs/tags/"
)

// verifyFlags are doctor's signature check: a key-based cosign signature is
// checked here (plugin/image); a keyless one by the cosign program, since
// that needs Sigstore's certificate and transparency-log roots.
type verifyFlags struct {
	Verify   bool
	Key      string
	Identity string
	Issuer   string

	key    *ecdsa.PublicKey // loaded by validate
	cosign string           // program name; tests change it
}

func (v *verifyFlags) addFlags(fs *pflag.FlagSet) {
	fs.BoolVar(&v.Verify, "verify", false, "check the probe image's cosign signature before any pod runs it (keyless release signature by default)")
	fs.StringVar(&v.Key, "key", "", "with --verify: the cosign public key (cosign.pub) the image was signed with")
	fs.StringVar(&v.Identity, "certificate-identity", "", "with --verify: the signer of a keyless signature (default: this version's release workflow)")
	fs.StringVar(&v.Issuer, "certificate-oidc-issuer", "", "with --verify: the OIDC issuer of a keyless signature (default "+releaseIssuer+")")
}

// validate checks the flags and reads the key, before any other I/O.
func (v *verifyFlags) validate() error {
	keyless := v.Identity != "" || v.Issuer != ""
	switch {
	case !v.Verify && (v.Key != "" || keyless):
		return errors.New("--key, --certificate-identity and --certificate-oidc-issuer choose how --verify checks the signature: add --verify")
	case v.Key != "" && keyless:
		return errors.New("--key checks a key-based signature, --certificate-identity and --certificate-oidc-issuer a keyless one: give one or the other")
	case !v.Verify:
		return nil
	case v.Key != "":
		k, err := image.LoadPublicKey(v.Key)
		if err != nil {
			return fmt.Errorf("--key: %w", err)
		}
		v.key = k
		return nil
	case keyless && (v.Identity == "" || v.Issuer == ""):
		return errors.New("a keyless signature is checked against both --certificate-identity and --certificate-oidc-issuer: give both (or neither, for this version's release signature)")
	case !keyless:
		v.Identity, v.Issuer = releaseIdentity+version.Version, releaseIssuer
	}
	return nil
}

// signatureCheck verifies the probe image's signature. On success the
// image is pinned to the digest verified, so the nodes run those bytes.
func (o *DoctorOptions) signatureCheck(ctx context.Context) check {
	c := check{name: "probe image signature"}
	ref, err := name.ParseReference(o.Probe.Image)
	if err != nil {
		c.detail, c.remedy = fmt.Sprintf("%s: %v", o.Probe.Image, err), "name the image as REGISTRY/REPO:TAG@sha256:... with --image"
		return c
	}
	opts := image.Options(ctx, "kubectl-pixie/"+version.Version)
	var digest string
	if o.Verify.key != nil {
		d, err := image.Verify(ref, o.Verify.key, opts...)
		if err != nil {
			return keyFailure(c, ref, o.Verify.Key, err)
		}
		digest = d.String()
		c.detail = fmt.Sprintf("signed with %s (cosign, key-based): %s@%s", o.Verify.Key, ref.Context(), digest)
	} else {
		d, err := image.Resolve(ref, opts...)
		if err != nil {
			c.detail, c.remedy = err.Error(), "the image must be readable from here to check its signature"
			return c
		}
		digest = d.String()
		if c = o.keyless(ctx, c, ref.Context().String()+"@"+digest); !c.ok {
			return c
		}
	}
	c.ok = true
	if repo, _, _ := strings.Cut(o.Probe.Image, "@"); repo+"@"+digest != o.Probe.Image {
		o.Probe.Image = repo + "@" + digest
		c.detail += " (the image pods below run this digest)"
	}
	return c
}

func keyFailure(c check, ref name.Reference, key string, err error) check {
	c.detail = err.Error()
	switch {
	case errors.Is(err, image.ErrNoSignature):
		c.remedy = fmt.Sprintf("sign it (cosign sign --key cosign.key %s@sha256:...), or verify the image you copied it from: both have the same digest", ref.Context())
	case strings.Contains(err.Error(), "verifies with the key"):
		c.remedy = fmt.Sprintf("do not run this image: it is not signed with %s. Check that this is the key its publisher gave", key)
	default:
		c.remedy = "the image must be readable from here to check its signature"
	}
	return c
}

// keyless runs cosign verify with the expected identity.
func (o *DoctorOptions) keyless(ctx context.Context, c check, ref string) check {
	args := []string{"verify", "--certificate-identity", o.Verify.Identity, "--certificate-oidc-issuer", o.Verify.Issuer, ref}
	command := "cosign " + strings.Join(args, " ")
	prog := o.Verify.cosign
	if prog == "" {
		prog = "cosign"
	}
	path, err := exec.LookPath(prog)
	if err != nil {
		c.detail = "keyless signatures are checked by cosign, which is not installed here"
		c.remedy = "install cosign (https://docs.sigstore.dev/cosign/system_config/installation/) and run doctor again, or run: " + command
		return c
	}
	cmd := exec.CommandContext(ctx, path, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		c.detail = fmt.Sprintf("%s: %v: %s", command, err, lastLine(stderr.String()))
		c.remedy = "do not run this image unless you expected another signer: then pass it with --certificate-identity and --certificate-oidc-issuer (or --key for a key-based signature)"
		return c
	}
	c.ok = true
	c.detail = fmt.Sprintf("keyless, signed by %s (issuer %s), checked by cosign: %s", o.Verify.Identity, o.Verify.Issuer, ref)
	return c
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}
