// Package gate checks --fail-if rules on the final summary of a run, so a
// CronJob or a CI pipeline can fail on what kubectl pixie measured.
//
// A rule is one or more comparisons joined by && (repeat --fail-if for
// "or"). The left side of a comparison is a column of the command's rows
// (p99, error_rate, endpoint, verdict, ...), total(COLUMN) (the column of
// the rows merged), or a function of the whole result (self("main.f") for
// profiles). The right side is a literal: a duration (250ms), a
// percentage (1%), a byte size (512MiB), a number, a "string" or a bare
// word (leak). Text columns compare with == and != or match a Go regular
// expression with =~ and !~.
//
// A rule without total() fires when one row holds every comparison (it is
// checked on every row of its scope: the text comparisons choose the
// rows). A rule with total() merges the rows its other comparisons choose
// (none merge to zeros) and fires when the merged row holds the total()
// comparisons.
//
// On kubectl pixie diff a row holds both runs, and a literal with a sign
// compares the change from BASE to NEW instead of NEW's value: +5ms,
// -10 or +512MiB are the change in the column's unit (p99 > +5ms: p99
// grew by more than 5ms), +20% is the change relative to BASE (p99 >
// +20%: p99 grew by more than a fifth) and, on percentage columns, a
// change in percentage points (error_rate > +1%: from 0.5% to more than
// 1.5%). A row missing from either run has no change: signed comparisons
// do not hold on it.
package gate

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// Kind is what a column holds, which sets the literals it compares with.
type Kind int

// Kinds of columns.
const (
	Number   Kind = iota // a plain number: rps < 10
	Duration             // ns: p99 > 250ms
	Ratio                // a fraction written as a percentage: error_rate > 1%
	Bytes                // rss > 512MiB
	Text                 // endpoint =~ "^GET /api/", verdict == leak
)

// Schema is what a command's rows offer to rules.
type Schema struct {
	Columns map[string]Kind
	// Funcs are functions of the whole result with one string argument,
	// such as self("runtime.mallocgc") (Source.Call evaluates them).
	Funcs map[string]Kind
	// Diff: rows hold two runs (Value.Base), so literals may be changes.
	Diff bool
}

// Value is a column's value: Num for numbers (ns, fractions, bytes), Str
// for text.
type Value struct {
	Num float64
	Str string
	// Base is the number in the BASE run of a diff, when HasBase.
	Base    float64
	HasBase bool
}

// Row is one row of a result: Label names it in messages; Ref is the
// source's own index, for Merge.
type Row struct {
	Label  string
	Values map[string]Value
	Ref    int
}

// Source is a command's final result as rules see it.
type Source interface {
	Rows() []Row
	// Merge merges rows into one (total()); its text columns may be empty.
	Merge(rows []Row) Row
	// Call evaluates a Schema function on the whole result.
	Call(fn, arg string) (Value, bool)
}

// Rule is a parsed --fail-if rule.
type Rule struct {
	Text  string
	conds []cond
	total bool // some comparison uses total()
}

type cond struct {
	col   string // column name; "" for a function call
	fn    string // total, or a Schema function
	arg   string // the function's argument
	op    string
	kind  Kind
	lit   Value
	re    *regexp.Regexp
	delta change // a signed literal: compare the change, not the value
	text  string // as written, for messages
	total bool
}

// Parse parses rule against schema: every mistake is reported with its
// column, before anything runs.
func Parse(rule string, schema Schema) (*Rule, error) {
	toks, err := lex(rule)
	if err != nil {
		return nil, err
	}
	p := &parser{rule: rule, toks: toks, schema: schema}
	r := &Rule{Text: rule}
	for {
		c, err := p.cond()
		if err != nil {
			return nil, err
		}
		r.conds = append(r.conds, c)
		r.total = r.total || c.total
		t := p.next()
		if t.kind == tEnd {
			return r, nil
		}
		if t.text != "&&" {
			return nil, p.errAt(t, fmt.Sprintf("expected && or the end of the rule, found %q (repeat --fail-if for \"or\")", t.text))
		}
	}
}

type parser struct {
	rule   string
	toks   []token
	pos    int
	schema Schema
}

func (p *parser) next() token {
	t := p.toks[p.pos]
	if t.kind != tEnd {
		p.pos++
	}
	return t
}

func (p *parser) peek() token { return p.toks[p.pos] }

