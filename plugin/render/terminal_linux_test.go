package render

import (
	"os"
	"testing"

	"github.com/kubectl-pixie/kubectl-pixie/plugin/render/rendertest"
)

func TestTerminalSizeOfPTY(t *testing.T) {
	pts, _ := rendertest.OpenPTY(t, 93, 41)
	w, h, ok := TerminalSize(pts)
	if !ok || w != 93 || h != 41 {
		t.Fatalf("TerminalSize(pty) = %d, %d, %v; want 93, 41, true", w, h, ok)
	}
}

// auto colours a terminal, unless NO_COLOR or TERM=dumb say otherwise;
// the decision is per writer: a pipe next to it stays plain.
func TestColorAutoPerWriter(t *testing.T) {
	pts, _ := rendertest.OpenPTY(t, 80, 24)
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
