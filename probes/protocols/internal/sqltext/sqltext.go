// Package sqltext turns SQL statements into bounded templates: literals
// replaced by "?", comments dropped, whitespace collapsed and lists of
// literals folded, so that the same statement with other values lands on
// the same endpoint and no value leaves the node by default.
package sqltext

import (
	"bytes"
	"strings"
	"unicode/utf8"
)

// Dialect selects the quoting rules.
type Dialect uint8

const (
	// Postgres: '...' strings ('' and E'\'' escapes), $tag$...$tag$
	// strings, "..." identifiers, $1 parameters. Whether a backslash
	// escapes in '...' (standard_conforming_strings) is taken as unknown.
	Postgres Dialect = iota
	// MySQL: '...' and "..." strings with backslash escapes, `...`
	// identifiers, # comments, ? parameters.
	MySQL
	// MySQLNoBackslash is MySQL with sql_mode NO_BACKSLASH_ESCAPES.
	MySQLNoBackslash
	// MySQLUnsure is MySQL when that mode is not known yet.
	MySQLUnsure
)

// Whether a backslash escapes the next byte in a string.
const (
	escYes uint8 = iota
	escNo
	escUnsure
)

// escapes is how d treats a backslash in a plain string.
func (d Dialect) escapes() uint8 {
	switch d {
	case MySQL:
		return escYes
	case MySQLNoBackslash:
		return escNo
	}
	return escUnsure
}

