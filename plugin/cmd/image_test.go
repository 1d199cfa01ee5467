package cmd

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/kubectl-pixie/kubectl-pixie/internal/version"
	"github.com/kubectl-pixie/kubectl-pixie/plugin/image"
	"github.com/kubectl-pixie/kubectl-pixie/plugin/image/registrytest"
)

func TestImagePushValidate(t *testing.T) {
	const release = "ghcr.io/o/r/kubectl-pixie-probe:v0.9.0@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	for _, c := range []struct {
		dest, from, source, want, tag string
	}{
		{dest: "registry.example.com/pixie/probe", source: release, tag: "registry.example.com/pixie/probe:v0.9.0"},
		{dest: "127.0.0.1:5000/pixie/probe:mine", source: release, tag: "127.0.0.1:5000/pixie/probe:mine"},
		{dest: "localhost/probe", source: "localhost/kubectl-pixie/probe:dev", from: "x.tar", tag: "localhost/probe:v0.9.0"},
		{dest: "pixie/probe", source: release, want: "names no registry"},
		{dest: "probe", source: release, want: "names no registry"},
		{dest: "registry.example.com/pixie/probe@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", source: release, want: "has a digest"},
		{dest: "registry.example.com/Pixie/Probe", source: release, want: "is not REGISTRY/REPO"},
		{dest: "registry.example.com/pixie/probe", source: "localhost/kubectl-pixie/probe:dev", want: "development build"},
	} {
		o := NewImagePushOptions(genericiooptions.NewTestIOStreamsDiscard())
		o.From = c.from
		o.dest, o.source, o.plugin = c.dest, c.source, "v0.9.0"
		err := o.Validate()
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s: %v", c.dest, err)
		case c.want == "" && o.resolved.dest.Name() != c.tag:
			t.Errorf("%s: resolved to %s, want %s", c.dest, o.resolved.dest.Name(), c.tag)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%s: error %v, want %q", c.dest, err, c.want)
		}
	}
}

// releaseImage builds a two-arch image from a real stand-in binary and
// writes it as an OCI tarball.
func releaseImage(t *testing.T) string {
	t.Helper()
	bins := map[string]string{}
	for _, arch := range []string{"amd64", "arm64"} {
		out := filepath.Join(t.TempDir(), "agent-"+arch)
		cmd := exec.Command("go", "build", "-o", out, "../image/testdata/hello")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+arch)
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("building the stand-in agent: %v\n%s", err, b)
		}
		bins[arch] = out
	}
	idx, err := image.Build(image.Spec{Entrypoint: "/pixie-agent", Binaries: bins, Created: time.Unix(1700000000, 0)})
	if err != nil {
		t.Fatal(err)
	}
	tarball := filepath.Join(t.TempDir(), "kubectl-pixie-probe_v0.9.0.oci.tar")
	if err := image.WriteTarball(tarball, idx, "example.com/kubectl-pixie-probe:v0.9.0", time.Unix(1700000000, 0)); err != nil {
		t.Fatal(err)
	}
	return tarball
}

// asRelease makes this test binary a release plugin built with ref.
func asRelease(t *testing.T, ref string) {
	oldImage, oldVersion := version.ProbeImage, version.Version
	version.ProbeImage, version.Version = ref, "v0.9.0"
	t.Cleanup(func() { version.ProbeImage, version.Version = oldImage, oldVersion })
}

func push(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errOut bytes.Buffer
	cmd := NewCmdImagePush(genericiooptions.IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut})
	cmd.SetArgs(args)
	cmd.SetOut(&errOut)
	cmd.SetErr(&errOut)
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	err = cmd.ExecuteContext(ctx)
	return out.String(), errOut.String(), err
}

