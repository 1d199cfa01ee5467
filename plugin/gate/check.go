package gate

import (
	"fmt"
	"math"
	"strings"
	"time"
)

// maxReported bounds the rows a fired rule names.
const maxReported = 5

// Check evaluates the rule on src: fired, and why in one line per row
// that broke it (with the numbers).
func (r *Rule) Check(src Source) (fired bool, why []string) {
	rows := src.Rows()
	if r.total {
		var scope []Row
		for _, row := range rows {
			if r.holds(src, row, false) {
				scope = append(scope, row)
			}
		}
		// No row in scope merges to zeros: total(rps) < 10 fires on no traffic.
		m := src.Merge(scope)
		if !r.holds(src, m, true) {
			return false, nil
		}
		return true, []string{fmt.Sprintf("%d rows merged: %s", len(scope), r.numbers(src, m, true))}
	}
	if !r.usesRows() {
		rows = []Row{{}}
	}
	broke := 0
	for _, row := range rows {
		if !r.holds(src, row, false) {
			continue
		}
		broke++
		if broke <= maxReported {
			why = append(why, strings.TrimPrefix(row.Label+": "+r.numbers(src, row, false), ": "))
		}
	}
	if broke > maxReported {
		why = append(why, fmt.Sprintf("and %d more rows", broke-maxReported))
	}
	return broke > 0, why
}

// usesRows tells whether a comparison reads a row's column.
func (r *Rule) usesRows() bool {
	for _, c := range r.conds {
		if c.col != "" {
			return true
		}
	}
	return false
}

// holds checks the comparisons of one side: the total() ones on a merged
// row (merged), else the others.
func (r *Rule) holds(src Source, row Row, merged bool) bool {
	for _, c := range r.conds {
		if c.total != merged {
			continue
		}
		v, ok := c.value(src, row)
		if !ok || !c.compare(v) {
			return false
		}
	}
	return true
}

func (c *cond) value(src Source, row Row) (Value, bool) {
	if c.col == "" {
		return src.Call(c.fn, c.arg)
	}
	v, ok := row.Values[c.col]
	return v, ok
}

// changed is v as c compares it: its change from BASE for a signed
// literal (false: the row is missing from a run), else v.
func (c *cond) changed(v Value) (Value, bool) {
	switch c.delta {
	case absChange:
		return Value{Num: v.Num - v.Base}, v.HasBase
	case relChange:
		d := v.Num - v.Base
		switch {
		case v.Base != 0:
			return Value{Num: d / math.Abs(v.Base)}, v.HasBase
		case d == 0:
			return Value{}, v.HasBase
		}
		return Value{Num: math.Copysign(math.Inf(1), d)}, v.HasBase
	}
	return v, true
}

func (c *cond) compare(v Value) bool {
	v, ok := c.changed(v)
	if !ok {
		return false
	}
	switch c.op {
	case "==":
		if c.kind == Text {
			return v.Str == c.lit.Str
		}
		return v.Num == c.lit.Num
	case "!=":
		if c.kind == Text {
			return v.Str != c.lit.Str
		}
		return v.Num != c.lit.Num
	case "=~":
		return c.re.MatchString(v.Str)
	case "!~":
		return !c.re.MatchString(v.Str)
	case ">":
		return v.Num > c.lit.Num
	case ">=":
		return v.Num >= c.lit.Num
	case "<":
		return v.Num < c.lit.Num
	case "<=":
		return v.Num <= c.lit.Num
	}
	return false
}

// numbers shows the measured values of the number comparisons of a side.
func (r *Rule) numbers(src Source, row Row, merged bool) string {
	var parts []string
	for _, c := range r.conds {
		if c.total != merged || c.kind == Text {
			continue
		}
		v, _ := c.value(src, row)
		parts = append(parts, c.describe(v))
	}
	return strings.Join(parts, ", ")
}

// describe is one comparison with its measured value(s).
func (c *cond) describe(v Value) string {
	if c.delta == noChange {
		return fmt.Sprintf("%s %s (%s %s)", c.left(), Format(c.kind, v), c.op, Format(c.kind, c.lit))
	}
	d, _ := c.changed(v)
	kind := c.kind
	if c.delta == relChange {
		kind = Ratio
	}
	return fmt.Sprintf("%s %s -> %s, %s (%s %s)", c.left(), Format(c.kind, Value{Num: v.Base}), Format(c.kind, v), signed(kind, d), c.op, signed(kind, c.lit))
}

// signed is a change with its sign.
func signed(kind Kind, v Value) string {
	if v.Num < 0 {
		return "-" + Format(kind, Value{Num: -v.Num})
	}
	return "+" + Format(kind, Value{Num: math.Abs(v.Num)}) // not -0
}

func (c *cond) left() string {
	switch {
	case c.fn == "total":
		return "total(" + c.col + ")"
	case c.fn != "":
		return fmt.Sprintf("%s(%q)", c.fn, c.arg)
	}
	return c.col
}

// Format shows a value of kind with its unit.
func Format(kind Kind, v Value) string {
	switch kind {
	case Duration:
		return time.Duration(v.Num).Round(time.Microsecond).String()
	case Ratio:
		return fmt.Sprintf("%.2f%%", 100*v.Num)
	case Bytes:
		for _, u := range []string{"GiB", "MiB", "KiB"} {
			if v.Num >= byteUnits[u] {
				return fmt.Sprintf("%.1f%s", v.Num/byteUnits[u], u)
			}
		}
		return fmt.Sprintf("%.0fB", v.Num)
	case Text:
		return v.Str
	}
	return fmt.Sprintf("%g", v.Num)
}

// Fired is the error of a run whose rules fired: the command exits with
// ExitCode 3 (1 stays "the tool failed").
type Fired struct{ Rules []string }

func (f *Fired) Error() string {
	if len(f.Rules) == 1 {
		return "--fail-if rule fired: " + f.Rules[0]
	}
	return fmt.Sprintf("%d --fail-if rules fired: %s", len(f.Rules), strings.Join(f.Rules, "; "))
}

// ExitCode is the status a fired gate exits with.
func (f *Fired) ExitCode() int { return ExitFired }

// ExitFired is the exit status of a run whose --fail-if rules fired.
const ExitFired = 3
