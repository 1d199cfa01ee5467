// Package names makes the names parsers read off the wire (queues,
// exchanges, topics, client ids) safe to keep in a record: valid UTF-8
// without control characters, and bounded.
package names

import "unicode/utf8"

// Printable returns b with control bytes, DEL and invalid UTF-8 replaced
// by '?'.
func Printable(b []byte) string {
	out := make([]rune, 0, len(b))
	for _, r := range string(b) {
		if r < 0x20 || r == 0x7f || r == utf8.RuneError {
			r = '?'
		}
		out = append(out, r)
	}
	return string(out)
}

// Cut bounds s to at most n bytes without splitting a rune.
func Cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
