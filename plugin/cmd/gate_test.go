package cmd

import (
	"strings"
	"testing"
)

// A bad --fail-if rule is refused before any I/O, with its column, on
// every command that takes rules; -o json of profile and memory, which
// build no result, refuse rules.
func TestFailIfFlags(t *testing.T) {
	kc := unreachableKubeconfig(t)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"trace", "deploy/web", "--fail-if", "p99 > 250"}, `--fail-if "p99 > 250": p99: "250" is not a duration: use a duration such as 250ms at column 7`},
		{[]string{"trace", "deploy/web", "--fail-if", "verdict == leak"}, `unknown column "verdict"`},
		{[]string{"memory", "deploy/web", "--fail-if", "verdict = leak"}, `unexpected '=': use a name`},
		{[]string{"memory", "deploy/web", "--fail-if", "growth > 5"}, `"5" is not a percentage`},
		{[]string{"memory", "deploy/web", "-o", "json", "--fail-if", "growth > 5%"}, "--fail-if and --webhook read the final result, which -o json does not build: drop -o json"},
		{[]string{"profile", "deploy/web", "--fail-if", `self(runtime.mallocgc) > 20%`}, `self() takes a "string" at column 6`},
		{[]string{"trace", "deploy/web", "--webhook", "hooks.example/x"}, "--webhook: not an http:// or https:// URL with a host: use a URL such as https://hooks.slack.com/services/..."},
		{[]string{"trace", "deploy/web", "--webhook", "https://h/x", "--webhook-format", "teams"}, `--webhook-format "teams" is unknown: use json or slack`},
		{[]string{"memory", "deploy/web", "-o", "json", "--webhook", "https://h/x"}, "--fail-if and --webhook read the final result"},
		{[]string{"profile", "deploy/web", "-o", "json", "--fail-if", `self("f") > 20%`}, "--fail-if and --webhook read the final result, which -o json does not build: use another -o"},
	} {
		_, _, err := runRoot(t, append(c.args, "--kubeconfig", kc)...)
		if err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "127.0.0.1") {
			t.Errorf("%v: %v, want %q before any I/O", c.args, err, c.want)
		}
	}
}
