package render

import (
	"os"
	"strconv"
	"testing"

	"golang.org/x/sys/unix"
)

// openPTY returns the terminal side of a fresh pseudo-terminal of the
// given size: a real TTY, so the auto colour policy and the size lookup
// are tested against the kernel, not a fake.
func openPTY(t *testing.T, cols, rows uint16) *os.File {
	t.Helper()
	ptmx, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("SKIP: no pseudo-terminals here (%v): the TTY policy is untested", err)
	}
	t.Cleanup(func() { ptmx.Close() })
	if err := unix.IoctlSetPointerInt(int(ptmx.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatalf("unlockpt: %v", err)
	}
	n, err := unix.IoctlGetInt(int(ptmx.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatalf("ptsname: %v", err)
	}
	pts, err := os.OpenFile("/dev/pts/"+strconv.Itoa(n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatalf("opening the terminal side: %v", err)
	}
	t.Cleanup(func() { pts.Close() })
	if err := unix.IoctlSetWinsize(int(pts.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Col: cols, Row: rows}); err != nil {
		t.Fatalf("setting the window size: %v", err)
	}
	return pts
}

func TestTerminalSizeOfPTY(t *testing.T) {
	pts := openPTY(t, 93, 41)
	w, h, ok := TerminalSize(pts)
	if !ok || w != 93 || h != 41 {
		t.Fatalf("TerminalSize(pty) = %d, %d, %v; want 93, 41, true", w, h, ok)
	}
}

// auto colours a terminal, unless NO_COLOR or TERM=dumb say otherwise;
// the decision is per writer: a pipe next to it stays plain.
func TestColorAutoPerWriter(t *testing.T) {
	pts := openPTY(t, 80, 24)
	r, pipe, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer pipe.Close()

	t.Setenv("NO_COLOR", "x") // registers the restore of NO_COLOR
	os.Unsetenv("NO_COLOR")
	t.Setenv("TERM", "xterm-256color")
	if !ColorAuto.Enabled(pts) || !PaletteFor(pts, ColorAuto).Enabled() {
		t.Error("auto: no colour on a terminal")
	}
	if ColorAuto.Enabled(pipe) || ColorNever.Enabled(pts) || !ColorAlways.Enabled(pipe) {
		t.Error("policy per writer")
	}
	t.Setenv("TERM", "dumb")
	if ColorAuto.Enabled(pts) {
		t.Error("auto: colour on TERM=dumb")
	}
	t.Setenv("TERM", "xterm")
	t.Setenv("NO_COLOR", "")
	if ColorAuto.Enabled(pts) || !ColorAlways.Enabled(pts) {
		t.Error("NO_COLOR: auto must be off, always (the flag) must win")
	}
}
