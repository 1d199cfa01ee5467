package gate

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

var testSchema = Schema{
	Columns: map[string]Kind{"p99": Duration, "error_rate": Ratio, "rps": Number, "rss": Bytes,
		"endpoint": Text, "service": Text, "verdict": Text},
	Funcs: map[string]Kind{"self": Ratio},
}

// rows is a Source of fixed rows; Merge sums rps and takes the largest p99.
type rows []Row

func (r rows) Rows() []Row { return r }

func (r rows) Merge(in []Row) Row {
	m := Row{Values: map[string]Value{"rps": {}, "p99": {}}}
	for _, x := range in {
		m.Values["rps"] = Value{Num: m.Values["rps"].Num + x.Values["rps"].Num}
		m.Values["p99"] = Value{Num: max(m.Values["p99"].Num, x.Values["p99"].Num)}
	}
	return m
}

func (r rows) Call(fn, arg string) (Value, bool) {
	if fn == "self" && arg == "runtime.mallocgc" {
		return Value{Num: 0.25}, true
	}
	return Value{}, fn == "self"
}

func row(label, service, endpoint string, p99ms, errRate, rps float64, verdict string) Row {
	return Row{Label: label, Values: map[string]Value{
		"p99": {Num: p99ms * 1e6}, "error_rate": {Num: errRate}, "rps": {Num: rps}, "rss": {Num: 600 << 20},
		"endpoint": {Str: endpoint}, "service": {Str: service}, "verdict": {Str: verdict}}}
}

var table = rows{
	row("a", "shop/api", "GET /api/cart", 300, 0, 50, "stable"),
	row("b", "shop/api", "GET /health", 2, 0.02, 5, "leak"),
	row("c", "shop/web", "GET /api/items", 100, 0.005, 20, "stable"),
}

// Each operator, scope and total() on the rows, and what a fired rule says.
func TestRules(t *testing.T) {
	for _, c := range []struct {
		rule  string
		fired bool
		why   string
	}{
		{"p99 > 250ms", true, "a: p99 300ms (> 250ms)"},
		{"p99 >= 300ms", true, "a: p99 300ms (>= 300ms)"},
		{"p99 > 300ms", false, ""},
		{"p99 < 2ms", false, ""},
		{"p99 <= 2ms", true, "b: p99 2ms (<= 2ms)"},
		{"rps < 10", true, "b: rps 5 (< 10)"},
		{"rps == 20", true, "c: rps 20 (== 20)"},
		{"rps != 50 && rps != 5", true, "c: rps 20 (!= 50), rps 20 (!= 5)"},
		{"error_rate > 1%", true, "b: error_rate 2.00% (> 1.00%)"},
		{"error_rate > 1% && endpoint =~ \"^GET /api/\"", false, ""},
		{"p99 > 250ms && endpoint =~ \"^GET /api/\"", true, "a: p99 300ms (> 250ms)"},
		{"p99 > 50ms && service == \"shop/web\"", true, "c: p99 100ms (> 50ms)"},
		{"p99 > 50ms && service == shop/web", true, "c: p99 100ms (> 50ms)"},
		{"p99 > 50ms && service != shop/web && endpoint !~ health", true, "a: p99 300ms (> 50ms)"},
		{"verdict == leak", true, "b: "},
		{"rss > 512MiB && verdict == stable", true, "a: rss 600.0MiB (> 512.0MiB)"},
		{"total(rps) > 70", true, "3 rows merged: total(rps) 75 (> 70)"},
		{"total(rps) > 70 && service == \"shop/api\"", false, ""},
		{"total(rps) > 50 && service == \"shop/api\"", true, "2 rows merged: total(rps) 55 (> 50)"},
		{"total(p99) > 250ms && endpoint =~ \"/api/\"", true, "2 rows merged: total(p99) 300ms (> 250ms)"},
		{"total(rps) > 1 && service == nobody", false, ""},
		{"total(rps) < 1 && service == nobody", true, "0 rows merged: total(rps) 0 (< 1)"},
		{"self(\"runtime.mallocgc\") > 20%", true, "self(\"runtime.mallocgc\") 25.00% (> 20.00%)"},
		{"self(\"main.f\") > 20%", false, ""},
	} {
		r, err := Parse(c.rule, testSchema)
		if err != nil {
			t.Errorf("%s: %v", c.rule, err)
			continue
		}
		fired, why := r.Check(table)
		if fired != c.fired || c.fired && (len(why) == 0 || strings.TrimSpace(why[0]) != strings.TrimSpace(c.why)) {
			t.Errorf("%s: fired %v %q, want %v %q", c.rule, fired, why, c.fired, c.why)
		}
	}
}

