package krew

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// pluginBinary builds cmd/kubectl-pixie (or takes PIXIE_PLUGIN_BIN).
func pluginBinary(t *testing.T) string {
	t.Helper()
	if b := os.Getenv("PIXIE_PLUGIN_BIN"); b != "" {
		return b
	}
	if testing.Short() {
		t.Skip("-short: not building kubectl-pixie")
	}
	out := filepath.Join(t.TempDir(), "kubectl-pixie")
	cmd := exec.Command("go", "build", "-o", out, "./cmd/kubectl-pixie")
	cmd.Dir = repoRoot(t)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building kubectl-pixie: %v\n%s", err, b)
	}
	return out
}

// kubectlComplete does what kubectl 1.26+ does for `kubectl pixie ARGS<TAB>`
// (k8s.io/kubectl/pkg/cmd/plugin/plugin_completion.go): look up
// kubectl_complete-pixie on PATH, run it with the words after "pixie" (the
// last one is the word being completed, "" for a new one), and read one
// completion per line with an optional ":<directive>" last line.
func kubectlComplete(t *testing.T, path string, args ...string) (comps []string, directive int) {
	t.Helper()
	t.Setenv("PATH", path)
	helper, err := exec.LookPath("kubectl_complete-pixie")
	if err != nil {
		t.Fatalf("kubectl would not find the helper: %v", err)
	}
	cmd := exec.Command(helper, args...)
	cmd.Env = []string{"PATH=" + path, "HOME=" + t.TempDir()}
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %q: %v", helper, args, err)
	}
	for _, l := range strings.Split(string(out), "\n") {
		if l != "" {
			comps = append(comps, l)
		}
	}
	if n := len(comps); n > 0 && strings.HasPrefix(comps[n-1], ":") {
		if d, err := strconv.Atoi(comps[n-1][1:]); err == nil {
			directive, comps = d, comps[:n-1]
		}
	}
	for i, c := range comps {
		comps[i], _, _ = strings.Cut(c, "\t") // drop descriptions
	}
	return comps, directive
}

func TestCompletionHelperAsKubectlRunsIt(t *testing.T) {
	built := pluginBinary(t)
	// krew's layout: the binary in the store, a symlink in bin/ (on PATH).
	krewRoot := t.TempDir()
	store := filepath.Join(krewRoot, "store", "pixie", "v1.0.0")
	bin := filepath.Join(krewRoot, "bin")
	for _, d := range []string{store, bin} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(built)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(store, "kubectl-pixie"), b, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(store, "kubectl-pixie"), filepath.Join(bin, "kubectl-pixie")); err != nil {
		t.Fatal(err)
	}
	path := bin + string(os.PathListSeparator) + "/usr/bin:/bin"

	// kubectl runs plugins by their full PATH path: the helper must land in
	// bin/, not in the store the symlink points to.
	install := exec.Command(filepath.Join(bin, "kubectl-pixie"), "completion", "install")
	install.Env = []string{"PATH=" + path, "HOME=" + t.TempDir()}
	out, err := install.Output()
	if err != nil {
		t.Fatalf("completion install: %v", err)
	}
	if got, want := strings.TrimSpace(string(out)), filepath.Join(bin, "kubectl_complete-pixie"); got != want {
		t.Fatalf("helper installed at %q, want %q", got, want)
	}

	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{""}, []string{"completion", "version"}},
		{[]string{"ver"}, []string{"version"}},
		{[]string{"completion", ""}, []string{"bash", "fish", "install", "powershell", "zsh"}},
		{[]string{"completion", "install", "--d"}, []string{"--dir"}},
		{[]string{"version", "--o"}, []string{"--output"}},
		{[]string{"version", "--names"}, []string{"--namespace"}},
	} {
		comps, directive := kubectlComplete(t, path, tc.args...)
		for _, w := range tc.want {
			if !has(comps, w) {
				t.Errorf("kubectl pixie %s<TAB> offers %v, lacks %q", strings.Join(tc.args, " "), comps, w)
			}
		}
		if directive&4 == 0 && !strings.HasPrefix(tc.args[len(tc.args)-1], "-") {
			t.Errorf("kubectl pixie %s<TAB>: directive %d lets the shell complete file names", strings.Join(tc.args, " "), directive)
		}
	}
	if comps, _ := kubectlComplete(t, path, "ver"); has(comps, "completion") {
		t.Errorf("prefix ver offers %v", comps)
	}
}

func has(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}
