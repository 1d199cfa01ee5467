package cmd

import (
	"context"
	"fmt"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	cmdutil "k8s.io/kubectl/pkg/cmd/util"
	"k8s.io/kubectl/pkg/util/templates"

	"github.com/kubectl-pixie/kubectl-pixie/internal/version"
	"github.com/kubectl-pixie/kubectl-pixie/plugin/image"
)

func init() { register(NewCmdImage) }

// NewCmdImage groups the commands about the probe image.
func NewCmdImage(_ cmdutil.Factory, streams genericiooptions.IOStreams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "image",
		Short: "Copy this version's probe image into your registry",
		Args:  cobra.NoArgs,
	}
	cmd.AddCommand(NewCmdImagePush(streams))
	return cmd
}

// ImagePushOptions holds the flags of `kubectl pixie image push`.
type ImagePushOptions struct {
	// From is an OCI layout tarball to copy instead of the release image.
	From string

	// Set by Complete.
	dest     string
	source   string // the release image this plugin runs by default
	plugin   string // this plugin's version
	resolved struct {
		dest   name.Reference
		source name.Reference // nil with --from
	}
	genericiooptions.IOStreams
}

// NewImagePushOptions returns the defaults.
func NewImagePushOptions(streams genericiooptions.IOStreams) *ImagePushOptions {
	return &ImagePushOptions{IOStreams: streams}
}

// NewCmdImagePush copies the probe image to REGISTRY/REPO.
func NewCmdImagePush(streams genericiooptions.IOStreams) *cobra.Command {
	o := NewImagePushOptions(streams)
	cmd := &cobra.Command{
		Use:   "push REGISTRY/REPO[:TAG] [--from FILE]",
		Short: "Copy this version's probe image into REGISTRY/REPO and print the --image to use",
		Long: templates.LongDesc(`
			Copy the probe image of this plugin's version (the release image the
			plugin names by digest, or the release's OCI tarball with --from) into a
			registry your nodes can pull from, with your docker or podman
			credentials (docker login / podman login). Prints the reference to use,
			with its digest, on stdout; pass it as --image or PIXIE_IMAGE. The tag
			is this plugin's version unless you name one.`),
		Example: templates.Examples(`
			# copy from the public release registry into a private one
			kubectl pixie image push registry.internal/pixie/probe

			# air-gapped: from the release's tarball (kubectl-pixie-probe_VERSION.oci.tar)
			kubectl pixie image push registry.internal/pixie/probe --from kubectl-pixie-probe_v0.9.0.oci.tar

			# then, for every command
			export PIXIE_IMAGE=$(kubectl pixie image push registry.internal/pixie/probe)`),
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Complete(args)
			if err := o.Validate(); err != nil {
				return err
			}
			return o.Run(cmd.Context())
		},
	}
	cmd.Flags().StringVar(&o.From, "from", o.From, "copy from this OCI image layout tarball (a release's kubectl-pixie-probe_VERSION.oci.tar) instead of the release registry")
	return cmd
}

// Complete takes the destination and this build's release image.
func (o *ImagePushOptions) Complete(args []string) {
	o.dest = args[0]
	o.source = version.ProbeImage
	o.plugin = version.Version
}

// Validate checks the destination and the source without I/O.
func (o *ImagePushOptions) Validate() error {
	dest, err := parseDest(o.dest, o.plugin)
	if err != nil {
		return err
	}
	o.resolved.dest = dest
	if o.From != "" {
		return nil
	}
	if !strings.Contains(o.source, "@sha256:") {
		return fmt.Errorf("this plugin (%s) is a development build whose probe image %s names no digest, so there is no release image to copy: "+
			"pass the image to copy with --from FILE (make image or make dist write an OCI tarball)", o.plugin, o.source)
	}
	if o.resolved.source, err = name.ParseReference(o.source); err != nil {
		return fmt.Errorf("this plugin's probe image %q is not a reference (%w): pass --from FILE", o.source, err)
	}
	return nil
}

