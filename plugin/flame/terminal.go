package flame

import (
	"bufio"
	"fmt"
	"hash/fnv"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/fatih/color"

	"github.com/kubectl-pixie/kubectl-pixie/plugin/render"
)

// TermOptions control the terminal renderers.
type TermOptions struct {
	Width int  // columns; <= 0 means 100
	Color bool // colour frames by module; the text reads the same without
	// MinPercent hides flame-graph frames below this share (default 1).
	MinPercent float64
	// MaxLines bounds the flame graph (default 60).
	MaxLines int
	// Escape cleans strings that came from a node before printing; nil
	// means render.Sanitize, the plugin's one sanitizer.
	Escape func(string) string
}

func (o *TermOptions) defaults() {
	if o.Width <= 0 {
		o.Width = 100
	}
	if o.MinPercent <= 0 {
		o.MinPercent = 1
	}
	if o.MaxLines <= 0 {
		o.MaxLines = 60
	}
}

func (o *TermOptions) clean(s string) string {
	if o.Escape != nil {
		return o.Escape(s)
	}
	return render.Sanitize(s)
}

// palette colours a frame by module (kernel frames always red-ish, JIT
// yellow), like the warm palettes of flamegraph.pl. Each colour is its own
// instance, enabled or disabled, never the fatih/color global.
type palette struct {
	on     bool
	kernel *color.Color
	jit    *color.Color
	cycle  []*color.Color
	dim    *color.Color
}

func newPalette(on bool) *palette {
	p := &palette{on: on,
		kernel: color.New(color.FgRed),
		jit:    color.New(color.FgYellow),
		dim:    color.New(color.Faint),
		cycle:  []*color.Color{color.New(color.FgCyan), color.New(color.FgGreen), color.New(color.FgMagenta), color.New(color.FgBlue), color.New(color.FgHiCyan), color.New(color.FgHiGreen)},
	}
	for _, c := range append([]*color.Color{p.kernel, p.jit, p.dim}, p.cycle...) {
		if on {
			c.EnableColor()
		} else {
			c.DisableColor()
		}
	}
	return p
}

func (p *palette) forFrame(module string, kernel bool) *color.Color {
	switch {
	case kernel:
		return p.kernel
	case module == "[jit]":
		return p.jit
	}
	h := fnv.New32a()
	h.Write([]byte(module))
	return p.cycle[h.Sum32()%uint32(len(p.cycle))]
}

// bar draws frac of width cells with eighth blocks.
func bar(frac float64, width int) string {
	if width <= 0 || frac <= 0 {
		return ""
	}
	eighths := int(frac*float64(width)*8 + 0.5)
	if eighths == 0 {
		eighths = 1 // visible, the percentage says how small
	}
	full := eighths / 8
	out := strings.Repeat("█", full)
	if r := eighths % 8; r > 0 {
		out += string([]rune("▏▎▍▌▋▊▉")[r-1])
	}
	return out
}

