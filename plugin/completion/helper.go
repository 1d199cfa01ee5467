package completion

import (
	_ "embed"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
)

// HelperName is the executable kubectl looks up on PATH to complete the
// arguments of `kubectl pixie` (kubectl_complete-<plugin>, see
// k8s.io/kubectl/pkg/cmd/plugin/plugin_completion.go).
const HelperName = "kubectl_complete-pixie"

// The helper scripts, also copied into release archives by hack/dist.
var (
	//go:embed kubectl_complete-pixie
	helperSh []byte
	//go:embed kubectl_complete-pixie.cmd
	helperCmd []byte
)

// Helper returns the helper's file name and content for goos: a POSIX sh
// script, or a .cmd batch file on Windows (where exec.LookPath only finds
// names with a PATHEXT extension).
func Helper(goos string) (name string, content []byte) {
	if goos == "windows" {
		return HelperName + ".cmd", helperCmd
	}
	return HelperName, helperSh
}

// InstallHelper writes the helper for this OS into dir, executable, and
// returns its path. An existing helper is replaced.
func InstallHelper(dir string) (string, error) {
	name, content := Helper(runtime.GOOS)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("creating %s: %w", dir, err)
	}
	path := filepath.Join(dir, name)
	// Write then rename, so a concurrent completion never runs half a file.
	tmp, err := os.CreateTemp(dir, "."+name+"-*")
	if err != nil {
		return "", fmt.Errorf("writing the completion helper into %s: %w (choose another directory on PATH with --dir)", dir, err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(content); err != nil {
		tmp.Close()
		return "", fmt.Errorf("writing %s: %w", tmp.Name(), err)
	}
	if err := tmp.Close(); err != nil {
		return "", fmt.Errorf("writing %s: %w", tmp.Name(), err)
	}
	if err := os.Chmod(tmp.Name(), 0o755); err != nil {
		return "", fmt.Errorf("making %s executable: %w", tmp.Name(), err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return "", fmt.Errorf("installing %s: %w", path, err)
	}
	return path, nil
}

// PluginDir is the directory the running plugin was found in, without
// resolving symlinks: under krew that is ~/.krew/bin (on PATH), where the
// binary is a symlink into ~/.krew/store (not on PATH). kubectl runs
// plugins with their full path as argv[0].
func PluginDir(argv0 string) (string, error) {
	if strings.ContainsRune(argv0, filepath.Separator) || strings.ContainsRune(argv0, '/') {
		abs, err := filepath.Abs(argv0)
		if err == nil {
			return filepath.Dir(abs), nil
		}
	} else if argv0 != "" {
		if p, err := exec.LookPath(argv0); err == nil {
			if abs, err := filepath.Abs(p); err == nil {
				return filepath.Dir(abs), nil
			}
		}
	}
	exe, err := os.Executable()
	if err != nil {
		return "", fmt.Errorf("finding the plugin's directory: %w (pass --dir)", err)
	}
	return filepath.Dir(exe), nil
}

// OnPath reports whether dir is one of the directories in the PATH value.
func OnPath(dir, path string) bool {
	clean := filepath.Clean(dir)
	for _, d := range filepath.SplitList(path) {
		if d != "" && filepath.Clean(d) == clean {
			return true
		}
	}
	return false
}
