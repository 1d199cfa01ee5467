package render

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/fatih/color"

	"github.com/kubectl-pixie/kubectl-pixie/probes/api"
	"github.com/kubectl-pixie/kubectl-pixie/probes/api/stats"
	"github.com/kubectl-pixie/kubectl-pixie/probes/api/vocab"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata")

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./plugin/render -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from golden file (go test ./plugin/render -update rewrites it)\ngot:\n%s\nwant:\n%s",
			name, visible(got), visible(want))
	}
}

// visible shows escape bytes, for readable diffs and golden files of raw
// terminal output.
func visible(b []byte) string { return strings.ReplaceAll(string(b), "\x1b", `\e`) }

var sgr = regexp.MustCompile("\x1b\\[[0-9;]*m")

func stripSGR(b []byte) []byte { return sgr.ReplaceAll(b, nil) }

const t0 = int64(1_764_000_000_000_000_000)

// checkoutRows is a realistic mix: a busy server endpoint, one with some
// 5xx, a slow client call, a folded path and the overflow key.
func checkoutRows(t *testing.T) []stats.Endpoint {
	t.Helper()
	a := stats.NewAggregator(stats.Config{})
	add := func(n int, service, role, method, path, peer string, status int, lat func(i int) int64) {
		for i := range n {
			p := path
			if strings.Contains(p, "%") {
				p = fmt.Sprintf(path, i)
			}
			a.Add(stats.Observation{Service: service, Role: role, Method: method, Path: p,
				Peer: peer, Status: status, LatencyNs: lat(i), ReqBytes: 300, RespBytes: 2048, TimeNs: t0 + int64(i)})
		}
	}
	ramp := func(lo, hi float64) func(int) int64 {
		return func(i int) int64 { return int64(lo + (hi-lo)*float64(i%100)/99) }
	}
	add(1204, "shop/checkout", vocab.RoleServer, "POST", "/api/cart/%d/items", "", 200, ramp(2e6, 61e6))
	add(910, "shop/checkout", vocab.RoleServer, "GET", "/api/cart/%d", "", 200, ramp(1e6, 40e6))
	add(3, "shop/checkout", vocab.RoleServer, "GET", "/api/cart/%d", "", 503, ramp(1e6, 2e6))
	add(201, "shop/checkout", vocab.RoleClient, "POST", "/charge?id=%d", "shop/payments", 200, ramp(20e6, 1.2e9))
	add(10, "shop/checkout", vocab.RoleClient, "POST", "/charge?id=%d", "shop/payments", 0, ramp(30e9, 30e9))
	add(12, "shop/checkout", vocab.RoleServer, "GET", "/healthz", "", 200, ramp(40e3, 90e3))
	rows := a.Rows()
	// what a plugin sees after a node spent its budgets
	fold := stats.NewSketch()
	fold.Add(3e6)
	rows = append(rows,
		stats.Endpoint{Key: stats.Key{Service: "shop/search", Role: vocab.RoleServer, Method: "GET",
			Path: stats.CatchAllPath, StatusClass: "4xx"}, Count: 1, Latency: fold, Folded: true},
		stats.Endpoint{Key: stats.Key{Service: stats.Overflow, Path: stats.Overflow, StatusClass: "2xx"},
			Count: 1, Latency: fold.Clone(), Folded: true})
	return rows
}

func footerStats() *api.ProbeStats {
	s := MergeProbeStats(
		api.ProbeStats{Probe: "trace", WindowNs: 30e9, EventsCaptured: 9000, EventsLost: 10,
			LostBy: map[string]uint64{"ring_full": 8, "parse_error": 2}, Records: 1500, BPFRunNs: 3_600_000,
			BPFRunCount: 9000, UserCPUNs: 180e6, PeakRSSBytes: 31 << 20, Final: true},
		api.ProbeStats{Probe: "trace", WindowNs: 29e9, EventsCaptured: 4000, Records: 840, BPFRunNs: 1_600_000,
			BPFRunCount: 4000, UserCPUNs: 180e6, PeakRSSBytes: 27 << 20, Final: true},
	)
	return &s
}

func checkoutView(t *testing.T) TraceView {
	return TraceView{Protocol: "HTTP", Elapsed: 17 * time.Second, Window: 30 * time.Second, NodesReady: 2,
		NodesTotal: 2, Targets: 4, TargetUnit: "pods", Rows: checkoutRows(t), Stats: footerStats()}
}

// renderBoth renders with colour on and off, checks that colour adds
// nothing but SGR sequences, and compares both with golden files.
func renderBoth(t *testing.T, name string, v TraceView, o TraceOptions) (plain, coloured []byte) {
	t.Helper()
	o.Palette = NewPalette(false)
	plain = TraceFrame(v, o)
	o.Palette = NewPalette(true)
	coloured = TraceFrame(v, o)
	if bytes.Contains(plain, []byte("\x1b")) {
		t.Errorf("%s: escape byte in colourless output:\n%s", name, visible(plain))
	}
	if !bytes.Contains(coloured, []byte("\x1b[")) {
		t.Errorf("%s: no colour in coloured output", name)
	}
	if stripped := stripSGR(coloured); !bytes.Equal(stripped, plain) {
		t.Errorf("%s: colour changes more than colour:\n%s\nvs\n%s", name, stripped, plain)
	}
	golden(t, name+".plain.golden", plain)
	golden(t, name+".color.golden", []byte(visible(coloured)))
	return plain, coloured
}