// TestImagePush copies for real between two docker-registry instances:
// tarball -> release registry (as make release does), release registry ->
// the user's registry by the baked digest, then the errors a user meets.
func TestImagePush(t *testing.T) {
	if testing.Short() {
		t.Skip("SKIP: -short: starts registries and builds images")
	}
	releaseReg, userReg := registrytest.Start(t), registrytest.Start(t)
	tarball := releaseImage(t)
	asRelease(t, "localhost/kubectl-pixie/probe:dev") // no digest yet: only --from works

	stdout, stderr, err := push(t, releaseReg.Host+"/pixie/kubectl-pixie-probe", "--from", tarball)
	if err != nil {
		t.Fatalf("push --from: %v\n%s", err, stderr)
	}
	released := strings.TrimSpace(stdout)
	if !strings.HasPrefix(released, releaseReg.Host+"/pixie/kubectl-pixie-probe:v0.9.0@sha256:") {
		t.Fatalf("push --from printed %q", stdout)
	}
	if !strings.Contains(stderr, "--image "+released) {
		t.Errorf("stderr does not say which --image to use:\n%s", stderr)
	}
	tb, err := image.ReadTarball(tarball)
	if err != nil {
		t.Fatal(err)
	}
	defer tb.Close()
	if d, _ := image.Digest(tb.Image); !strings.HasSuffix(released, "@"+d.String()) {
		t.Errorf("pushed %s, the tarball holds %s", released, d)
	}

	// A release plugin copies the image it names by digest, and the
	// signature and attestation cosign keeps beside it (stand-ins here:
	// doctor --verify's tests sign with the real cosign).
	asRelease(t, released)
	sigTag := strings.Replace(digestOf(released), ":", "-", 1)
	for _, suffix := range []string{".sig", ".att"} {
		img, _ := random.Image(64, 1)
		tag, _ := name.NewTag(releaseReg.Host + "/pixie/kubectl-pixie-probe:" + sigTag + suffix)
		if err := remote.Write(tag, img); err != nil {
			t.Fatal(err)
		}
	}
	stdout, stderr, err = push(t, userReg.Host+"/team/probe")
	if err != nil {
		t.Fatalf("push: %v\n%s", err, stderr)
	}
	copied := strings.TrimSpace(stdout)
	if want := userReg.Host + "/team/probe:v0.9.0@" + digestOf(released); copied != want {
		t.Errorf("printed %q, want %q", copied, want)
	}
	ref, _ := name.ParseReference(copied)
	if _, err := image.Get(ref, image.Options(context.Background(), "test")...); err != nil {
		t.Errorf("the copy cannot be pulled by digest: %v", err)
	}
	for _, suffix := range []string{".sig", ".att"} {
		srcTag, _ := name.NewTag(releaseReg.Host + "/pixie/kubectl-pixie-probe:" + sigTag + suffix)
		dstTag, _ := name.NewTag(userReg.Host + "/team/probe:" + sigTag + suffix)
		src, err1 := remote.Head(srcTag)
		dst, err2 := remote.Head(dstTag)
		if err1 != nil || err2 != nil || src.Digest != dst.Digest {
			t.Errorf("%s not copied beside the image: %v %v", suffix, err1, err2)
		}
	}
	if !strings.Contains(stderr, "copied its cosign signature and attestations too") {
		t.Errorf("the copy of the signatures is not said:\n%s", stderr)
	}

	// Missing image: the release registry has no such repository.
	asMissing := strings.Replace(released, "kubectl-pixie-probe:v0.9.0@", "other:v0.9.0@", 1)
	asRelease(t, asMissing)
	if _, _, err := push(t, userReg.Host+"/team/probe"); err == nil || !strings.Contains(err.Error(), "has no such image") || !strings.Contains(err.Error(), "--from") {
		t.Errorf("missing image: %v", err)
	}
	// Registry down.
	asRelease(t, released)
	userReg.Stop()
	if _, _, err := push(t, userReg.Host+"/team/probe"); err == nil || !strings.Contains(err.Error(), "cannot be reached") {
		t.Errorf("registry down: %v", err)
	}
	// A file that is not there.
	if _, _, err := push(t, releaseReg.Host+"/x/probe", "--from", tarball+".gone"); err == nil || !strings.Contains(err.Error(), "--from") {
		t.Errorf("missing --from file: %v", err)
	}
}
