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
	// PostgresConforming is Postgres with standard_conforming_strings on
	// (a backslash is a plain byte in '...'), PostgresEscapes with it off.
	PostgresConforming
	PostgresEscapes
)

// mysql reports whether d is one of the MySQL dialects.
func (d Dialect) mysql() bool { return d == MySQL || d == MySQLNoBackslash || d == MySQLUnsure }

// Whether a backslash escapes the next byte in a string.
const (
	escYes uint8 = iota
	escNo
	escUnsure
)

// escapes is how d treats a backslash in a plain string.
func (d Dialect) escapes() uint8 {
	switch d {
	case MySQL, PostgresEscapes:
		return escYes
	case MySQLNoBackslash, PostgresConforming:
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
	if limit <= 0 {
		limit = 1
	}
	t := templater{q: q, d: d, my: d.mysql(), b: make([]byte, 0, min(len(q), limit)+8)}
	i := 0
	for i < len(q) {
		if len(t.b) > limit {
			t.cut = true
			break
		}
		i = t.token(i)
	}
	return t.finish(limit, partial)
}

// templater writes a template token by token.
type templater struct {
	q     []byte
	d     Dialect
	my    bool // a MySQL dialect
	b     []byte
	space bool // a space is due before the next token
	cut   bool
	kind  string
}

func (t *templater) put(s []byte) {
	if t.space && len(t.b) > 0 {
		t.b = append(t.b, ' ')
	}
	t.space = false
	t.b = append(t.b, s...)
}

// lit writes a literal as "?", folding a list of them into one.
func (t *templater) lit() {
	t.put([]byte{'?'})
	switch {
	case bytes.HasSuffix(t.b, []byte("?, ?")):
		t.b = t.b[:len(t.b)-3]
	case bytes.HasSuffix(t.b, []byte("?,?")):
		t.b = t.b[:len(t.b)-2]
	}
}

// token writes the token at i and returns the index after it.
func (t *templater) token(i int) int {
	q := t.q
	c := q[i]
	var next byte
	if i+1 < len(q) {
		next = q[i+1]
	}
	switch {
	case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == 0:
		t.space = true
		return i + 1
	case c == '-' && next == '-' || c == '#' && t.my:
		for i < len(q) && q[i] != '\n' {
			i++
		}
		t.space = true
		return i
	case c == '/' && next == '*':
		t.space = true
		if end := bytes.Index(q[i+2:], []byte("*/")); end >= 0 {
			return i + 2 + end + 2
		}
		return len(q)
	case c == '\'' || c == '"' && t.my:
		return t.str(i, c, t.d.escapes())
	case c == '"' || c == '`':
		end := len(q)
		if j := bytes.IndexByte(q[i+1:], c); j >= 0 {
			end = i + 1 + j + 1
		}
		t.put(q[i:end])
		return end
	case c == '$' && !t.my:
		return t.dollar(i)
	case c >= '0' && c <= '9' || c == '.' && next >= '0' && next <= '9':
		j := i
		for j < len(q) && (isIdent(q[j]) || q[j] == '.' ||
			(q[j] == '+' || q[j] == '-') && j > i && (q[j-1] == 'e' || q[j-1] == 'E')) {
			j++
		}
		t.lit()
		return j
	case isIdent(c):
		return t.word(i)
	}
	return t.punct(i)
}

// str writes the string starting with quote at i as a literal. When the
// server's settings decide where it ends, the rest is taken as part of it
// (either reading may be the one that hides a value).
func (t *templater) str(i int, quote byte, esc uint8) int {
	i, ambiguous := skipString(t.q, i, quote, esc)
	t.lit()
	if ambiguous {
		t.cut = true
		return len(t.q)
	}
	return i
}

// dollar reads a $1 parameter or a $tag$...$tag$ string (PostgreSQL).
func (t *templater) dollar(i int) int {
	q := t.q
	j := i + 1
	for j < len(q) && q[j] >= '0' && q[j] <= '9' {
		j++
	}
	if j > i+1 {
		t.put(q[i:j]) // a parameter
		return j
	}
	for j < len(q) && isIdent(q[j]) {
		j++
	}
	if j < len(q) && q[j] == '$' {
		tag := q[i : j+1]
		t.lit()
		if end := bytes.Index(q[j+1:], tag); end >= 0 {
			return j + 1 + end + len(tag)
		}
		return len(q)
	}
	t.put(q[i : i+1])
	return i + 1
}

// word reads a keyword or identifier (the first gives the kind), or a
// prefixed string: E'...' (a backslash escapes whatever the settings),
// B'...', X'...', N'...'.
func (t *templater) word(i int) int {
	q := t.q
	j := i
	for j < len(q) && isIdent(q[j]) {
		j++
	}
	word := q[i:j]
	if j < len(q) && q[j] == '\'' && len(word) == 1 && strings.ContainsRune("EeBbXxNn", rune(word[0])) {
		esc := t.d.escapes()
		if word[0] == 'E' || word[0] == 'e' {
			esc = escYes
		}
		return t.str(j, '\'', esc)
	}
	if len(t.b) == 0 && t.kind == "" {
		t.kind = strings.ToUpper(string(word))
		if !utf8.ValidString(t.kind) || len(t.kind) > 32 {
			t.kind = ""
		} else {
			word = []byte(t.kind)
		}
	}
	t.put(word)
	return j
}

// punct writes any other byte; a trailing ";" ends the statement, a MySQL
// "?" placeholder folds like a literal, and so do lists of rows.
func (t *templater) punct(i int) int {
	c := t.q[i]
	switch {
	case c == ';' && allSpace(t.q[i+1:]):
		return len(t.q)
	case c == '?' && t.my:
		t.lit()
		return i + 1
	}
	t.put(t.q[i : i+1])
	if c == ')' && bytes.HasSuffix(t.b, []byte("(?), (?)")) {
		t.b = t.b[:len(t.b)-5]
	}
	return i + 1
}

// finish bounds the template and finds a kind after a parenthesis or a
// comment.
func (t *templater) finish(limit int, partial bool) (kind, tmpl string) {
	b, cut, kind := t.b, t.cut, t.kind
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

// Bound cuts s (SQL text or a result shown under full data) to at most
// limit bytes of valid UTF-8, marking the cut; a rune cut by the limit
// becomes "?", so the result is never longer than the limit and the mark.
func Bound(s string, limit int) string {
	if len(s) <= limit {
		return strings.ToValidUTF8(s, "?")
	}
	return strings.ToValidUTF8(s[:limit], "?") + "…"
}
