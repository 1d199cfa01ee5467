// Package rendertest holds the hostile strings and the checks the
// renderers' tests share: what a node can send, and what may reach a
// terminal.
package rendertest

import (
	"bytes"
	"os"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"
)

// Hostile holds every byte a node could use against a terminal: ESC and
// CSI (clear the screen), OSC 52 ended by BEL (set the clipboard), the C1
// CSI as a character (U+009B) and as a lone byte (0x9b), BS, CR, and LF
// and TAB to forge a row, a column or an "error:" line.
const Hostile = "a\x1b]52;c;cHduZWQ=\x07\x1b[2J\u009b31m\x9b\b\rz\nerror: forged\tcol"

// Short is a hostile string for fields the agent cuts to 32 bytes (a
// status class: a SQLSTATE or a grpc-status).
const Short = "\x1b]52;c;SGk=\x07\x1b[2J\u009bJ\b\r\n\tX"

// sgr matches the colour sequences our own palettes write, and the ones
// render.Live writes to repaint a frame in place (erase, cursor up).
var sgr = regexp.MustCompile(`\x1b\[[0-9;]*m|\x1b\[[KJ]|\r\x1b\[[0-9]+A`)

// Unsafe returns the first byte sequence of out that is not safe for a
// terminal (any control character but '\n', a C1 control, a bidi override
// or invalid UTF-8), ignoring our own colour and repaint sequences; "" if
// there is none.
func Unsafe(out string) string {
	s := sgr.ReplaceAllString(out, "")
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		bad := r == utf8.RuneError && size == 1 || r < 0x20 && r != '\n' || r >= 0x7f && r <= 0x9f ||
			r >= 0x202a && r <= 0x202e || r >= 0x2066 && r <= 0x2069
		if bad {
			return s[max(0, i-10):min(len(s), i+10)]
		}
		i += size
	}
	return ""
}

// CheckSafe fails the test if out holds a byte unsafe on a terminal, or a
// line starting with "error: forged" (a row or message forged by a '\n').
func CheckSafe(t testing.TB, what, out string) {
	t.Helper()
	if u := Unsafe(out); u != "" {
		t.Errorf("%s: unsafe bytes reach the terminal near %q; whole output:\n%q", what, u, out)
	}
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(sgr.ReplaceAllString(l, ""), "error: forged") {
			t.Errorf("%s: a node's string forged a line: %q", what, l)
		}
	}
}

// AddSeeds seeds f with the NDJSON the real agent wrote (a recorded run in
// testdata): the whole stream, then each line alone, then extra inputs.
func AddSeeds(f *testing.F, ndjson string, extra ...string) {
	f.Helper()
	b, err := os.ReadFile(ndjson)
	if err != nil {
		f.Fatalf("seed corpus: %v", err)
	}
	f.Add(b)
	for l := range bytes.SplitSeq(b, []byte("\n")) {
		if len(l) > 0 {
			f.Add(l)
		}
	}
	for _, e := range extra {
		f.Add([]byte(e))
	}
}
