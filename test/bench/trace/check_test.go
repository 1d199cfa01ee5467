//go:build linux

package main

import (
	"strings"
	"testing"
	"time"
)

// TestCheckFails: bench-check passes a run inside every limit and fails
// each limit it misses, loss of a single request included.
func TestCheckFails(t *testing.T) {
	good := measured{achieved: 9990, completed: 30000, traced: 30000, attach: 150 * time.Millisecond, rss: 32 << 20, profileCPU: 0.002}
	if f := checkLimits.failures(good); len(f) != 0 {
		t.Fatalf("a good run failed: %v", f)
	}
	for name, c := range map[string]struct {
		bad  func(*measured)
		want string
	}{
		"one request lost": {func(m *measured) { m.traced-- }, "loss at 10000 req/s"},
		"ring drops":       {func(m *measured) { m.eventsLost = 1 }, "1 events lost"},
		"extra records":    {func(m *measured) { m.traced++ }, "loss at"},
		"slow attach":      {func(m *measured) { m.attach = 1500 * time.Millisecond }, "probes attached 1.5s"},
		"fat agent":        {func(m *measured) { m.rss = 65 << 20 }, "peak RSS 65 MiB"},
		"costly profiler":  {func(m *measured) { m.profileCPU = 0.011 }, "1.10% of a CPU"},
		"rate not reached": {func(m *measured) { m.achieved = 5000 }, "did not test 10000 req/s"},
	} {
		m := good
		c.bad(&m)
		f := checkLimits.failures(m)
		if len(f) != 1 || !strings.Contains(f[0], c.want) {
			t.Errorf("%s: failures %q, want one naming %q", name, f, c.want)
		}
	}
}
