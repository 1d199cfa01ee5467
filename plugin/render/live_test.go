package render

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/kubectl-pixie/kubectl-pixie/plugin/render/rendertest"
)

func frame(n int, tick int) []byte {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "line %d tick %d\n", i, tick)
	}
	return []byte(b.String())
}

func fixedNow() func() time.Time {
	t := time.Date(2026, 11, 25, 17, 0, 0, 0, time.UTC)
	return func() time.Time {
		t = t.Add(time.Second)
		return t
	}
}

// On a TTY each frame is one Write that goes back over the previous frame.
func TestLiveTTY(t *testing.T) {
	var out writeCounter
	l := NewLive(&out, LiveOptions{TTY: true, Now: fixedNow()})
	for tick := range 3 {
		if err := l.Update(frame(3-tick%2, tick)); err != nil { // 3, 2, 3 lines
			t.Fatal(err)
		}
	}
	if err := l.Final(frame(4, 9)); err != nil {
		t.Fatal(err)
	}
	if err := l.Update(frame(1, 10)); err != nil || l.Final(frame(1, 11)) != nil {
		t.Fatal("writes after Final")
	}
	if out.writes != 4 {
		t.Errorf("%d writes, want one per frame (4)", out.writes)
	}
	got := out.Bytes()
	// the first frame does not move up; later ones move up over the last
	if !bytes.HasPrefix(got, []byte("line 0 tick 0\x1b[K\n")) {
		t.Errorf("first frame moved the cursor: %q", got[:20])
	}
	for _, up := range []string{"\r\x1b[3A", "\r\x1b[2A"} {
		if !bytes.Contains(got, []byte(up)) {
			t.Errorf("no %q in output", up)
		}
	}
	if bytes.Contains(got, []byte("tick 10")) || !bytes.HasSuffix(got, []byte("line 3 tick 9\x1b[K\n\x1b[J")) {
		t.Errorf("final frame not last: %q", got)
	}
	golden(t, "live_tty.golden", []byte(visible(got)))
}

func TestLiveTTYClipsToHeightAndWidth(t *testing.T) {
	var out bytes.Buffer
	l := NewLive(&out, LiveOptions{TTY: true, Height: 4, Width: 8})
	if err := l.Update(frame(10, 1)); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(out.String(), "\x1b[J"), "\n")
	if len(lines) != 4 || !strings.HasPrefix(lines[2], "… 8 mor") {
		t.Fatalf("clipped frame: %q", out.String())
	}
	for _, line := range lines[:3] {
		if w := visibleWidth(strings.TrimSuffix(line, eraseLine)); w > 8 {
			t.Errorf("line wider than 8: %q", line)
		}
	}
	// the final frame is whole
	out.Reset()
	if err := l.Final(frame(10, 2)); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out.String(), "\r\x1b[3A") || strings.Count(out.String(), "\n") != 10 {
		t.Fatalf("final frame: %q", out.String())
	}
}

// Not a TTY: timestamped snapshots, no escape sequence at all.
func TestLivePlain(t *testing.T) {
	var out bytes.Buffer
	l := NewLive(&out, LiveOptions{Now: fixedNow()})
	for tick := range 2 {
		if err := l.Update(frame(2, tick)); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Final(frame(2, 9)); err != nil {
		t.Fatal(err)
	}
	if bytes.ContainsRune(out.Bytes(), 0x1b) {
		t.Fatalf("escape sequence in plain output: %q", out.String())
	}
	golden(t, "live_plain.golden", out.Bytes())
}

func TestLiveNoStream(t *testing.T) {
	for _, tty := range []bool{false, true} {
		var out bytes.Buffer
		l := NewLive(&out, LiveOptions{TTY: tty, NoStream: true})
		_ = l.Update(frame(2, 1))
		_ = l.Update(frame(2, 2))
		if err := l.Final(frame(2, 3)); err != nil {
			t.Fatal(err)
		}
		if got := out.String(); got != string(frame(2, 3)) {
			t.Errorf("tty=%v: no-stream output %q, want only the final frame", tty, got)
		}
	}
}

// A full trace frame through Live on a TTY keeps the colour palette's
// escapes and adds only the repaint sequences.
func TestLiveTraceFrame(t *testing.T) {
	var out bytes.Buffer
	v := checkoutView(t)
	l := NewLive(&out, LiveOptions{TTY: true, Width: 100, Height: 40})
	if err := l.Update(TraceFrame(v, TraceOptions{Width: 100, Palette: NewPalette(true)})); err != nil {
		t.Fatal(err)
	}
	v.Elapsed = 30 * time.Second
	if err := l.Final(TraceFrame(v, TraceOptions{Width: 100, Palette: NewPalette(true)})); err != nil {
		t.Fatal(err)
	}
	rest := sgr.ReplaceAllString(out.String(), "")
	for _, seq := range []string{eraseLine, eraseBelow, "\r\x1b[11A"} {
		rest = strings.ReplaceAll(rest, seq, "")
	}
	if strings.ContainsRune(rest, 0x1b) {
		t.Errorf("unexpected escape sequence: %q", rest)
	}
}

type writeCounter struct {
	bytes.Buffer
	writes int
}

func (w *writeCounter) Write(p []byte) (int, error) {
	w.writes++
	return w.Buffer.Write(p)
}

// A message written above the live view (stderr, same terminal) leaves
// the screen as a user expects: what came before, the message, then one
// frame, repainted in place after it; without Above the final repaint
// would land a line too high and leave the old frame's first line behind.
func TestLiveAboveKeepsTheRepaint(t *testing.T) {
	for _, above := range []bool{true, false} {
		var term bytes.Buffer // stdout and stderr on one terminal
		term.WriteString("probe attached\n")
		l := NewLive(&term, LiveOptions{TTY: true, Now: fixedNow()})
		_ = l.Update(frame(3, 1))
		_ = l.Update(frame(3, 2))
		say := func() { term.WriteString("stopping: flushing\n") }
		if above {
			if err := l.Above(say); err != nil {
				t.Fatal(err)
			}
		} else {
			say()
		}
		_ = l.Final(frame(3, 9))
		got := strings.Join(rendertest.Screen(term.String()), "\n")
		want := "probe attached\nstopping: flushing\nline 0 tick 9\nline 1 tick 9\nline 2 tick 9"
		if above && got != want {
			t.Errorf("screen:\n%s\nwant:\n%s", got, want)
		}
		if !above && got == want {
			t.Errorf("the emulated terminal cannot tell a broken repaint:\n%s", got)
		}
	}
	// Piped: the message is written as it is, with no escape sequence.
	var out bytes.Buffer
	l := NewLive(&out, LiveOptions{Now: fixedNow()})
	_ = l.Update(frame(1, 1))
	_ = l.Above(func() { out.WriteString("stopping\n") })
	if strings.Contains(out.String(), "\x1b") || !strings.HasSuffix(out.String(), "tick 1\n\nstopping\n") {
		t.Errorf("piped: %q", out.String())
	}
}
