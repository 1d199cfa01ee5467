//go:build linux

package local

import (
	"strings"
	"testing"
	"time"
)

// TestTracePipedSnapshots: with its output piped, trace prints a plain
// snapshot of the table every 10 s (the live view's tick is 1 s, so each
// comes 10 to 11 s after the one before), then the final frame.
func TestTracePipedSnapshots(t *testing.T) {
	requirePrivileged(t)
	srv, addr := startServer(t, "127.0.0.1:0")
	tt := startTable(t, append(pidArgs(srv.pid()), "--duration", "60s")...)
	cli := startRole(t, "client", planArg(clientPlan{URLs: urls(addr, "/snap"), Pre: 1}))
	if cli.line(t) != "ready" {
		t.Fatal("client not ready")
	}
	var at []time.Time // when each snapshot appeared
	for end := time.Now().Add(23 * time.Second); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		if n := strings.Count(tt.out.String(), "SERVICE"); n > len(at) {
			at = append(at, time.Now())
		}
	}
	out := tt.end(t)
	if len(at) != 2 || strings.Count(out, "SERVICE") != 3 {
		t.Fatalf("%d snapshots in 23 s piped and %d frames in all, want 2 and 3 (the final one):\n%s", len(at), strings.Count(out, "SERVICE"), out)
	}
	// 50 ms polling and a loaded machine's scheduling on top of the 1 s tick.
	if gap := at[1].Sub(at[0]); gap < 9900*time.Millisecond || gap > 12*time.Second {
		t.Errorf("snapshots %v apart, want 10-11 s", gap)
	}
	if !strings.Contains(out, "/snap") {
		t.Errorf("the snapshots show no row of the request:\n%s", out)
	}
}
