// Package version reports what this build is, for the plugin and the agent
// alike (the agent says its version first, and the plugin compares them).
// -ldflags -X at release; debug.ReadBuildInfo fills the gaps for go install.
package version

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

var (
	// Version is the release, v-prefixed semver.
	Version = "v0.0.0-dev"
	// Commit is the git commit the binary was built from.
	Commit = ""
	// Date is the build time, RFC 3339.
	Date = ""
	// ProbeImage is the default probe image for cluster runs.
	ProbeImage = "localhost/kubectl-pixie/probe:dev"
)

// Info is what `kubectl pixie version` prints.
type Info struct {
	Version    string `json:"version"`
	Commit     string `json:"commit"`
	Date       string `json:"buildDate"`
	GoVersion  string `json:"goVersion"`
	Platform   string `json:"platform"`
	ProbeImage string `json:"probeImage"`
}

// Get returns the build information.
func Get() Info {
	i := Info{
		Version:    Version,
		Commit:     Commit,
		Date:       Date,
		GoVersion:  runtime.Version(),
		Platform:   fmt.Sprintf("%s/%s", runtime.GOOS, runtime.GOARCH),
		ProbeImage: ProbeImage,
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				if i.Commit == "" {
					i.Commit = s.Value
				}
			case "vcs.time":
				if i.Date == "" {
					i.Date = s.Value
				}
			}
		}
	}
	return i
}
