// Package http1 parses HTTP/1.0 and HTTP/1.1 from the byte streams the
// conn.Tracker reassembles, and pairs requests with responses.
package http1

import "bytes"

// lineResult classifies the start of a buffer as an HTTP start line.
type lineResult uint8

const (
	lineBad    lineResult = iota // not a start line
	linePrefix                   // a valid start line so far, cut short
	lineOK                       // a complete, valid start line
)

const (
	maxMethod = 24
	// maxLine bounds a start line (long URLs); past it the line is bad.
	maxLine = 16 << 10
)

func isMethodChar(c byte) bool { return c >= 'A' && c <= 'Z' || c == '-' || c == '_' }

// requestLine checks `METHOD SP target SP HTTP/1.x CRLF` at the start of b.
// It returns the result and, for lineOK, the length of the line with its
// line ending.
func requestLine(b []byte) (lineResult, int) {
	i := 0
	for i < len(b) && i <= maxMethod && isMethodChar(b[i]) {
		i++
	}
	if i == len(b) {
		if i > 0 && i <= maxMethod {
			return linePrefix, 0
		}
		return lineBad, 0
	}
	if i == 0 || i > maxMethod || b[i] != ' ' {
		return lineBad, 0
	}
	i++
	j := i
	for i < len(b) && b[i] > ' ' && b[i] != 0x7f {
		i++
	}
	if i-j > maxLine {
		return lineBad, 0
	}
	if i == len(b) {
		return linePrefix, 0
	}
	if i == j || b[i] != ' ' {
		return lineBad, 0
	}
	i++
	return version(b, i)
}

// statusLine checks `HTTP/1.x SP 3DIGIT [SP reason] CRLF` at the start of b.
func statusLine(b []byte) (lineResult, int) {
	const v = "HTTP/1."
	n := min(len(b), len(v))
	if !bytes.Equal(b[:n], []byte(v)[:n]) {
		return lineBad, 0
	}
	if len(b) <= len(v) {
		return linePrefix, 0
	}
	if !isDigit(b[len(v)]) {
		return lineBad, 0
	}
	i := len(v) + 1
	if i == len(b) {
		return linePrefix, 0
	}
	if b[i] != ' ' {
		return lineBad, 0
	}
	i++
	for k := 0; k < 3; k, i = k+1, i+1 {
		if i == len(b) {
			return linePrefix, 0
		}
		if !isDigit(b[i]) {
			return lineBad, 0
		}
	}
	if i == len(b) {
		return linePrefix, 0
	}
	switch b[i] {
	case '\r', '\n':
		return lineEnd(b, i)
	case ' ':
	default:
		return lineBad, 0
	}
	for i++; i < len(b); i++ {
		c := b[i]
		if c == '\r' || c == '\n' {
			return lineEnd(b, i)
		}
		if c < ' ' && c != '\t' || c == 0x7f {
			return lineBad, 0
		}
		if i > maxLine {
			return lineBad, 0
		}
	}
	return linePrefix, 0
}

// version checks "HTTP/1.x" and the line end at b[i:].
func version(b []byte, i int) (lineResult, int) {
	const v = "HTTP/1."
	rest := b[i:]
	n := min(len(rest), len(v))
	if !bytes.Equal(rest[:n], []byte(v)[:n]) {
		return lineBad, 0
	}
	if len(rest) <= len(v) {
		return linePrefix, 0
	}
	if !isDigit(rest[len(v)]) {
		return lineBad, 0
	}
	return lineEnd(b, i+len(v)+1)
}

// lineEnd checks for CRLF (or a bare LF) at b[i:].
func lineEnd(b []byte, i int) (lineResult, int) {
	if i == len(b) {
		return linePrefix, 0
	}
	switch b[i] {
	case '\n':
		return lineOK, i + 1
	case '\r':
		if i+1 == len(b) {
			return linePrefix, 0
		}
		if b[i+1] == '\n' {
			return lineOK, i + 2
		}
	}
	return lineBad, 0
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// headerEnd returns the length of the header block at the start of b (up
// to and including the empty line), or -1 if b does not hold it all yet.
// Scanning starts at from, which must be at or before the last '\n' seen.
func headerEnd(b []byte, from int) int {
	for from < len(b) {
		k := bytes.IndexByte(b[from:], '\n')
		if k < 0 {
			return -1
		}
		p := from + k
		if p+1 < len(b) && b[p+1] == '\n' {
			return p + 2
		}
		if p+2 < len(b) && b[p+1] == '\r' && b[p+2] == '\n' {
			return p + 3
		}
		from = p + 1
	}
	return -1
}

// knownMethods are the methods a resynchronising parser accepts: after a
// loss, the rest of a line can look like a request line with a shorter
// method ("PUT /x HTTP/1.1" without "PU" is "T /x HTTP/1.1"). RFC 9110,
// WebDAV and a few common extensions.
var knownMethods = []string{
	"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH",
	"PROPFIND", "PROPPATCH", "MKCOL", "COPY", "MOVE", "LOCK", "UNLOCK", "SEARCH", "REPORT",
	"MKCALENDAR", "PURGE", "LINK", "UNLINK",
}

// knownMethodAt reports whether b starts with a known method followed by a
// space, or with a prefix of one that b cuts short.
func knownMethodAt(b []byte) bool {
	sp := bytes.IndexByte(b, ' ')
	for _, m := range knownMethods {
		if sp >= 0 {
			if sp == len(m) && string(b[:sp]) == m {
				return true
			}
		} else if len(b) <= len(m) && m[:len(b)] == string(b) {
			return true
		}
	}
	return false
}
