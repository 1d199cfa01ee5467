package gate

import (
	"strings"
	"testing"
)

// diffRow is one endpoint of a diff: base and new p99 (ms), error rates
// and rps; base < 0 means the row is missing from BASE.
func diffRow(label string, p99Base, p99New, errBase, errNew, rpsBase, rpsNew float64) Row {
	has := p99Base >= 0
	v := func(b, n float64) Value { return Value{Num: n, Base: b, HasBase: has} }
	return Row{Label: label, Values: map[string]Value{
		"p99": v(p99Base*1e6, p99New*1e6), "error_rate": v(errBase, errNew), "rps": v(rpsBase, rpsNew),
		"endpoint": {Str: label}}}
}

var diffTable = rows{
	diffRow("slower", 10, 13, 0.01, 0.01, 100, 100), // +3ms, +30%
	diffRow("erring", 2, 2, 0.005, 0.03, 50, 20),    // +2.5 points, rps -30
	diffRow("added", -1, 500, 0, 0.5, 0, 10),        // only in NEW
}

// Signed literals compare the change: absolute in the column's unit, or
// relative with %, points on percentage columns; rows of one run only
// have no change.
func TestDeltaRules(t *testing.T) {
	schema := testSchema
	schema.Diff = true
	for _, c := range []struct {
		rule string
		why  string // "" when the rule does not fire
	}{
		{"p99 > +20%", "slower: p99 10ms -> 13ms, +30.00% (> +20.00%)"},
		{"p99 > +30.1%", ""},
		{"p99 > +2ms", "slower: p99 10ms -> 13ms, +3ms (> +2ms)"},
		{"p99 > +3ms", ""},
		{"p99 > 400ms", "added: p99 500ms (> 400ms)"},
		{"error_rate > +2%", "erring: error_rate 0.50% -> 3.00%, +2.50% (> +2.00%)"},
		{"rps < -20", "erring: rps 50 -> 20, -30 (< -20)"},
		{"rps < -50%", "erring: rps 50 -> 20, -60.00% (< -50.00%)"},
		{"p99 > +1ms && endpoint == erring", ""},
		{"p99 >= +0ms && rps <= -0 && endpoint =~ err", "erring: p99 2ms -> 2ms, +0s (>= +0s), rps 50 -> 20, -30 (<= +0)"},
	} {
		r, err := Parse(c.rule, schema)
		if err != nil {
			t.Errorf("%s: %v", c.rule, err)
			continue
		}
		fired, why := r.Check(diffTable)
		if fired != (c.why != "") || fired && strings.Join(why, "|") != c.why {
			t.Errorf("%s: fired %v %q, want %q", c.rule, fired, why, c.why)
		}
	}
}

// A change is refused outside diff and on text; its unit is checked.
func TestDeltaErrors(t *testing.T) {
	diff := testSchema
	diff.Diff = true
	for _, c := range []struct {
		rule   string
		schema Schema
		msg    string
	}{
		{"p99 > +20%", testSchema, "+20% is a change between two runs: use it with kubectl pixie diff; here compare the value, e.g. 20%"},
		{"endpoint == +3", diff, `expected a "string", found "+3"`},
		{"p99 > +20", diff, `"20" is not a duration`},
		{"rss > +5XB", diff, "is not a size"},
	} {
		_, err := Parse(c.rule, c.schema)
		if err == nil || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%s: %v, want %q", c.rule, err, c.msg)
		}
	}
}