// Mistakes are refused with the column they start at and a remedy.
func TestParseErrors(t *testing.T) {
	for _, c := range []struct {
		rule string
		col  int
		msg  string
	}{
		{"p98 > 1ms", 1, `unknown column "p98": use endpoint, error_rate, p99, rps, rss, service, verdict`},
		{"p99 > 250", 7, `"250" is not a duration: use a duration such as 250ms`},
		{"p99 > 250mb", 7, "is not a duration"},
		{"error_rate > 0.01", 14, "is not a percentage: use a percentage such as 1%"},
		{"rps < 10%", 7, "is not a plain number"},
		{"rss > 5XB", 7, "is not a size"},
		{"p99 =~ \"x\"", 5, "p99 is a number: =~ and !~ match text"},
		{"endpoint > 3", 10, "endpoint is text: compare it with ==, !=, =~ or !~"},
		{"endpoint =~ \"(\"", 13, "not a regular expression"},
		{"p99 > 1ms || rps < 1", 11, `expected && or the end of the rule, found "||" (repeat --fail-if for "or")`},
		{"p99 > 1ms &&", 13, "expected a column"},
		{"p99", 4, "expected a comparison"},
		{"p99 >", 6, "expected a value"},
		{"total(endpoint) > 1", 7, "total() takes a number column"},
		{"self(main) > 1%", 6, `self() takes a "string"`},
		{"cpu(\"x\") > 1%", 1, `unknown function "cpu": use total(COLUMN), self("NAME")`},
		{"endpoint == \"abc", 13, "unterminated string"},
		{"p99 > 1ms ; rps", 11, `unexpected ';'`},
		{"total(rps > 1", 11, "expected ) after"},
		{"", 1, "expected a column"},
	} {
		_, err := Parse(c.rule, testSchema)
		var se *SyntaxError
		if !errors.As(err, &se) || se.Col != c.col || !strings.Contains(se.Msg, c.msg) {
			t.Errorf("%q: %v, want column %d: %s", c.rule, err, c.col, c.msg)
			continue
		}
		lines := strings.Split(err.Error(), "\n")
		if len(lines) != 3 || strings.Index(lines[2], "^") != 2+c.col-1 {
			t.Errorf("%q: the caret is not under column %d:\n%s", c.rule, c.col, err)
		}
	}
}

func TestFiredExitCode(t *testing.T) {
	var err error = &Fired{Rules: []string{"p99 > 1ms"}}
	var ec interface{ ExitCode() int }
	if !errors.As(err, &ec) || ec.ExitCode() != 3 || !slices.Contains(strings.Fields(err.Error()), "fired:") {
		t.Errorf("%v", err)
	}
}

// Any input parses or is refused with a column inside it; a parsed rule
// checks without panicking.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"p99 > 250ms && endpoint =~ \"/api/.*\"", "total(p99) > 1s", "self(\"a\\\"b\") > 5%",
		"verdict == leak", "rss >= 1.5GiB", "error_rate > .5%", "\"", "((", "é > 1",
		"p99 > +20%", "rps < -10", "error_rate > +.5%", "p99 > -+1ms", "rss > +1GiB && total(p99) < -5%"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		diff := testSchema
		diff.Diff = true
		for _, schema := range []Schema{testSchema, diff} { // signed literals parse only in a diff
			r, err := Parse(s, schema)
			if err != nil {
				var se *SyntaxError
				if !errors.As(err, &se) || se.Col < 1 || se.Col > len([]rune(s))+1 {
					t.Fatalf("%q: %v (column outside the rule)", s, err)
				}
				continue
			}
			r.Check(table)
			r.Check(diffTable)
		}
	})
}
