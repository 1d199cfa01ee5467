package render

import (
	"math"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/kubectl-pixie/kubectl-pixie/probes/api"
)

func TestFormatters(t *testing.T) {
	for _, tc := range []struct{ got, want string }{
		{FormatCount(0), "0"},
		{FormatCount(999), "999"},
		{FormatCount(1204), "1,204"},
		{FormatCount(1234567), "1,234,567"},
		{FormatCount(math.MaxUint64), "18,446,744,073,709,551,615"},
		{FormatLatency(0), "0ns"},
		{FormatLatency(850), "850ns"},
		{FormatLatency(4100), "4.1µs"},
		{FormatLatency(412e3), "412µs"},
		{FormatLatency(99.96e3), "100µs"},
		{FormatLatency(4.1e6), "4.1ms"},
		{FormatLatency(999.7), "1.0µs"},
		{FormatLatency(999.6e3), "1.0ms"},
		{FormatLatency(999.6e6), "1.0s"},
		{FormatLatency(59.96e9), "1m00s"},
		{FormatLatency(22e6), "22.0ms"},
		{FormatLatency(410e6), "410ms"},
		{FormatLatency(1.2e9), "1.2s"},
		{FormatLatency(125e9), "2m05s"},
		{FormatLatency(2*3600e9 + 60e9), "2h01m"},
		{FormatLatency(-1), "-"},
		{FormatRate(0.44), "0.4"},
		{FormatRate(70.8), "70.8"},
		{FormatRate(1204.4), "1,204"},
		{FormatPercent(0), "0.0"},
		{FormatPercent(0.01), "<0.1"},
		{FormatPercent(4.71), "4.7"},
		{FormatPercent(100), "100"},
		{FormatBytes(512), "512 B"},
		{FormatBytes(4096), "4.0 KiB"},
		{FormatBytes(31 << 20), "31 MiB"},
		{FormatBytes(3 << 30), "3.0 GiB"},
		{FormatClock(17 * time.Second), "00:17"},
		{FormatClock(12*time.Minute + 3*time.Second), "12:03"},
		{FormatClock(time.Hour + 2*time.Minute + 3*time.Second), "1:02:03"},
		{FormatWindow(30 * time.Second), "30s"},
		{FormatWindow(5 * time.Minute), "5m"},
		{FormatWindow(90 * time.Second), "1m30s"},
		{FormatWindow(2 * time.Hour), "2h"},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
}

func TestSanitize(t *testing.T) {
	for in, want := range map[string]string{
		"nginx":               "nginx",
		"café/ü":              "café/ü",
		"a\x1b[2Jb":           "a^[[2Jb",
		"a\rb\nc\td":          `a\rb\nc\td`,
		"bell\x07nul\x00":     "bell^Gnul^@",
		"del\x7f":             "del^?",
		"csi\u009b31m":        `csi\u009b31m`,
		"rtl\u202eevil":       `rtl\u202eevil`,
		"bad\xff\xfeutf8":     `bad\xff\xfeutf8`,
		"osc\x1b]0;title\x07": "osc^[]0;title^G",
	} {
		if got := Sanitize(in); got != want {
			t.Errorf("Sanitize(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestMergeProbeStatsAndFooter(t *testing.T) {
	if got := MergeProbeStats(); got.Records != 0 || got.Table != "" {
		t.Errorf("merge of none: %+v", got)
	}
	m := *footerStats()
	if m.Records != 2340 || m.EventsLost != 10 || m.LostBy["ring_full"] != 8 || m.PeakRSSBytes != 31<<20 ||
		m.WindowNs != 30e9 || m.UserCPUNs != 360e6 || m.BPFRunCount != 13000 || !m.Final || m.Table != api.TableProbeStats {
		t.Errorf("merged: %+v", m)
	}
	// one node not final: the merge is not final
	if MergeProbeStats(m, api.ProbeStats{}).Final {
		t.Error("merge final with a non-final node")
	}
	want := "captured 2,340 requests · lost 10 events (ring_full 8, parse_error 2) · probe CPU 0.6%/node · " +
		"probe RSS 31 MiB max · bpf 400ns/event · window 30s"
	if got := Footer(m, 2, "requests", nil); got != want {
		t.Errorf("footer:\n%s\nwant\n%s", got, want)
	}
	// BPF cost per captured event (all runs it took), or per run when no
	// event was captured
	one := api.ProbeStats{Records: 5, WindowNs: 10e9, UserCPUNs: 1e9, PeakRSSBytes: 12 << 20, BPFRunNs: 5000, BPFRunCount: 10, EventsCaptured: 4}
	if got := Footer(one, 1, "", nil); got != "captured 5 records · lost 0 · probe CPU 10.0% · probe RSS 12 MiB · bpf 1.2µs/event · window 10s" {
		t.Errorf("single-node footer: %s", got)
	}
	// addresses the agents' DNS names forgot are said, apart from losses
	dns := MergeProbeStats(api.ProbeStats{DNSNamesEvicted: 3}, api.ProbeStats{DNSNamesEvicted: 4, EventsLost: 1})
	if got := Footer(dns, 2, "requests", nil); got != "captured 0 requests · lost 1 events · forgot 7 DNS names · bpf n/a" {
		t.Errorf("footer with DNS names forgotten: %q", got)
	}
	one.EventsCaptured = 0
	if got := Footer(one, 1, "", nil); !strings.Contains(got, "bpf 500ns/run") {
		t.Errorf("footer without events: %s", got)
	}
	// a lost reason from a node is escaped
	bad := api.ProbeStats{EventsLost: 1, LostBy: map[string]uint64{"x\x1b[2J": 1}}
	if got := Footer(bad, 1, "requests", NewPalette(false)); got != "captured 0 requests · lost 1 events (x^[[2J 1) · bpf n/a" {
		t.Errorf("escaped footer: %q", got)
	}
}

// TestFooterKernelHTTP1: the kernel's HTTP/1 summaries are merged over
// nodes and shown with the connections left to the payload path, by
// reason (most first, escaped); a run without them shows nothing.
func TestFooterKernelHTTP1(t *testing.T) {
	a := api.ProbeStats{Records: 10, KernelHTTP1: &api.KernelSummaries{Summaries: 8, Fallbacks: map[string]uint64{"pipelined": 1}}}
	b := api.ProbeStats{Records: 5, KernelHTTP1: &api.KernelSummaries{Summaries: 4, Fallbacks: map[string]uint64{"split": 2, "x\x1b[2J": 1}}}
	m := MergeProbeStats(a, b, api.ProbeStats{Records: 1})
	want := "captured 16 requests · lost 0 · bpf n/a · kernel http1 12 requests, 4 connections as payload (split 2, pipelined 1, x^[[2J 1)"
	if got := Footer(m, 3, "requests", nil); got != want {
		t.Errorf("footer:\n%s\nwant\n%s", got, want)
	}
	if got := Footer(api.ProbeStats{Records: 3, KernelHTTP1: &api.KernelSummaries{Summaries: 3}}, 1, "requests", nil); !strings.HasSuffix(got, "kernel http1 3 requests") {
		t.Errorf("footer without fallbacks: %s", got)
	}
	if got := Footer(api.ProbeStats{Records: 3}, 1, "requests", nil); strings.Contains(got, "kernel") {
		t.Errorf("footer without summaries: %s", got)
	}
}

// Whatever a node sends, the sanitized text has no control character and
// is valid UTF-8.
func FuzzSanitize(f *testing.F) {
	for _, s := range []string{"nginx", "a\x1b[2J", "\u009b\u202e", "\xff\r\n\t"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := Sanitize(s)
		if !utf8.ValidString(got) {
			t.Fatalf("Sanitize(%q) = %q: invalid UTF-8", s, got)
		}
		for _, r := range got {
			if r < 0x20 || r >= 0x7f && r <= 0x9f || isBidiControl(r) {
				t.Fatalf("Sanitize(%q) = %q keeps %U", s, got, r)
			}
		}
	})
}
