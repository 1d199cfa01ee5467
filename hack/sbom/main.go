// Command sbom writes an SPDX 2.3 JSON software bill of materials for
// release binaries, from the module list Go embeds in each (debug/buildinfo):
// one package per binary (with its sha256), one per Go module it links
// (with its version and purl), and CONTAINS relationships between them.
// The output is reproducible: sorted, and timed by -epoch.
//
//	go run ./hack/sbom -o dist/kubectl-pixie_v1.2.3.spdx.json -name kubectl-pixie -version v1.2.3 \
//	    -epoch 1700000000 dist/build/linux_amd64/kubectl-pixie dist/build/linux_amd64/pixie-agent ...
package main

import (
	"crypto/sha256"
	"debug/buildinfo"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"
)

type doc struct {
	SPDXVersion       string         `json:"spdxVersion"`
	DataLicense       string         `json:"dataLicense"`
	SPDXID            string         `json:"SPDXID"`
	Name              string         `json:"name"`
	DocumentNamespace string         `json:"documentNamespace"`
	CreationInfo      creationInfo   `json:"creationInfo"`
	Packages          []pkg          `json:"packages"`
	Relationships     []relationship `json:"relationships"`
}

type creationInfo struct {
	Created  string   `json:"created"`
	Creators []string `json:"creators"`
}

type pkg struct {
	SPDXID           string     `json:"SPDXID"`
	Name             string     `json:"name"`
	VersionInfo      string     `json:"versionInfo,omitempty"`
	PackageFileName  string     `json:"packageFileName,omitempty"`
	DownloadLocation string     `json:"downloadLocation"`
	FilesAnalyzed    bool       `json:"filesAnalyzed"`
	Checksums        []checksum `json:"checksums,omitempty"`
	ExternalRefs     []extRef   `json:"externalRefs,omitempty"`
}

type checksum struct {
	Algorithm string `json:"algorithm"`
	Value     string `json:"checksumValue"`
}

type extRef struct {
	Category string `json:"referenceCategory"`
	Type     string `json:"referenceType"`
	Locator  string `json:"referenceLocator"`
}

type relationship struct {
	Element string `json:"spdxElementId"`
	Type    string `json:"relationshipType"`
	Related string `json:"relatedSpdxElement"`
}

func main() {
	out := flag.String("o", "", "output file")
	name := flag.String("name", "kubectl-pixie", "what the document describes")
	version := flag.String("version", "", "release version")
	epoch := flag.Int64("epoch", 0, "creation time (SOURCE_DATE_EPOCH)")
	flag.Parse()
	if *out == "" || *version == "" || flag.NArg() == 0 {
		fmt.Fprintln(os.Stderr, "usage: sbom -o OUT.spdx.json -version vX.Y.Z [-name NAME] [-epoch SECONDS] BINARY...")
		os.Exit(2)
	}
	d, err := build(*name, *version, time.Unix(*epoch, 0), flag.Args())
	if err == nil {
		err = write(*out, d)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "sbom: %v\n", err)
		os.Exit(1)
	}
}

// unsafeID are the characters SPDX ids may not hold.
var unsafeID = regexp.MustCompile(`[^A-Za-z0-9.-]+`)

func spdxID(kind, s string) string {
	return "SPDXRef-" + kind + "-" + unsafeID.ReplaceAllString(s, "-")
}

func build(name, version string, created time.Time, bins []string) (*doc, error) {
	d := &doc{
		SPDXVersion: "SPDX-2.3", DataLicense: "CC0-1.0", SPDXID: "SPDXRef-DOCUMENT",
		Name:              name + "-" + version,
		DocumentNamespace: "https://github.com/kubectl-pixie/kubectl-pixie/spdx/" + name + "-" + version,
		CreationInfo:      creationInfo{Created: created.UTC().Format(time.RFC3339), Creators: []string{"Tool: kubectl-pixie hack/sbom"}},
	}
	modules := map[string]pkg{}
	sort.Strings(bins)
	for _, bin := range bins {
		b, err := os.ReadFile(bin)
		if err != nil {
			return nil, err
		}
		info, err := buildinfo.ReadFile(bin)
		if err != nil {
			return nil, fmt.Errorf("%s: %w (a Go binary built with module support?)", bin, err)
		}
		sum := sha256.Sum256(b)
		platform := filepath.Base(filepath.Dir(bin)) // dist/build/OS_ARCH/NAME
		id := spdxID("Binary", platform+"-"+filepath.Base(bin))
		d.Packages = append(d.Packages, pkg{SPDXID: id, Name: filepath.Base(bin) + " (" + platform + ")", VersionInfo: version,
			PackageFileName: filepath.Base(bin), DownloadLocation: "NOASSERTION",
			Checksums: []checksum{{Algorithm: "SHA256", Value: hex.EncodeToString(sum[:])}}})
		d.Relationships = append(d.Relationships, relationship{"SPDXRef-DOCUMENT", "DESCRIBES", id})
		deps := append([]string{"stdlib@" + strings.TrimPrefix(info.GoVersion, "go")}, moduleRefs(info)...)
		for _, dep := range deps {
			path, ver, _ := strings.Cut(dep, "@")
			mid := spdxID("Module", path+"-"+ver)
			if _, ok := modules[mid]; !ok {
				modules[mid] = pkg{SPDXID: mid, Name: path, VersionInfo: ver, DownloadLocation: "NOASSERTION",
					ExternalRefs: []extRef{{"PACKAGE-MANAGER", "purl", "pkg:golang/" + path + "@" + ver}}}
			}
			d.Relationships = append(d.Relationships, relationship{id, "CONTAINS", mid})
		}
	}
	ids := make([]string, 0, len(modules))
	for id := range modules {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		d.Packages = append(d.Packages, modules[id])
	}
	return d, nil
}

// moduleRefs lists the linked modules as PATH@VERSION, replacements resolved.
func moduleRefs(info *buildinfo.BuildInfo) []string {
	var refs []string
	for _, m := range info.Deps {
		if m.Replace != nil {
			m = m.Replace
		}
		refs = append(refs, m.Path+"@"+m.Version)
	}
	return refs
}

func write(out string, d *doc) error {
	b, err := json.MarshalIndent(d, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(out, append(b, '\n'), 0o644)
}