func (p *parser) errAt(t token, msg string) error { return &SyntaxError{p.rule, t.col, msg} }

// cond parses LEFT OP LITERAL.
func (p *parser) cond() (cond, error) {
	start := p.peek()
	c, err := p.left()
	if err != nil {
		return c, err
	}
	opTok := p.next()
	if opTok.kind != tOp || !strings.Contains(" > >= < <= == != =~ !~ ", " "+opTok.text+" ") {
		return c, p.errAt(opTok, fmt.Sprintf("expected a comparison (> >= < <= == != =~ !~) after %s", c.text))
	}
	c.op = opTok.text
	textOp := c.op == "==" || c.op == "!=" || c.op == "=~" || c.op == "!~"
	if c.kind == Text && !textOp {
		return c, p.errAt(opTok, fmt.Sprintf("%s is text: compare it with ==, !=, =~ or !~", c.text))
	}
	if c.kind != Text && (c.op == "=~" || c.op == "!~") {
		return c, p.errAt(opTok, fmt.Sprintf("%s is a number: =~ and !~ match text", c.text))
	}
	litTok := p.next()
	if c.lit, c.delta, err = literal(litTok, c.kind); err != nil {
		return c, p.errAt(litTok, fmt.Sprintf("%s: %v", c.text, err))
	}
	if c.delta != noChange && !p.schema.Diff {
		return c, p.errAt(litTok, fmt.Sprintf("%s is a change between two runs: use it with kubectl pixie diff; here compare the value, e.g. %s", litTok.text, strings.TrimLeft(litTok.text, "+-")))
	}
	if c.op == "=~" || c.op == "!~" {
		if c.re, err = regexp.Compile(c.lit.Str); err != nil {
			return c, p.errAt(litTok, fmt.Sprintf("not a regular expression: %v", err))
		}
	}
	end := p.peek()
	c.text = strings.TrimSpace(runeSlice(p.rule, start.col, end.col))
	return c, nil
}

// left parses a column, total(COLUMN) or FUNC("arg").
func (p *parser) left() (cond, error) {
	t := p.next()
	if t.kind != tIdent {
		return cond{}, p.errAt(t, "expected a column such as "+p.columnList())
	}
	if p.peek().text != "(" {
		kind, ok := p.schema.Columns[t.text]
		if !ok {
			return cond{}, p.errAt(t, fmt.Sprintf("unknown column %q: use %s", t.text, p.columnList()))
		}
		return cond{col: t.text, kind: kind, text: t.text}, nil
	}
	p.next()
	arg := p.next()
	if cl := p.next(); cl.text != ")" {
		return cond{}, p.errAt(cl, "expected ) after the function's argument")
	}
	if t.text == "total" && arg.kind == tIdent {
		kind, ok := p.schema.Columns[arg.text]
		if !ok || kind == Text {
			return cond{}, p.errAt(arg, fmt.Sprintf("total() takes a number column, not %q: use %s", arg.text, p.columnList()))
		}
		return cond{col: arg.text, fn: "total", kind: kind, text: "total(" + arg.text + ")", total: true}, nil
	}
	kind, ok := p.schema.Funcs[t.text]
	if !ok {
		return cond{}, p.errAt(t, fmt.Sprintf("unknown function %q: use total(COLUMN)%s", t.text, p.funcList()))
	}
	if arg.kind != tString {
		return cond{}, p.errAt(arg, fmt.Sprintf("%s() takes a \"string\"", t.text))
	}
	s, _ := strconv.Unquote(arg.text)
	return cond{fn: t.text, arg: s, kind: kind, text: fmt.Sprintf("%s(%s)", t.text, arg.text)}, nil
}

func (p *parser) columnList() string {
	var names []string
	for n := range p.schema.Columns {
		names = append(names, n)
	}
	return strings.Join(sorted(names), ", ")
}

func (p *parser) funcList() string {
	var names []string
	for n := range p.schema.Funcs {
		names = append(names, ", "+n+"(\"NAME\")")
	}
	return strings.Join(sorted(names), "")
}

// runeSlice is s from rune column a to b (1-based, b exclusive).
func runeSlice(s string, a, b int) string {
	r := []rune(s)
	a, b = min(max(a-1, 0), len(r)), min(max(b-1, 0), len(r))
	return string(r[a:max(a, b)])
}