func truncate(s string, n int) string {
	if n <= 1 {
		return ""
	}
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

func pct(n, total uint64) float64 {
	if total == 0 {
		return 0
	}
	return 100 * float64(n) / float64(total)
}

// WriteTop writes the top-functions table (self and total %, per process
// name when there are several), n rows.
func (p *Profile) WriteTop(w io.Writer, n int, o TermOptions) error {
	o.defaults()
	pal := newPalette(o.Color)
	rows := p.Top(n)
	perComm := len(rows) > 0 && rows[0].Comm != ""
	bw := bufio.NewWriter(w)
	// Fixed columns: SELF TOTAL (7 each), MODULE (up to 20), PROCESS (16).
	modW := 20
	fixed := 2*8 + modW + 2
	if perComm {
		fixed += 17
	}
	nameW := o.Width - fixed
	if nameW < 20 {
		nameW = 20
	}
	fmt.Fprintf(bw, "%-*s %7s %7s  %-*s", nameW, "TOP (self)", "SELF", "TOTAL", modW, "MODULE")
	if perComm {
		fmt.Fprintf(bw, " %-16s", "PROCESS")
	}
	fmt.Fprintln(bw)
	for _, r := range rows {
		name := fmt.Sprintf("%-*s", nameW, truncate(o.clean(r.Name), nameW))
		fmt.Fprintf(bw, "%s %6.1f%% %6.1f%%  %-*s", pal.forFrame(r.Module, strings.HasSuffix(r.Name, "_[k]")).Sprint(name),
			pct(r.Self, p.total), pct(r.Total, p.total), modW, truncate(o.clean(r.Module), modW))
		if perComm {
			fmt.Fprintf(bw, " %-16s", truncate(o.clean(r.Comm), 16))
		}
		fmt.Fprintln(bw)
	}
	return bw.Flush()
}

// WriteTerminal draws the flame graph as an indented tree, one frame per
// line with a bar and its total share, children largest first, frames
// under MinPercent hidden. It fits Width columns.
func (p *Profile) WriteTerminal(w io.Writer, o TermOptions) error {
	pal := newPalette(o.Color)
	return writeTree(w, p.tree(), o, termLook{
		color: func(n *node) *color.Color { return pal.forFrame(n.module, n.kernel) },
		dim:   pal.dim,
		note:  func(*node) string { return "" },
	})
}

// termLook is how the lines of a terminal flame graph look: the colour of
// a frame's bar and what follows its share.
type termLook struct {
	color func(*node) *color.Color
	dim   *color.Color
	note  func(*node) string
}

func writeTree(w io.Writer, root *node, o TermOptions, look termLook) error {
	o.defaults()
	bw := bufio.NewWriter(w)
	if root.total == 0 {
		fmt.Fprintln(bw, "no samples: was the target busy on CPU? (idle processes are not sampled)")
		return bw.Flush()
	}
	type line struct {
		label string
		share float64
		frac  float64
		c     *color.Color
		note  string
	}
	var lines []line
	hidden := 0
	maxIndent := o.Width / 4
	labelMax := o.Width / 2
	var walk func(n *node, depth int)
	walk = func(n *node, depth int) {
		share := pct(n.total, root.total)
		if share < o.MinPercent || len(lines) >= o.MaxLines {
			hidden++
			return
		}
		indent := min(depth, maxIndent)
		// A chain of frames that only call each other (same samples, no
		// self time) takes one line: "a › b › c" or "a › …N… › z", so
		// the lines left show where the time splits.
		chain := []*node{n}
		for depth > 0 && n.self == 0 && len(n.order) == 1 && n.order[0].total == n.total {
			n = n.order[0]
			chain = append(chain, n)
		}
		label := chainLabel(chain, o.clean, labelMax-indent)
		if depth > maxIndent {
			label = truncate(fmt.Sprintf("+%d ", depth-maxIndent)+label, labelMax-indent)
		}
		label = strings.Repeat(" ", indent) + label
		c := look.color(n)
		if depth == 0 || n.module == "[process]" {
			c = look.dim
		}
		lines = append(lines, line{label, share, float64(n.total) / float64(root.total), c, look.note(n)})
		for _, ch := range n.order {
			walk(ch, depth+1)
		}
	}
	walk(root, 0)
	// Bars start in one column so their lengths compare.
	labelW := 0
	for _, l := range lines {
		labelW = max(labelW, utf8.RuneCountInString(l.label))
	}
	noteW := 0
	for _, l := range lines {
		noteW = max(noteW, utf8.RuneCountInString(l.note))
	}
	barW := o.Width - labelW - 1 - len(" 100%") - noteW
	for _, l := range lines {
		pctText := fmt.Sprintf("%.0f%%", l.share)
		if l.share < 10 && l.share != float64(int(l.share)) {
			pctText = fmt.Sprintf("%.1f%%", l.share)
		}
		if l.note != "" {
			pctText = fmt.Sprintf("%-4s", pctText) // notes in one column
		}
		b := bar(l.frac, barW)
		pad := labelW - utf8.RuneCountInString(l.label)
		fmt.Fprintf(bw, "%s%s %s %s%s\n", l.label, strings.Repeat(" ", pad), l.c.Sprint(b), pctText, l.note)
	}
	if hidden > 0 {
		fmt.Fprintf(bw, "(%d smaller frames hidden; -o svg or -o pprof shows them all)\n", hidden)
	}
	return bw.Flush()
}

// chainLabel names a chain of frames within width runes: all of them when
// they fit, else the first and the last (the frame that does the work)
// around a count of the ones left out.
func chainLabel(chain []*node, clean func(string) string, width int) string {
	names := make([]string, len(chain))
	for i, n := range chain {
		names[i] = clean(n.name)
	}
	full := strings.Join(names, " › ")
	if len(chain) == 1 || utf8.RuneCountInString(full) <= width {
		return truncate(full, width)
	}
	last := names[len(names)-1]
	mid := fmt.Sprintf(" › …%d… › ", len(chain)-2)
	if len(chain) == 2 {
		mid = " › "
	}
	room := width - utf8.RuneCountInString(mid) - utf8.RuneCountInString(last)
	if room < 8 {
		return truncate("… "+last, width)
	}
	return truncate(names[0], room) + mid + last
}
