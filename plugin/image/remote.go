package image

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// Options are the registry options of every call: the user's docker and
// podman credentials (go-containerregistry's default keychain) and ctx.
func Options(ctx context.Context, userAgent string) []remote.Option {
	return []remote.Option{
		remote.WithContext(ctx),
		remote.WithAuthFromKeychain(authn.DefaultKeychain),
		remote.WithUserAgent(userAgent),
	}
}

// Push uploads img (an image or an index) to ref and returns its digest.
func Push(img remote.Taggable, ref name.Reference, opts ...remote.Option) (v1.Hash, error) {
	d, err := Digest(img)
	if err != nil {
		return v1.Hash{}, err
	}
	if err := remote.Push(ref, img, opts...); err != nil {
		return v1.Hash{}, explain("pushing to", ref, err)
	}
	return d, nil
}

// Get fetches the image or index that ref names.
func Get(ref name.Reference, opts ...remote.Option) (remote.Taggable, error) {
	desc, err := remote.Get(ref, opts...)
	if err != nil {
		return nil, explain("reading", ref, err)
	}
	if desc.MediaType.IsIndex() {
		return desc.ImageIndex()
	}
	return desc.Image()
}

// Digest is the digest of an image or an index.
func Digest(t remote.Taggable) (v1.Hash, error) {
	switch t := t.(type) {
	case v1.Image:
		return t.Digest()
	case v1.ImageIndex:
		return t.Digest()
	}
	return v1.Hash{}, fmt.Errorf("%T is neither an image nor an index", t)
}

// explain turns a registry error into one that says what to do.
func explain(verb string, r name.Reference, err error) error {
	ref := r.Name()
	reg := r.Context().RegistryStr()
	var terr *transport.Error
	var nerr net.Error
	switch {
	case errors.As(err, &terr) && terr.StatusCode == http.StatusNotFound,
		errors.As(err, &terr) && hasCode(terr, transport.ManifestUnknownErrorCode, transport.NameUnknownErrorCode):
		return fmt.Errorf("%s %s: the registry has no such image: %w (check the name and tag, or copy from the release's OCI tarball with --from FILE)", verb, ref, err)
	case errors.As(err, &terr) && (terr.StatusCode == http.StatusUnauthorized || terr.StatusCode == http.StatusForbidden):
		return fmt.Errorf("%s %s: the registry refused our credentials: %w (log in with docker login %s or podman login %s)", verb, ref, err, reg, reg)
	case errors.As(err, &nerr):
		return fmt.Errorf("%s %s: the registry %s cannot be reached: %w (is it up, and is the host and port right?)", verb, ref, reg, err)
	}
	return fmt.Errorf("%s %s: %w", verb, ref, err)
}

func hasCode(e *transport.Error, codes ...transport.ErrorCode) bool {
	for _, d := range e.Errors {
		for _, c := range codes {
			if d.Code == c {
				return true
			}
		}
	}
	return false
}