// Template returns the statement's kind (its first keyword, upper-cased:
// "SELECT", "INSERT", "BEGIN"; "" when there is none) and its template
// bounded to limit bytes (cut ones end with "…"). The keyword is
// upper-cased in the template too. partial says q is only the first bytes
// of the statement: a list of literals cut anywhere gives one template.
func Template(q []byte, d Dialect, limit int, partial bool) (kind, tmpl string) {
	my := d != Postgres
	if limit <= 0 {
		limit = 1
	}
	b := make([]byte, 0, min(len(q), limit)+8)
	space := false
	cut := false
	put := func(s []byte) {
		if space && len(b) > 0 {
			b = append(b, ' ')
		}
		space = false
		b = append(b, s...)
	}
	lit := func() {
		put([]byte{'?'})
		switch {
		case bytes.HasSuffix(b, []byte("?, ?")):
			b = b[:len(b)-3]
		case bytes.HasSuffix(b, []byte("?,?")):
			b = b[:len(b)-2]
		}
	}
	i := 0
	for i < len(q) {
		if len(b) > limit {
			cut = true
			break
		}
		c := q[i]
		var next byte
		if i+1 < len(q) {
			next = q[i+1]
		}
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == 0:
			space = true
			i++
		case c == '-' && next == '-' || c == '#' && my:
			for i < len(q) && q[i] != '\n' {
				i++
			}
			space = true
		case c == '/' && next == '*':
			end := bytes.Index(q[i+2:], []byte("*/"))
			if end < 0 {
				i = len(q)
			} else {
				i += 2 + end + 2
			}
			space = true
		case c == '\'' || c == '"' && my:
			var ambiguous bool
			i, ambiguous = skipString(q, i, c, d.escapes())
			lit()
			if ambiguous {
				i, cut = len(q), true // the rest may be inside the string
			}
		case c == '"' || c == '`':
			j := bytes.IndexByte(q[i+1:], c)
			end := len(q)
			if j >= 0 {
				end = i + 1 + j + 1
			}
			put(q[i:end])
			i = end
		case c == '$' && d == Postgres:
			j := i + 1
			for j < len(q) && q[j] >= '0' && q[j] <= '9' {
				j++
			}
			if j > i+1 {
				put(q[i:j]) // a parameter
				i = j
				break
			}
			for j < len(q) && isIdent(q[j]) {
				j++
			}
			if j < len(q) && q[j] == '$' {
				tag := q[i : j+1]
				end := bytes.Index(q[j+1:], tag)
				if end < 0 {
					i = len(q)
				} else {
					i = j + 1 + end + len(tag)
				}
				lit()
				break
			}
			put(q[i : i+1])
			i++
		case c >= '0' && c <= '9' || c == '.' && next >= '0' && next <= '9':
			j := i
			for j < len(q) && (isIdent(q[j]) || q[j] == '.' ||
				(q[j] == '+' || q[j] == '-') && j > i && (q[j-1] == 'e' || q[j-1] == 'E')) {
				j++
			}
			i = j
			lit()
		case isIdent(c):
			j := i
			for j < len(q) && isIdent(q[j]) {
				j++
			}
			word := q[i:j]
			if j < len(q) && q[j] == '\'' && len(word) == 1 && strings.ContainsRune("EeBbXxNn", rune(word[0])) {
				// E'...' (backslash escapes whatever the settings),
				// B'...', X'...', N'...'
				esc := d.escapes()
				if word[0] == 'E' || word[0] == 'e' {
					esc = escYes
				}
				var ambiguous bool
				i, ambiguous = skipString(q, j, '\'', esc)
				lit()
				if ambiguous {
					i, cut = len(q), true
				}
				break
			}
			if len(b) == 0 && kind == "" {
				kind = strings.ToUpper(string(word))
				if !utf8.ValidString(kind) || len(kind) > 32 {
					kind = ""
				} else {
					word = []byte(kind)
				}
			}
			put(word)
			i = j
		default:
			if c == ';' && allSpace(q[i+1:]) {
				i = len(q)
				break
			}
			if c == '?' && my {
				lit() // a placeholder folds like a literal
				i++
				break
			}
			put(q[i : i+1])
			i++
			if c == ')' && bytes.HasSuffix(b, []byte("(?), (?)")) {
				b = b[:len(b)-5]
			}
		}
	}
	if partial && !cut {
		// Drop a last group of literals the cut split: "(?), (?" -> "(?)".
		if i := bytes.LastIndexByte(b, ')'); i >= 0 && len(bytes.Trim(b[i+1:], " ,(?")) == 0 {
			b = b[:i+1]
		}
		cut = true
	}
	if len(b) > limit {
		b = b[:limit]
		for k := 0; k < 3 && len(b) > 0; k++ {
			if r, size := utf8.DecodeLastRune(b); r != utf8.RuneError || size != 1 || b[len(b)-1] < 0x80 {
				break
			}
			b = b[:len(b)-1] // a rune cut by the limit
		}
		cut = true
	}
	tmpl = strings.ToValidUTF8(string(b), "?")
	if cut {
		tmpl += "…"
	}
	if kind == "" {
		// A statement starting with "(" or a keyword after a comment.
		k := strings.TrimLeft(tmpl, "( ")
		if n := strings.IndexAny(k, " (;"); n >= 0 {
			k = k[:n]
		}
		if len(k) <= 32 && k != "" && isIdent(k[0]) && !(k[0] >= '0' && k[0] <= '9') {
			kind = strings.ToUpper(k)
		}
	}
	return kind, tmpl
}

// skipString returns the index after the string starting with quote at
// i. Doubled quotes escape a quote. Whether a backslash escapes one
// depends on the server's settings (PostgreSQL's
// standard_conforming_strings, MySQL's NO_BACKSLASH_ESCAPES), which the
// probe may not have seen (esc escUnsure); E'...' always escapes. A quote after
// an odd run of backslashes ends the string under one setting and not
// under the other: then ambiguous is true and end is that quote, and the
// caller must take the rest as a literal, since either reading may be
// the one that hides a value.
func skipString(q []byte, i int, quote byte, esc uint8) (end int, ambiguous bool) {
	run := 0 // backslashes just before j
	for j := i + 1; j < len(q); j++ {
		switch c := q[j]; {
		case c == '\\' && esc == escYes:
			j++
		case c == '\\' && esc == escUnsure:
			run++
			continue
		case c == quote && run%2 == 1:
			return j, true
		case c == quote:
			if j+1 < len(q) && q[j+1] == quote {
				j++
				break
			}
			return j + 1, false
		}
		run = 0
	}
	return len(q), false
}

func isIdent(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c >= 0x80
}

func allSpace(b []byte) bool {
	for _, c := range b {
		if c != ' ' && c != '\t' && c != '\n' && c != '\r' && c != 0 {
			return false
		}
	}
	return true
}
