// Command ociimage builds kubectl pixie's images with go-containerregistry
// (plugin/image): FROM scratch, one layer holding one static binary, which is
// the entrypoint; one image per architecture in an OCI index. The result is
// reproducible (same binaries and epoch, same digests). It can write an OCI
// image layout tarball (`ctr -n k8s.io images import`, `image push --from`),
// push to a registry, and write the digest to a file.
//
//	go run ./hack/ociimage -o probe.oci.tar -name localhost/kubectl-pixie/probe:v0.1.0 \
//	    -epoch 1700000000 -bin amd64=dist/build/linux_amd64/pixie-agent [-bin arm64=...] \
//	    [-push 127.0.0.1:5000/pixie/kubectl-pixie-probe:v0.1.0] [-digest-file probe.digest]
//	go run ./hack/ociimage -from probe.oci.tar -push HOST/REPO:TAG [-digest-file F]
//
// One -bin: the tarball holds that image alone. Several: an index. A push
// sends the same manifest bytes, so its digest is the tarball's.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/kubectl-pixie/kubectl-pixie/plugin/image"
)

type binFlag map[string]string

func (b binFlag) String() string { return fmt.Sprint(map[string]string(b)) }
func (b binFlag) Set(v string) error {
	arch, path, ok := strings.Cut(v, "=")
	if !ok || arch == "" || path == "" {
		return errors.New("want ARCH=PATH, e.g. amd64=bin/pixie-agent")
	}
	if _, dup := b[arch]; dup {
		return fmt.Errorf("architecture %s given twice", arch)
	}
	b[arch] = path
	return nil
}

type config struct {
	out, name, push, digestFile, from string
	spec                              image.Spec
}

func main() {
	bins := binFlag{}
	var c config
	var epoch int64
	flag.StringVar(&c.out, "o", "", "write an OCI image layout tarball here")
	flag.StringVar(&c.name, "name", "", "image name kept in the tarball, with host and tag, e.g. localhost/kubectl-pixie/probe:v0.1.0")
	flag.StringVar(&c.push, "push", "", "push the image to this reference, e.g. 127.0.0.1:5000/pixie/kubectl-pixie-probe:v0.1.0")
	flag.StringVar(&c.digestFile, "digest-file", "", "write the image digest (sha256:...) here")
	flag.StringVar(&c.from, "from", "", "take the image from this OCI layout tarball instead of building it")
	flag.Int64Var(&epoch, "epoch", 0, "timestamp of every file and of the image (SOURCE_DATE_EPOCH)")
	flag.StringVar(&c.spec.Entrypoint, "entrypoint", "/pixie-agent", "path of the binary in the image, run as its entrypoint")
	flag.StringVar(&c.spec.Title, "title", "kubectl-pixie probe", "org.opencontainers.image.title label")
	flag.Var(bins, "bin", "ARCH=PATH of a static linux binary (repeatable)")
	flag.Var(bins, "agent", "same as -bin")
	flag.Parse()
	c.spec.Binaries, c.spec.Created = bins, time.Unix(epoch, 0).UTC()
	if (len(bins) == 0) == (c.from == "") || (c.out == "" && c.push == "" && c.digestFile == "") || (c.out != "" && c.name == "") {
		fmt.Fprintln(os.Stderr, "usage: ociimage [-o OUT.tar -name HOST/REPO:TAG] [-push HOST/REPO:TAG] [-digest-file FILE] [-epoch SECONDS] [-entrypoint /PATH] -bin ARCH=PATH...\n       ociimage -from IN.tar -push HOST/REPO:TAG [-digest-file FILE]")
		os.Exit(2)
	}
	if err := run(context.Background(), c, os.Stdout); err != nil {
		fmt.Fprintf(os.Stderr, "ociimage: %v\n", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, c config, out io.Writer) error {
	if c.from != "" && c.out != "" {
		return errors.New("-from copies a tarball: it takes -push, not -o")
	}
	var dst name.Reference
	var err error
	if c.push != "" {
		if dst, err = name.ParseReference(c.push, name.StrictValidation); err != nil {
			return fmt.Errorf("-push %q: %w (want HOST/REPO:TAG)", c.push, err)
		}
	}
	top, done, err := source(c)
	if err != nil {
		return err
	}
	defer done()
	d, err := image.Digest(top)
	if err != nil {
		return err
	}
	if dst != nil {
		if _, err := image.Push(top, dst, image.Options(ctx, "kubectl-pixie-ociimage")...); err != nil {
			return err
		}
	}
	if c.digestFile != "" {
		if err := os.WriteFile(c.digestFile, []byte(d.String()+"\n"), 0o644); err != nil {
			return err
		}
	}
	_, err = fmt.Fprintf(out, "%s %s%s\n", d, c.out+c.from, pushed(c.push))
	return err
}

// source builds the image (and writes -o), or reads it with -from; done
// removes what reading unpacked.
func source(c config) (top remote.Taggable, done func(), err error) {
	if c.from != "" {
		tb, err := image.ReadTarball(c.from)
		if err != nil {
			return nil, nil, err
		}
		return tb.Image, func() { tb.Close() }, nil
	}
	idx, err := image.Build(c.spec)
	if err != nil {
		return nil, nil, err
	}
	if c.out != "" {
		if err := image.WriteTarball(c.out, idx, c.name, c.spec.Created); err != nil {
			return nil, nil, err
		}
	}
	top, err = image.Top(idx)
	return top, func() {}, err
}

func pushed(ref string) string {
	if ref == "" {
		return ""
	}
	return " pushed to " + ref
}
