package gate

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// units of byte sizes, and their factors.
var byteUnits = map[string]float64{"B": 1, "KB": 1e3, "MB": 1e6, "GB": 1e9, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30}

// change is what a signed literal compares.
type change int

const (
	noChange  change = iota
	absChange        // NEW - BASE, in the column's unit
	relChange        // (NEW - BASE) / BASE
)

// literal reads the right side of a comparison with a column of kind; a
// signed number is a change (see the package comment).
func literal(t token, kind Kind) (Value, change, error) {
	sign := t.text[:min(1, len(t.text))]
	if t.kind != tNumber || sign != "+" && sign != "-" {
		v, err := plainLiteral(t, kind)
		return v, noChange, err
	}
	if kind == Text {
		return Value{}, noChange, fmt.Errorf("expected a \"string\", found %q", t.text)
	}
	t.text = t.text[1:]
	ch := absChange
	if _, unit := splitNumber(t.text); unit == "%" && kind != Ratio {
		ch, kind = relChange, Ratio
	}
	v, err := plainLiteral(t, kind)
	if sign == "-" {
		v.Num = -v.Num
	}
	return v, ch, err
}

// plainLiteral reads an unsigned literal for a column of kind.
func plainLiteral(t token, kind Kind) (Value, error) {
	switch {
	case t.kind == tEnd:
		return Value{}, errors.New("expected a value after the comparison")
	case kind == Text:
		switch t.kind {
		case tString:
			s, err := strconv.Unquote(t.text)
			if err != nil {
				return Value{}, fmt.Errorf("bad string %s: %w", t.text, err)
			}
			return Value{Str: s}, nil
		case tIdent, tNumber:
			return Value{Str: t.text}, nil
		}
		return Value{}, fmt.Errorf("expected a \"string\" or a word, found %q", t.text)
	case t.kind != tNumber:
		return Value{}, fmt.Errorf("expected %s, found %q", kindExample[kind], t.text)
	}
	num, unit := splitNumber(t.text)
	v, err := strconv.ParseFloat(num, 64)
	if err != nil || math.IsInf(v, 0) || math.IsNaN(v) {
		return Value{}, fmt.Errorf("%q is not a number", t.text)
	}
	switch kind {
	case Duration:
		d, err := time.ParseDuration(t.text)
		if err != nil || unit == "" {
			return Value{}, fmt.Errorf("%q is not a duration: use %s", t.text, kindExample[kind])
		}
		return Value{Num: float64(d)}, nil
	case Ratio:
		if unit != "%" {
			return Value{}, fmt.Errorf("%q is not a percentage: use %s", t.text, kindExample[kind])
		}
		return Value{Num: v / 100}, nil
	case Bytes:
		f, ok := byteUnits[cmpUnit(unit)]
		if unit == "" {
			f, ok = 1, true
		}
		if !ok {
			return Value{}, fmt.Errorf("%q is not a size: use %s", t.text, kindExample[kind])
		}
		return Value{Num: v * f}, nil
	}
	if unit != "" {
		return Value{}, fmt.Errorf("%q is not a plain number: use %s", t.text, kindExample[kind])
	}
	return Value{Num: v}, nil
}

var kindExample = map[Kind]string{
	Number: "a number such as 10", Duration: "a duration such as 250ms", Ratio: "a percentage such as 1%",
	Bytes: "a size such as 512MiB", Text: "a \"string\"",
}

func splitNumber(s string) (num, unit string) {
	i := strings.IndexFunc(s, func(r rune) bool { return !(r >= '0' && r <= '9' || r == '.') })
	if i < 0 {
		return s, ""
	}
	return s[:i], s[i:]
}

// cmpUnit accepts units in any case ("mib", "MB").
func cmpUnit(u string) string {
	for k := range byteUnits {
		if strings.EqualFold(k, u) {
			return k
		}
	}
	return u
}

func sorted(s []string) []string {
	slices.Sort(s)
	return s
}
