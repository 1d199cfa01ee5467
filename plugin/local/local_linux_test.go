package local

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// fakeAgent installs a shell script as the agent ($PIXIE_AGENT).
func fakeAgent(t *testing.T, script string) {
	t.Helper()
	p := filepath.Join(t.TempDir(), "agent")
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv(EnvAgent, p)
}

// A line over the cap from the agent fails the run with a clear error at
// once; it used to hang forever (the plugin stopped reading, the agent
// blocked on the full pipe, and the plugin waited for it).
func TestLineOverCapFailsInsteadOfHanging(t *testing.T) {
	fakeAgent(t, `echo '{"table":"probe_ready"}'; head -c 17000000 /dev/zero | tr '\0' x; echo; sleep 600`)
	var lines int
	done := make(chan error, 1)
	go func() {
		done <- Run(context.Background(), "trace", map[string]any{}, os.Stderr, func([]byte) { lines++ })
	}()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "longer than 16 MiB") {
			t.Fatalf("err %v, want the line cap", err)
		}
		if lines != 1 {
			t.Fatalf("%d lines before the long one, want 1", lines)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the plugin hangs on a line over the cap")
	}
}

// A cancelled run asks the agent to stop and still reads what it writes
// while stopping.
func TestCancelStopsTheAgentAndReadsItsLastRecords(t *testing.T) {
	fakeAgent(t, `trap 'echo "{\"table\":\"probe_stats\",\"final\":true}"; exit 0' INT; echo '{"table":"probe_ready"}'; while :; do sleep 0.05; done`)
	ctx, cancel := context.WithCancel(context.Background())
	var got []string
	err := Run(ctx, "trace", map[string]any{}, os.Stderr, func(l []byte) {
		got = append(got, string(l))
		if strings.Contains(string(l), "probe_ready") {
			cancel()
		}
	})
	if err != nil || len(got) != 2 || !strings.Contains(got[1], `"final":true`) {
		t.Fatalf("err %v, records %q", err, got)
	}
}
