package cmd

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/kubectl-pixie/kubectl-pixie/plugin/completion"
)

func completionRunRoot(t *testing.T, args ...string) (string, string) {
	t.Helper()
	streams, _, out, errOut := genericiooptions.NewTestIOStreams()
	root := NewCmdRoot(streams)
	root.SetOut(out)
	root.SetErr(errOut)
	root.SetArgs(args)
	if err := root.Execute(); err != nil {
		t.Fatalf("%v: %v\nstderr: %s", args, err, errOut)
	}
	return out.String(), errOut.String()
}

// completionValues parses cobra's __complete output: one "value\tdescription"
// per line, then ":<directive>".
func completionValues(out string) (values []string, directive string) {
	lines := strings.Split(strings.TrimSpace(out), "\n")
	for _, l := range lines {
		if strings.HasPrefix(l, ":") {
			directive = l
			continue
		}
		v, _, _ := strings.Cut(l, "\t")
		values = append(values, v)
	}
	return values, directive
}

func TestCompleteSubcommands(t *testing.T) {
	out, _ := completionRunRoot(t, cobra.ShellCompRequestCmd, "")
	got, directive := completionValues(out)
	for _, want := range []string{"completion", "version", "help"} {
		if !completionHas(got, want) {
			t.Errorf("subcommands %v lack %q", got, want)
		}
	}
	if directive != ":4" { // NoFileComp
		t.Errorf("directive %q, want :4", directive)
	}
	out, _ = completionRunRoot(t, cobra.ShellCompRequestCmd, "completion", "")
	got, _ = completionValues(out)
	for _, want := range []string{"bash", "zsh", "fish", "powershell", "install"} {
		if !completionHas(got, want) {
			t.Errorf("completion subcommands %v lack %q", got, want)
		}
	}
	out, _ = completionRunRoot(t, cobra.ShellCompRequestCmd, "completion", "install", "--")
	got, _ = completionValues(out)
	if !completionHas(got, "--dir") {
		t.Errorf("install flags %v lack --dir", got)
	}
	// kubectl's global flags are the plugin's too.
	out, _ = completionRunRoot(t, cobra.ShellCompRequestCmd, "version", "--")
	got, _ = completionValues(out)
	for _, want := range []string{"--namespace", "--context", "--output"} {
		if !completionHas(got, want) {
			t.Errorf("version flags %v lack %q", got, want)
		}
	}
}

func TestCompleteContextFromKubeconfig(t *testing.T) {
	kubeconfig := filepath.Join(t.TempDir(), "config")
	if err := os.WriteFile(kubeconfig, []byte(`apiVersion: v1
kind: Config
clusters: [{name: c1, cluster: {server: "https://127.0.0.1:1"}}]
users: [{name: u1, user: {}}]
contexts:
- {name: kind-dev, context: {cluster: c1, user: u1}}
- {name: prod, context: {cluster: c1, user: u1}}
current-context: kind-dev
`), 0o600); err != nil {
		t.Fatal(err)
	}
	out, _ := completionRunRoot(t, cobra.ShellCompRequestCmd, "--kubeconfig", kubeconfig, "version", "--context", "k")
	got, _ := completionValues(out)
	if len(got) != 1 || got[0] != "kind-dev" {
		t.Errorf("--context k completes to %v, want [kind-dev]", got)
	}
}

func TestCompletionScripts(t *testing.T) {
	for shell, marker := range map[string]string{
		"bash":       "__start_kubectl-pixie",
		"zsh":        "#compdef kubectl-pixie",
		"fish":       "complete -c kubectl-pixie",
		"powershell": "Register-ArgumentCompleter",
	} {
		out, _ := completionRunRoot(t, "completion", shell)
		if !strings.Contains(out, marker) {
			t.Errorf("%s script lacks %q", shell, marker)
		}
		if !strings.Contains(out, "__complete") {
			t.Errorf("%s script does not call __complete", shell)
		}
	}
	// Generating must not rename the root for good.
	out, _ := completionRunRoot(t, "completion", "--help")
	if !strings.Contains(out, "kubectl pixie completion") {
		t.Errorf("help after generation:\n%s", out)
	}
}

func TestCompletionInstall(t *testing.T) {
	dir := t.TempDir()
	out, errOut := completionRunRoot(t, "completion", "install", "--dir", dir)
	name, want := completion.Helper(runtime.GOOS)
	path := filepath.Join(dir, name)
	if strings.TrimSpace(out) != path {
		t.Errorf("stdout %q, want the helper's path %q", out, path)
	}
	if !strings.Contains(errOut, "not on PATH") {
		t.Errorf("no PATH warning for a directory off PATH: %q", errOut)
	}
	got, err := os.ReadFile(path)
	if err != nil || string(got) != string(want) {
		t.Fatalf("helper not written: %v", err)
	}
}

func TestCompletionInstallDefaultsToPluginDir(t *testing.T) {
	dir := t.TempDir()
	streams, _, out, errOut := genericiooptions.NewTestIOStreams()
	o := &CompletionInstallOptions{IOStreams: streams, Argv0: filepath.Join(dir, "kubectl-pixie"), Path: dir}
	if err := o.Complete(); err != nil {
		t.Fatal(err)
	}
	if err := o.Run(); err != nil {
		t.Fatal(err)
	}
	name, _ := completion.Helper(runtime.GOOS)
	if strings.TrimSpace(out.String()) != filepath.Join(dir, name) {
		t.Errorf("installed to %q, want %q", out, filepath.Join(dir, name))
	}
	if strings.Contains(errOut.String(), "not on PATH") {
		t.Errorf("warned although %s is on PATH: %s", dir, errOut)
	}
}

func completionHas(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}
