package session

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	kfake "k8s.io/client-go/kubernetes/fake"
)

func TestCheckAgentVersion(t *testing.T) {
	cases := []struct {
		plugin, agent string
		hello         bool
		want          string // "" passes silently, "warn" warns, "refuse" refuses
	}{
		{"v0.9.0", "v0.9.0", true, ""},
		{"v0.9.0", "v0.8.2", true, "refuse"},
		{"v0.9.0", "", false, "refuse"}, // an agent older than its version record
		{"v1.0.0-rc.1", "v1.0.0-rc.2", true, "refuse"},
		{"v0.9.0", "v0.9.0-3-gabcdef1-dirty", true, "warn"}, // a developer's image
		{"v0.0.0-dev", "v0.9.0", true, "warn"},
		{"v0.9.0-dirty", "v0.9.0", true, "warn"},
		{"v0.0.0-dev", "", false, "warn"},
		{"049587f", "049587f", true, ""},
	}
	for _, c := range cases {
		warn, err := CheckAgentVersion("worker-1", c.plugin, c.agent, c.hello)
		got := ""
		switch {
		case err != nil:
			got = "refuse"
		case warn != "":
			got = "warn"
		}
		if got != c.want {
			t.Errorf("plugin %s, agent %q (hello %v): got %q (%v %q), want %q", c.plugin, c.agent, c.hello, got, err, warn, c.want)
		}
	}
	_, err := CheckAgentVersion("worker-1", "v0.9.0", "v0.8.2", true)
	for _, want := range []string{"node worker-1 runs probe agent v0.8.2, but this plugin is v0.9.0", "kubectl pixie image push REGISTRY/REPO", "PIXIE_IMAGE"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
}

// A release plugin refuses a node whose agent is another release: the
// node fails with the remedy and none of its records reach the view. A
// development plugin reads it, with one warning for the session.
func TestRunRefusesOtherAgentVersion(t *testing.T) {
	for _, tc := range []struct {
		plugin  string
		refused bool
	}{{"v0.9.0", true}, {"v0.0.0-dev", false}} {
		client := kfake.NewClientset()
		k := &fakeKubelet{client: client, conns: map[string]int{}, records: 3, final: true, steady: true, hello: "v0.8.2"}
		ctx, cancel := context.WithCancel(context.Background())
		go k.run(ctx, t)
		var errOut bytes.Buffer
		o := testOptions(client, k, &syncWriter{w: &errOut})
		o.Pod.PluginVersion = tc.plugin
		records := 0
		res, err := Run(context.Background(), o, func(l Line) {
			records++
			if l.Table == "agent_hello" {
				t.Error("the hello reached the view")
			}
		})
		cancel()
		var ve *AgentVersionError
		if tc.refused {
			if !errors.As(err, &ve) || res.Failed() != 2 || records != 0 {
				t.Errorf("plugin %s: err %v, %d failed, %d records: want both nodes refused, no records", tc.plugin, err, res.Failed(), records)
			}
			continue
		}
		if err != nil || records != 2*4 {
			t.Errorf("plugin %s: err %v, %d records, want 8 (3 events and the final stats per node)", tc.plugin, err, records)
		}
		if n := strings.Count(errOut.String(), "warning: the probe agent on node"); n != 1 {
			t.Errorf("plugin %s: %d version warnings, want 1 per session:\n%s", tc.plugin, n, errOut.String())
		}
	}
}

func TestImageReference(t *testing.T) {
	good := []string{
		"localhost/kubectl-pixie/probe:dev",
		"ghcr.io/kubectl-pixie/kubectl-pixie-probe:v0.9.0@sha256:" + strings.Repeat("ab", 32),
		"127.0.0.1:5000/pixie/probe@sha256:" + strings.Repeat("0", 64),
		"probe",
	}
	for _, img := range good {
		if err := checkImage(img); err != nil {
			t.Errorf("%s: %v", img, err)
		}
	}
	bad := map[string]string{
		"":                          "empty --image",
		"Registry/Probe:v1":         "not an image reference",
		"repo:tag@sha256:abc":       "64 hex digits",
		"repo@md5:" + "0":           "a digest is @sha256:",
		"repo:tag with space":       "not an image reference",
		"repo:tag\x1b[2J":           "not an image reference",
		"http://registry/repo:v1.0": "not an image reference",
	}
	for img, want := range bad {
		if err := checkImage(img); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: err %v, want it to say %q", img, err, want)
		}
	}
	if w := ImageWarning("registry.example.com/pixie/probe:v0.9.0"); !strings.Contains(w, "names no digest") {
		t.Errorf("no warning for a tag: %q", w)
	}
	if w := ImageWarning("registry.example.com/pixie/probe:v0.9.0@sha256:" + strings.Repeat("ab", 32)); w != "" {
		t.Errorf("warning for a digest: %q", w)
	}
}