func TestTraceTable(t *testing.T) {
	plain, _ := renderBoth(t, "trace", checkoutView(t), TraceOptions{})
	for _, want := range []string{"HTTP  window 00:17/00:30  nodes 2/2  targets 4 pods",
		"SERVICE", "ERR%", "P99", "1,204", "POST /api/cart/{id}/items", "-> shop/payments POST /charge",
		"2xx,5xx", "2xx,err", "(folded)", "lost 10 events (ring_full 8, parse_error 2)", "window 30s"} {
		if !bytes.Contains(plain, []byte(want)) {
			t.Errorf("table lacks %q:\n%s", want, plain)
		}
	}
}

func TestTraceTableWide(t *testing.T) {
	plain, _ := renderBoth(t, "trace_wide", checkoutView(t), TraceOptions{Wide: true})
	for _, want := range []string{"ROLE", "PEER", "BYTES IN", "BYTES OUT", "2xx:910 5xx:3", "shop/payments", "client"} {
		if !bytes.Contains(plain, []byte(want)) {
			t.Errorf("wide table lacks %q:\n%s", want, plain)
		}
	}
}

func TestTraceEmpty(t *testing.T) {
	v := TraceView{Protocol: "HTTP", Elapsed: 30 * time.Second, Window: 30 * time.Second, NodesReady: 1, NodesTotal: 2,
		Targets: 1, TargetUnit: "pods", Stats: &api.ProbeStats{WindowNs: 30e9}}
	plain, _ := renderBoth(t, "trace_empty", v, TraceOptions{})
	if !bytes.Contains(plain, []byte(EmptyHint)) || bytes.Contains(plain, []byte("SERVICE")) {
		t.Errorf("empty view:\n%s", plain)
	}
}

func TestTraceMaxRows(t *testing.T) {
	out := TraceFrame(checkoutView(t), TraceOptions{MaxRows: 2})
	if !bytes.Contains(out, []byte("… 4 more endpoints with 225 requests (-o json lists all)")) {
		t.Errorf("no more-line:\n%s", out)
	}
	if n := bytes.Count(out, []byte("shop/checkout")); n != 2 {
		t.Errorf("%d rows shown, want 2:\n%s", n, out)
	}
}

// A comm, path, peer or method with terminal controls must reach the
// screen as visible text, never as control sequences.
func TestTraceEscapesNodeStrings(t *testing.T) {
	lat := stats.NewSketch()
	lat.Add(1e6)
	v := TraceView{Protocol: "HTTP", Elapsed: time.Second, Window: 10 * time.Second, Rows: []stats.Endpoint{
		{Key: stats.Key{Service: "evil\x1b[2J\x1b]0;owned\x07", Role: vocab.RoleClient, Method: "G\x1bET",
			Path: "/x\x1b[31m\r\ny\tz\u202e\x9b", Peer: "peer\x1b[H\x00\u009b", StatusClass: "2xx"}, Count: 5, Latency: lat},
	}}
	for _, wide := range []bool{false, true} {
		name := "trace_escape"
		if wide {
			name += "_wide"
		}
		plain, coloured := renderBoth(t, name, v, TraceOptions{Wide: wide})
		for _, out := range [][]byte{plain, stripSGR(coloured)} {
			for _, bad := range []string{"\x1b", "\r", "\x07", "\x00", "\u202e", "\u009b", "\t"} {
				if bytes.Contains(out, []byte(bad)) {
					t.Errorf("wide=%v: output carries %q:\n%q", wide, bad, out)
				}
			}
			if !bytes.Contains(out, []byte(`evil^[[2J^[]0;owned^G`)) || !bytes.Contains(out, []byte(`/x^[[31m\r\ny\tz\u202e\x9b`)) ||
				!bytes.Contains(out, []byte(`peer^[[H^@\u009b`)) {
				t.Errorf("wide=%v: escaped strings not shown:\n%s", wide, out)
			}
		}
		// the service cell is one line: every row has the same line count
		if n := bytes.Count(plain, []byte("\n")); n != 4 {
			t.Errorf("%d lines, want 4 (title, blank, header, row):\n%s", n, plain)
		}
	}
}

