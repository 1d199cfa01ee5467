//go:build linux

package agent

import (
	"bytes"
	"encoding/json"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/kubectl-pixie/kubectl-pixie/internal/version"
	"github.com/kubectl-pixie/kubectl-pixie/probes/api"
	"github.com/kubectl-pixie/kubectl-pixie/probes/internal/probetest"
)

// Every run starts with the agent's version, before anything can fail.
func TestRunStartsWithHello(t *testing.T) {
	var out bytes.Buffer
	if code := Main([]string{"trace", "--config", "{"}, &out, io.Discard); code != 2 {
		t.Fatalf("exit %d for a bad config, want 2", code)
	}
	first, _, _ := strings.Cut(out.String(), "\n")
	var h api.AgentHello
	if err := json.Unmarshal([]byte(first), &h); err != nil || h.Table != api.TableAgentHello || h.AgentVersion != version.Version || h.Probe != "trace" || h.Seq != 1 {
		t.Fatalf("first record %q (%v): want agent_hello of %s for trace, seq 1", first, err, version.Version)
	}
	if !api.IsHello([]byte(first)) {
		t.Errorf("IsHello(%q) = false", first)
	}
}

func versionRecord(t *testing.T) api.AgentHello {
	t.Helper()
	var out bytes.Buffer
	if code := Main([]string{"version"}, &out, io.Discard); code != 0 {
		t.Fatalf("pixie-agent version: exit %d", code)
	}
	var h api.AgentHello
	if err := json.Unmarshal(out.Bytes(), &h); err != nil {
		t.Fatalf("pixie-agent version printed %q: %v", out.String(), err)
	}
	return h
}

// `pixie-agent version` reports what doctor shows: version, kernel, BTF.
func TestVersionSubcommand(t *testing.T) {
	h := versionRecord(t)
	_, err := os.Stat("/sys/kernel/btf/vmlinux")
	if h.AgentVersion != version.Version || h.Kernel == "" || h.Arch == "" || h.BTF == nil || *h.BTF != (err == nil) || h.Attach == "" {
		t.Errorf("version record %+v", h)
	}
	if os.Geteuid() != 0 && h.Attach == "ok" {
		t.Errorf("attach ok without root: %+v", h)
	}
}

// As root on a kernel with BTF, the trivial program loads and attaches.
func TestVersionAttaches(t *testing.T) {
	probetest.RequirePrivileged(t)
	if h := versionRecord(t); h.Attach != "ok" {
		t.Errorf("attach: %s", h.Attach)
	}
}
