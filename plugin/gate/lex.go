package gate

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// token kinds
const (
	tIdent  = "identifier"
	tNumber = "number"
	tString = "string"
	tOp     = "operator"
	tEnd    = "end of rule"
)

type token struct {
	kind string
	text string // as written (strings with their quotes)
	col  int    // 1-based, in runes
}

// SyntaxError is a mistake in a rule, with the column it starts at.
type SyntaxError struct {
	Rule string
	Col  int // 1-based
	Msg  string
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("%s at column %d:\n  %s\n  %s^", e.Msg, e.Col, e.Rule, strings.Repeat(" ", max(e.Col-1, 0)))
}

var ops = []string{">=", "<=", "==", "!=", "=~", "!~", "&&", "||", ">", "<", "(", ")"}

// lex splits a rule into tokens, ending with tEnd.
func lex(rule string) ([]token, error) {
	var toks []token
	col := 1
	for i := 0; i < len(rule); {
		r, size := utf8.DecodeRuneInString(rule[i:])
		start, startCol := i, col
		advance := func(n int) {
			col += utf8.RuneCountInString(rule[i : i+n])
			i += n
		}
		switch {
		case unicode.IsSpace(r):
			advance(size)
			continue
		case r == '"':
			j := i + 1
			for j < len(rule) && rule[j] != '"' {
				if rule[j] == '\\' {
					j++
				}
				j++
			}
			if j >= len(rule) {
				return nil, &SyntaxError{rule, startCol, "unterminated string: close it with \""}
			}
			advance(j + 1 - i)
			toks = append(toks, token{tString, rule[start:i], startCol})
			continue
		case isDigit(r) || r == '.' && i+1 < len(rule) && isDigit(rune(rule[i+1])),
			(r == '+' || r == '-') && i+1 < len(rule) && (isDigit(rune(rule[i+1])) || rule[i+1] == '.'):
			j := i + 1 // a sign starts a change: +20%, -5ms
			for j < len(rule) && (rule[j] >= '0' && rule[j] <= '9' || rule[j] == '.' || isWordByte(rule[j]) || rule[j] == '%') {
				j++
			}
			advance(j - i)
			toks = append(toks, token{tNumber, rule[start:i], startCol})
			continue
		case r == '_' || unicode.IsLetter(r):
			j := i + size // a letter may be several bytes
			for j < len(rule) && (isWordByte(rule[j]) || rule[j] >= '0' && rule[j] <= '9' || rule[j] == '.' || rule[j] == '/' || rule[j] == '-') {
				j++
			}
			advance(j - i)
			toks = append(toks, token{tIdent, rule[start:i], startCol})
			continue
		}
		op := ""
		for _, o := range ops {
			if strings.HasPrefix(rule[i:], o) {
				op = o
				break
			}
		}
		if op == "" {
			return nil, &SyntaxError{rule, startCol, fmt.Sprintf("unexpected %q: use a name, a number, a \"string\", a comparison (> >= < <= == != =~ !~) or &&", r)}
		}
		advance(len(op))
		toks = append(toks, token{tOp, op, startCol})
	}
	return append(toks, token{tEnd, "", col}), nil
}

func isDigit(r rune) bool { return r >= '0' && r <= '9' }

func isWordByte(b byte) bool { return b == '_' || b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' }
