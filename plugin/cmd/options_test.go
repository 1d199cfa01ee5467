package cmd

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"k8s.io/cli-runtime/pkg/genericiooptions"
)

// runRoot runs `kubectl pixie ARGS` in process.
func runRoot(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	streams, _, out, errOut := genericiooptions.NewTestIOStreams()
	root := NewCmdRoot(streams)
	root.SetArgs(args)
	root.SetOut(out)
	root.SetErr(errOut)
	err := root.Execute()
	return out.String(), errOut.String(), err
}

var probeCommands = []string{"trace", "profile", "memory"}

// One PID rule and one error in all three commands: a PID that would wrap
// around uint32 (4294967297 is PID 1) or 0 is refused before anything runs.
func TestPIDRulesAreTheSameEverywhere(t *testing.T) {
	for _, pid := range []string{"4294967297", "0", "-3", "4194305"} {
		var msgs []string
		for _, c := range probeCommands {
			_, _, err := runRoot(t, c, "--local", "--pid", pid)
			if err == nil || !strings.Contains(err.Error(), "--pid "+pid+" is not a process ID") {
				t.Fatalf("%s --pid %s: %v", c, pid, err)
			}
			msgs = append(msgs, err.Error())
		}
		if msgs[0] != msgs[1] || msgs[1] != msgs[2] {
			t.Errorf("--pid %s: different errors: %q", pid, msgs)
		}
	}
}

// A PID that names no process fails at once, with the same error in all
// three commands (profile ran its whole window and reported 0 samples).
func TestMissingPIDFailsBeforeTheRun(t *testing.T) {
	if _, err := os.Stat("/proc/self"); err != nil {
		t.Skip("no /proc here")
	}
	pid := 0
	for p := maxPID - 1; p > 1; p-- {
		if _, err := os.Stat(filepath.Join("/proc", strconv.Itoa(p))); os.IsNotExist(err) {
			pid = p
			break
		}
	}
	t.Setenv("PIXIE_AGENT", "/nonexistent/pixie-agent") // nothing may start
	for _, c := range probeCommands {
		_, _, err := runRoot(t, c, "--local", "--pid", strconv.Itoa(pid))
		want := "--pid " + strconv.Itoa(pid) + ": no such process on this host"
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", c, err, want)
		}
	}
}

// unreachableKubeconfig points at an API server that refuses connections.
func unreachableKubeconfig(t *testing.T) string {
	p := filepath.Join(t.TempDir(), "config")
	cfg := `apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:1"}}]
users: [{name: u, user: {token: x}}]
contexts: [{name: c, context: {cluster: c, user: u, namespace: shop}}]
current-context: c
`
	if err := os.WriteFile(p, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// Every flag is checked before the API server is contacted: a bad flag
// says what is wrong, not "connection refused".
func TestFlagsAreValidatedBeforeAnyIO(t *testing.T) {
	kc := unreachableKubeconfig(t)
	for _, c := range probeCommands {
		_, _, err := runRoot(t, c, "deploy/web", "--kubeconfig", kc, "--request-timeout", "5s")
		if err == nil || !strings.Contains(err.Error(), "127.0.0.1:1") {
			t.Fatalf("%s with good flags should reach the (dead) API server: %v", c, err)
		}
		for _, bad := range [][]string{{"--duration", "100h"}, {"-o", "xml"}, {"--profile", "bogus"}, {"--image-pull-policy", "Sometimes"}} {
			args := append([]string{c, "deploy/web", "--kubeconfig", kc}, bad...)
			_, _, err := runRoot(t, args...)
			if err == nil || strings.Contains(err.Error(), "127.0.0.1") || !strings.Contains(err.Error(), strings.TrimLeft(bad[0], "-")) && !strings.Contains(err.Error(), bad[1]) {
				t.Errorf("%s %v: %v", c, bad, err)
			}
		}
	}
}

// --local --dry-run prints the agent command and starts nothing (trace
// loaded its eBPF programs and traced).
func TestLocalDryRunRunsNothing(t *testing.T) {
	t.Setenv("PIXIE_AGENT", "/nonexistent/pixie-agent") // running it would fail
	for _, c := range probeCommands {
		out, _, err := runRoot(t, c, "--local", "--comm", "nginx", "--dry-run")
		if err != nil {
			t.Fatalf("%s: %v", c, err)
		}
		if !strings.Contains(out, "'/nonexistent/pixie-agent' '"+c+"' '--config' '{") || !strings.Contains(out, `"comms":["nginx"]`) {
			t.Errorf("%s --dry-run printed:\n%s", c, out)
		}
	}
}

// -v is kubectl's verbosity flag; klog's other flags are not offered.
func TestVerbosityFlag(t *testing.T) {
	if _, _, err := runRoot(t, "-v=4", "version"); err != nil {
		t.Fatalf("-v: %v", err)
	}
	if _, _, err := runRoot(t, "--logtostderr", "version"); err == nil || !strings.Contains(err.Error(), "unknown flag") {
		t.Fatalf("klog's other flags must stay out: %v", err)
	}
}

// --comm's help is whole: backticks in a pflag usage become the value's
// name and vanish from the text.
func TestCommHelp(t *testing.T) {
	for _, c := range probeCommands {
		out, _, err := runRoot(t, c, "--help")
		if err != nil {
			t.Fatal(err)
		}
		var line string
		for _, l := range strings.Split(out, "\n") {
			if strings.Contains(l, "--comm ") {
				line = l
			}
		}
		if !strings.Contains(line, "--comm strings") || !strings.Contains(line, "as ps -o comm shows it") {
			t.Errorf("%s: --comm help %q", c, line)
		}
	}
}