func TestTraceWidthTruncation(t *testing.T) {
	for _, width := range []int{40, 60, 100} {
		for _, enabled := range []bool{false, true} {
			out := TraceFrame(checkoutView(t), TraceOptions{Width: width, Palette: NewPalette(enabled)})
			lines := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
			cut := 0
			for _, l := range lines {
				if w := visibleWidth(l); w > width {
					t.Errorf("width %d colour=%v: line of %d columns: %q", width, enabled, w, l)
				}
				if strings.Contains(stripSGRString(l), "…") {
					cut++
				}
				// colour never leaks past the end of a line
				if seqs := sgr.FindAllString(l, -1); len(seqs) > 0 && !isReset(seqs[len(seqs)-1]) {
					t.Errorf("line does not end its colour: %q", l)
				}
			}
			if cut == 0 {
				t.Errorf("width %d: nothing was cut", width)
			}
		}
	}
	for _, width := range []int{60, 100} {
		golden(t, fmt.Sprintf("trace_width%d.plain.golden", width), TraceFrame(checkoutView(t), TraceOptions{Width: width}))
		golden(t, fmt.Sprintf("trace_width%d.color.golden", width), []byte(visible(TraceFrame(checkoutView(t),
			TraceOptions{Width: width, Palette: NewPalette(true)}))))
	}
	// no width: nothing is cut (pipes)
	if out := TraceFrame(checkoutView(t), TraceOptions{}); bytes.Contains(out, []byte("…")) {
		t.Errorf("cut without a width:\n%s", out)
	}
}

func stripSGRString(s string) string { return string(stripSGR([]byte(s))) }

func TestTruncateLine(t *testing.T) {
	red := "\x1b[31m"
	for _, tc := range []struct {
		in    string
		width int
		want  string
	}{
		{"hello", 0, "hello"},
		{"hello", 5, "hello"},
		{"hello world", 5, "hell…"},
		{"µs µs µs", 4, "µs …"},
		{red + "hello" + "\x1b[39m world", 3, red + "he…\x1b[0m"},
		{red + "hello" + "\x1b[0m world", 3, red + "he…\x1b[0m"},
		{red + "hi" + "\x1b[39m world", 4, red + "hi\x1b[39m …"},
		{"ab", 1, "…"},
	} {
		if got := TruncateLine(tc.in, tc.width); got != tc.want {
			t.Errorf("TruncateLine(%q, %d) = %q, want %q", tc.in, tc.width, got, tc.want)
		}
	}
}

func TestTableAlignment(t *testing.T) {
	p := NewPalette(true)
	tb := &Table{Columns: []Column{{Title: "NAME"}, {Title: "N", Right: true}, {Title: "LAST"}},
		Rows: [][]Cell{{Plain("a"), Styled("1,204", p.Error), Plain("µs")}, {Styled("long-name", p.Warn), Plain("3"), Plain("")}}}
	got := strings.Join(tb.Lines(), "\n")
	want := "NAME            N   LAST\n" +
		"a           " + "\x1b[31m1,204\x1b[0m" + "   µs\n" +
		"\x1b[33mlong-name\x1b[0m       3"
	if got != want {
		t.Errorf("table:\n%q\nwant\n%q", got, want)
	}
}

func TestColorMode(t *testing.T) {
	var buf bytes.Buffer
	for _, tc := range []struct {
		in      string
		want    ColorMode
		enabled bool
	}{{"", ColorAuto, false}, {"auto", ColorAuto, false}, {"always", ColorAlways, true}, {"never", ColorNever, false}} {
		m, err := ParseColorMode(tc.in)
		if err != nil || m != tc.want {
			t.Fatalf("ParseColorMode(%q) = %q, %v", tc.in, m, err)
		}
		// a buffer is no terminal: auto means no colour
		if m.Enabled(&buf) != tc.enabled {
			t.Errorf("%q on a buffer: enabled=%v", tc.in, m.Enabled(&buf))
		}
	}
	if _, err := ParseColorMode("yes"); err == nil || !strings.Contains(err.Error(), "auto, always or never") {
		t.Errorf("bad mode error: %v", err)
	}
	var m ColorMode
	if m.String() != "auto" || m.Set("never") != nil || m != ColorNever || m.Set("x") == nil {
		t.Error("pflag.Value methods")
	}
}

// The palette is per instance: NO_COLOR in the environment and the
// library's global never change what an explicit choice says, and a
// palette never touches the global.
func TestPalettePerInstance(t *testing.T) {
	t.Setenv("NO_COLOR", "1")
	before := color.NoColor
	on, off := NewPalette(true), NewPalette(false)
	if got := on.Error("x"); got != "\x1b[31mx\x1b[0m" {
		t.Errorf("enabled palette under NO_COLOR: %q", got)
	}
	if got := off.Error("x"); got != "x" {
		t.Errorf("disabled palette: %q", got)
	}
	var nilPalette *Palette
	if nilPalette.Warn("x") != "x" || nilPalette.Enabled() {
		t.Error("nil palette colours")
	}
	if color.NoColor != before {
		t.Error("palette changed color.NoColor")
	}
	// auto with NO_COLOR set: off even for always-TTY checks; a buffer is off anyway
	if PaletteFor(&bytes.Buffer{}, ColorAuto).Enabled() || !PaletteFor(&bytes.Buffer{}, ColorAlways).Enabled() {
		t.Error("PaletteFor policy")
	}
}

func TestTerminalSizeOfPipe(t *testing.T) {
	if _, _, ok := TerminalSize(&bytes.Buffer{}); ok {
		t.Error("a buffer is a terminal")
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	if _, _, ok := TerminalSize(w); ok {
		t.Error("a pipe is a terminal")
	}
}
