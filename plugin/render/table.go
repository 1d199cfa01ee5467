package render

import (
	"io"
	"strings"
	"unicode/utf8"
)

// Column is a table column; numbers are right-aligned.
type Column struct {
	Title string
	Right bool
}

// Cell is one table cell. Text is plain and sets the width; Painted, when
// set, is what is printed instead (Text with colour), so escape bytes never
// count as width.
type Cell struct {
	Text    string
	Painted string
}

// Plain is a cell without colour.
func Plain(s string) Cell { return Cell{Text: s} }

// Styled is a cell coloured by style (a Palette method), or plain.
func Styled(s string, style func(string) string) Cell {
	if style == nil {
		return Cell{Text: s}
	}
	return Cell{Text: s, Painted: style(s)}
}

// Table lays out aligned columns, padding each cell on its plain width
// before colour is applied. Gap is the space between columns (default 3,
// as kubectl's tables).
type Table struct {
	Columns []Column
	Rows    [][]Cell
	Gap     int
	// MaxWidth > 0 narrows column Shrink (cutting its cells with "…", down
	// to 12 columns) until lines fit, so a narrow terminal loses the end of
	// long paths rather than the numbers on the right.
	MaxWidth int
	Shrink   int
}

// Lines renders the header and rows, one string per line, without
// trailing spaces.
func (t *Table) Lines() []string {
	gap := t.Gap
	if gap <= 0 {
		gap = 3
	}
	widths := make([]int, len(t.Columns))
	for i, c := range t.Columns {
		widths[i] = utf8.RuneCountInString(c.Title)
	}
	for _, r := range t.Rows {
		for i := range min(len(r), len(widths)) {
			widths[i] = max(widths[i], utf8.RuneCountInString(r[i].Text))
		}
	}
	if t.MaxWidth > 0 && t.Shrink >= 0 && t.Shrink < len(widths) {
		total := gap * (len(widths) - 1)
		for _, w := range widths {
			total += w
		}
		if excess := total - t.MaxWidth; excess > 0 {
			floor := max(12, utf8.RuneCountInString(t.Columns[t.Shrink].Title))
			widths[t.Shrink] = max(floor, widths[t.Shrink]-excess)
		}
	}
	header := make([]Cell, len(t.Columns))
	for i, c := range t.Columns {
		header[i] = Plain(c.Title)
	}
	lines := make([]string, 0, len(t.Rows)+1)
	for _, r := range append([][]Cell{header}, t.Rows...) {
		var b strings.Builder
		for i := range t.Columns {
			var c Cell
			if i < len(r) {
				c = r[i]
			}
			if utf8.RuneCountInString(c.Text) > widths[i] {
				c = Cell{Text: TruncateLine(c.Text, widths[i]), Painted: TruncateLine(c.Painted, widths[i])}
			}
			shown := c.Text
			if c.Painted != "" {
				shown = c.Painted
			}
			pad := strings.Repeat(" ", widths[i]-utf8.RuneCountInString(c.Text))
			if i > 0 {
				b.WriteString(strings.Repeat(" ", gap))
			}
			if t.Columns[i].Right {
				b.WriteString(pad)
				b.WriteString(shown)
			} else {
				b.WriteString(shown)
				b.WriteString(pad)
			}
		}
		lines = append(lines, strings.TrimRight(b.String(), " "))
	}
	return lines
}

// Write writes Lines to w, each cut to width columns when width > 0.
func (t *Table) Write(w io.Writer, width int) error {
	return writeLines(w, t.Lines(), width)
}

func writeLines(w io.Writer, lines []string, width int) error {
	var b strings.Builder
	for _, l := range lines {
		b.WriteString(TruncateLine(l, width))
		b.WriteByte('\n')
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// TruncateLine cuts line to width visible columns (width <= 0: no cut),
// ending a cut line with "…". SGR colour sequences take no width, and a
// cut inside colour is closed with a reset. One rune counts as one column.
func TruncateLine(line string, width int) string {
	if width <= 0 || visibleWidth(line) <= width {
		return line
	}
	var b strings.Builder
	cols, coloured := 0, false
	for i := 0; i < len(line); {
		if n := sgrLen(line[i:]); n > 0 {
			seq := line[i : i+n]
			b.WriteString(seq)
			coloured = !isReset(seq)
			i += n
			continue
		}
		if cols == width-1 {
			break
		}
		_, size := utf8.DecodeRuneInString(line[i:])
		b.WriteString(line[i : i+size])
		cols++
		i += size
	}
	b.WriteString("…")
	if coloured {
		b.WriteString("\x1b[0m")
	}
	return b.String()
}

func visibleWidth(s string) int {
	n := 0
	for i := 0; i < len(s); {
		if l := sgrLen(s[i:]); l > 0 {
			i += l
			continue
		}
		_, size := utf8.DecodeRuneInString(s[i:])
		n++
		i += size
	}
	return n
}

// sgrLen is the length of an SGR sequence (ESC [ params m) at s's start,
// or 0. Only our own palette emits them: node strings are Sanitized.
func sgrLen(s string) int {
	if len(s) < 3 || s[0] != 0x1b || s[1] != '[' {
		return 0
	}
	for i := 2; i < len(s); i++ {
		c := s[i]
		switch {
		case c == 'm':
			return i + 1
		case c >= '0' && c <= '9' || c == ';':
		default:
			return 0
		}
	}
	return 0
}

// isReset: an SGR sequence that only turns attributes off (0, 22-29, 39, 49).
func isReset(seq string) bool {
	for p := range strings.SplitSeq(seq[2:len(seq)-1], ";") {
		switch p {
		case "", "0", "22", "23", "24", "25", "27", "28", "29", "39", "49":
		default:
			return false
		}
	}
	return true
}
