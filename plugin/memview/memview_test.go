package memview

import (
	"bytes"
	"encoding/json"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/kubectl-pixie/kubectl-pixie/plugin/driver"
	"github.com/kubectl-pixie/kubectl-pixie/probes/api"
	"github.com/kubectl-pixie/kubectl-pixie/probes/api/trend"
	"github.com/kubectl-pixie/kubectl-pixie/probes/api/vocab"
)

// countingWriter records how many writes a frame takes.
type countingWriter struct {
	bytes.Buffer
	writes int
}

func (w *countingWriter) Write(p []byte) (int, error) {
	w.writes++
	return w.Buffer.Write(p)
}

// screen shows v on out as the memory command does (tty: repainted).
func screen(v *View, out io.Writer, tty bool) *driver.Screen {
	return driver.NewScreen(v, driver.Options{Out: out, TTY: tty, SnapshotEvery: time.Nanosecond})
}

func line(t *testing.T, rec any) []byte {
	t.Helper()
	b, err := json.Marshal(rec)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func feed(t *testing.T, v *View, comm string, n int) {
	t.Helper()
	feedFrom(t, v, comm, 0, n)
}

func feedFrom(t *testing.T, v *View, comm string, from, n int) {
	t.Helper()
	for i := from; i < from+n; i++ {
		st := api.ProcessStats{Header: api.Header{Table: api.TableProcessStats}, Time: int64(i) * 1e9, PID: 42, UPID: "42:1", Comm: comm,
			RSSBytes: uint64(10<<20 + i*(1<<20)), RSSAnonBytes: uint64(8<<20 + i*(1<<20)), CgroupUsageBytes: uint64(20<<20 + i*(1<<20)), CgroupLimitBytes: 100 << 20}
		v.Line("", line(t, st))
	}
}

func TestTTYFrameIsOneWriteAndRedrawsInPlace(t *testing.T) {
	var out countingWriter
	v := New(Options{Duration: 30 * time.Second})
	sc := screen(v, &out, true)
	feed(t, v, "leaky", 10)
	sc.Tick()
	if out.writes != 1 {
		t.Fatalf("%d writes for one frame", out.writes)
	}
	first := out.String()
	if strings.Contains(first, "\x1b[") && strings.Contains(first, "A\r") {
		t.Errorf("first frame moves the cursor up: %q", first)
	}
	out.Reset()
	feedFrom(t, v, "leaky", 10, 2)
	sc.Tick()
	if !strings.HasPrefix(out.String(), "\r\x1b[4A") || !strings.Contains(out.String(), "\x1b[K\n") || !strings.HasSuffix(out.String(), "\x1b[J") {
		t.Errorf("second frame does not redraw in place: %q", out.String())
	}
}

func TestPipedSnapshotsHaveNoEscapes(t *testing.T) {
	var out bytes.Buffer
	v := New(Options{Color: false, Duration: 30 * time.Second})
	sc := screen(v, &out, false)
	feed(t, v, "leaky", 10)
	sc.Tick()
	v.Line("", line(t, api.MemorySummary{Header: api.Header{Table: api.TableMemorySummary}, PID: 42, UPID: "42:1", Comm: "leaky",
		Verdict: vocab.VerdictLeak, Reason: "grew steadily", GrowthBytesPerSec: 1 << 20, TimeToOOMNs: int64(70 * time.Second)}))
	_ = sc.End(nil)
	s := out.String()
	if strings.ContainsRune(s, '\x1b') {
		t.Errorf("escape sequence in piped output:\n%q", s)
	}
	for _, want := range []string{"--- ", "PROCESS", "leaky", "+1.0 MiB/s", "100 MiB (29%)", "~1m10s", "leaky 42: leak: grew steadily"} {
		if !strings.Contains(s, want) {
			t.Errorf("output lacks %q:\n%s", want, s)
		}
	}
}

// Page-fault stacks say what is still resident of what was faulted; the
// uprobe ones how many allocations hold the bytes.
func TestAllocStacksBySource(t *testing.T) {
	var out, errOut bytes.Buffer
	v := New(Options{ErrOut: &errOut})
	feed(t, v, "leaky", 6)
	v.Line("", line(t, api.AllocStack{Header: api.Header{Table: api.TableAllocStacks}, PID: 42, Comm: "leaky", Rank: 1,
		OutstandingBytes: 5 << 20, AllocatedBytes: 6 << 20, Source: api.AllocSourceFaults, Frames: []string{"malloc", "leak_small", "main"}}))
	v.Line("", line(t, api.AllocStack{Header: api.Header{Table: api.TableAllocStacks}, PID: 43, Comm: "other", Rank: 1,
		OutstandingBytes: 1 << 20, OutstandingAllocs: 16, Source: api.AllocSourceLibc, Frames: []string{"leak_bytes"}}))
	_ = screen(v, &out, false).End(nil)
	s := out.String()
	for _, want := range []string{"MEMORY GROWTH BY STACK", "leaky 42 #1  5.0 MiB of 6.0 MiB (page-faults)", "    leak_small",
		"OUTSTANDING ALLOCATIONS", "other 43 #1  1.0 MiB in 16 allocations (libc)"} {
		if !strings.Contains(s, want) {
			t.Errorf("output lacks %q:\n%s", want, s)
		}
	}
}

func TestCollapseUnnamed(t *testing.T) {
	got := collapseUnnamed([]string{"[libc.so.6+0x95f4b]", "[libc.so.6+0x96cfb]", "[libc.so.6+0x980bd]", "malloc",
		"sawtooth", "[libc.so.6+0x27249]", "__libc_start_main", "[anon]", "[x+0x1]", "[y+0x2]"})
	want := []string{"[libc.so.6] ×3", "malloc", "sawtooth", "[libc.so.6+0x27249]", "__libc_start_main", "[anon]", "[x+0x1]", "[y+0x2]"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("got  %q\nwant %q", got, want)
	}
}

func TestNodeStringsAreEscaped(t *testing.T) {
	var out, errOut bytes.Buffer
	v := New(Options{ErrOut: &errOut})
	evil := "x\x1b]0;pwned\x07"
	feed(t, v, evil, 6)
	v.Line("", line(t, api.MemorySummary{Header: api.Header{Table: api.TableMemorySummary}, PID: 42, UPID: "42:1", Comm: evil, Verdict: "stable", Reason: evil}))
	v.Line("", line(t, api.AllocStack{Header: api.Header{Table: api.TableAllocStacks}, PID: 42, Comm: evil, Rank: 1, Frames: []string{evil}}))
	v.Line("", line(t, api.ProbeLog{Header: api.Header{Table: api.TableProbeLog}, Level: "warning", Msg: evil}))
	_ = screen(v, &out, false).End(nil)
	if strings.ContainsRune(out.String(), '\x1b') || strings.ContainsRune(errOut.String(), '\x1b') {
		t.Errorf("raw escape from the node reached the terminal:\n%q\n%q", out.String(), errOut.String())
	}
}

func TestUnknownTableWarnsOnce(t *testing.T) {
	var errOut bytes.Buffer
	v := New(Options{ErrOut: &errOut})
	for i := 0; i < 3; i++ {
		v.Line("", []byte(`{"table":"from_the_future","v":9}`))
	}
	v.Line("", []byte(`not json`))
	if n := strings.Count(errOut.String(), "warning:"); n != 2 {
		t.Errorf("%d warnings, want 2 (one per cause):\n%s", n, errOut.String())
	}
}

func TestColorOnlyWhenAsked(t *testing.T) {
	for _, on := range []bool{false, true} {
		var out bytes.Buffer
		v := New(Options{Color: on})
		feed(t, v, "leaky", 6)
		_ = screen(v, &out, false).End(nil)
		if got := strings.Contains(out.String(), "\x1b["); got != on {
			t.Errorf("color=%v: escape sequences present=%v", on, got)
		}
	}
}

func TestSparkline(t *testing.T) {
	ramp := make([]trend.Point, 32)
	flat := make([]trend.Point, 32)
	for i := range ramp {
		ramp[i] = trend.Point{T: float64(i), V: float64(i) * (1 << 20)}
		flat[i] = trend.Point{T: float64(i), V: 50<<20 + float64(i%2)*4096}
	}
	if got := Sparkline(ramp, 8); got != "▁▂▃▄▅▆▇█" {
		t.Errorf("ramp: %q", got)
	}
	if got := Sparkline(flat, 8); strings.Trim(got, "▄▅") != "" {
		t.Errorf("flat series should stay level: %q", got)
	}
	if got := Sparkline(ramp[:3], 8); len([]rune(got)) != 3 {
		t.Errorf("short series: %q", got)
	}
}
