package render

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"k8s.io/cli-runtime/pkg/printers"
)

// Sanitize makes a string that came from a node (comm, path, peer, method,
// pod name) safe and one line on a terminal. printers.EscapeTerminal handles
// ESC and CR; on top, other control characters, C1 controls (a lone 0x9b is
// a CSI on some terminals), bidi overrides (which reorder what is shown)
// and invalid UTF-8 are made visible, and \n and \t are escaped so a row
// stays a row and columns stay columns.
func Sanitize(s string) string {
	s = printers.EscapeTerminal(s)
	if isPlain(s) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\t':
			b.WriteString(`\t`)
		case r < 0x20:
			b.WriteByte('^')
			b.WriteByte(byte(r) + '@')
		case r == 0x7f:
			b.WriteString("^?")
		case r >= 0x80 && r <= 0x9f, isBidiControl(r):
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

func isPlain(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f {
			return false
		}
	}
	return true
}

func isBidiControl(r rune) bool {
	return r >= 0x202a && r <= 0x202e || r >= 0x2066 && r <= 0x2069 || r == 0x200e || r == 0x200f || r == 0x061c
}

// SanitizeLines is Sanitize for a message of several lines (an error with
// its remedy): each line is sanitized and the line breaks are kept, but a
// continuation line is always indented (ours are), so a line a node slipped
// in cannot pass for a message of its own ("error: ...").
func SanitizeLines(s string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = Sanitize(l)
		if i > 0 && l != "" && l[0] != ' ' {
			lines[i] = "  " + lines[i]
		}
	}
	return strings.Join(lines, "\n")
}