// parseDest takes REGISTRY/REPO[:TAG]; the tag defaults to the plugin's version.
func parseDest(dest, plugin string) (name.Reference, error) {
	host, _, ok := strings.Cut(dest, "/")
	if !ok || !(strings.ContainsAny(host, ".:") || host == "localhost") {
		return nil, fmt.Errorf("%q names no registry: give REGISTRY/REPO, e.g. registry.example.com/pixie/probe or 127.0.0.1:5000/pixie/probe", dest)
	}
	if strings.Contains(dest, "@") {
		return nil, fmt.Errorf("%q has a digest: give REGISTRY/REPO or REGISTRY/REPO:TAG (the digest is the image's, printed after the push)", dest)
	}
	ref, err := name.ParseReference(dest, name.WithDefaultTag(tagOf(plugin)))
	if err != nil {
		return nil, fmt.Errorf("%q is not REGISTRY/REPO[:TAG] (%w): the path in lower case, e.g. registry.example.com/pixie/probe", dest, err)
	}
	return ref, nil
}

// tagOf is a version as a tag: tags allow [A-Za-z0-9_.-] only.
func tagOf(v string) string {
	return strings.Map(func(r rune) rune {
		if r == '_' || r == '.' || r == '-' || ('a' <= r && r <= 'z') || ('A' <= r && r <= 'Z') || ('0' <= r && r <= '9') {
			return r
		}
		return '-'
	}, v)
}

// Run copies the image and prints its reference with the digest.
func (o *ImagePushOptions) Run(ctx context.Context) error {
	opts := image.Options(ctx, "kubectl-pixie/"+o.plugin)
	src, from, done, err := o.open(opts)
	if err != nil {
		return err
	}
	defer done()
	fmt.Fprintf(o.ErrOut, "copying %s to %s\n", from, o.resolved.dest.Name())
	d, err := image.Push(src, o.resolved.dest, opts...)
	if err != nil {
		return err
	}
	ref := o.resolved.dest.Name() + "@" + d.String()
	if want := digestOf(o.source); o.From != "" && want != "" && want != d.String() {
		fmt.Fprintf(o.ErrOut, "warning: %s holds image %s, not %s that this plugin (%s) was built with: its agent may be of another version\n", o.From, d, want, o.plugin)
	}
	o.copySignatures(opts, d)
	fmt.Fprintf(o.ErrOut, "pushed; run probes from it with --image %s (or export PIXIE_IMAGE=%s)\n", ref, ref)
	_, err = fmt.Fprintln(o.Out, ref)
	return err
}

// copySignatures copies the release image's cosign signature and SBOM
// attestation beside the copy, so doctor --verify checks it too. A tarball
// holds none; a failure is a warning, since the image itself is copied.
func (o *ImagePushOptions) copySignatures(opts []remote.Option, d v1.Hash) {
	if o.From != "" {
		fmt.Fprintln(o.ErrOut, "note: an OCI tarball holds no signature: doctor --verify checks this copy only if you sign it (cosign sign --key ...)")
		return
	}
	tags, err := image.CopySignatures(o.resolved.source.Context(), o.resolved.dest.Context(), d, opts...)
	switch {
	case err != nil:
		fmt.Fprintf(o.ErrOut, "warning: the image was copied, its signatures were not: %v\n  doctor --verify checks the release image instead (same digest): --image %s\n", err, o.source)
	case len(tags) == 0:
		fmt.Fprintf(o.ErrOut, "note: %s has no cosign signature to copy\n", o.source)
	default:
		fmt.Fprintf(o.ErrOut, "copied its cosign signature and attestations too (%s): doctor --verify checks the copy\n", strings.Join(tags, ", "))
	}
}

// open returns the image to copy, what to call it, and what closes it.
func (o *ImagePushOptions) open(opts []remote.Option) (remote.Taggable, string, func(), error) {
	if o.From == "" {
		src, err := image.Get(o.resolved.source, opts...)
		return src, o.source, func() {}, err
	}
	tb, err := image.ReadTarball(o.From)
	if err != nil {
		return nil, "", nil, fmt.Errorf("--from: %w (a release's kubectl-pixie-probe_VERSION.oci.tar, or one from make image)", err)
	}
	return tb.Image, o.From, func() { tb.Close() }, nil
}

func digestOf(ref string) string {
	if _, d, ok := strings.Cut(ref, "@"); ok {
		return d
	}
	return ""
}
