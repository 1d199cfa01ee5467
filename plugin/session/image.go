package session

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/kubectl-pixie/kubectl-pixie/internal/version"
)

// imageRef is an image reference as the container runtimes take it:
// [host[:port]/]path[:tag][@sha256:hex], the path in lower case.
var imageRef = regexp.MustCompile(`^` +
	`(?:[a-zA-Z0-9.-]+(?::[0-9]+)?/)?` + // registry host
	`[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*` + // path
	`(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?` + // tag
	`(?:@sha256:[0-9a-f]{64})?$`)

// checkImage validates a probe image reference without I/O.
func checkImage(image string) error {
	if image == "" {
		return fmt.Errorf("empty --image: name the probe image, e.g. %s", version.ProbeImage)
	}
	if !imageRef.MatchString(image) {
		hint := "REGISTRY/REPO:TAG or REGISTRY/REPO@sha256:DIGEST (64 hex digits), the path in lower case"
		if i := strings.Index(image, "@"); i >= 0 && !strings.HasPrefix(image[i:], "@sha256:") {
			hint = "a digest is @sha256: and 64 hex digits"
		}
		return fmt.Errorf("--image %q is not an image reference: use %s", image, hint)
	}
	return nil
}

// ImageWarning is what to say, once, about a probe image chosen by hand
// (--image or PIXIE_IMAGE) without a digest: a tag can be moved, so the
// nodes may run another agent than this plugin's. "" when there is nothing
// to say.
func ImageWarning(image string) string {
	if image == version.ProbeImage || strings.Contains(image, "@sha256:") {
		return ""
	}
	return fmt.Sprintf("warning: probe image %s (--image or %s) names no digest: nodes may run another agent than this plugin's (%s)\n"+
		"  pin it as REPO:TAG@sha256:DIGEST; `kubectl pixie image push REGISTRY/REPO` prints that reference\n", image, EnvImage, version.Version)
}
