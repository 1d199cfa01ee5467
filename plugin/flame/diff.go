package flame

import (
	"fmt"
	"io"
	"math"
	"sort"

	"github.com/fatih/color"
)

// Diff compares two profiles by CPU time: the graphs have NEW's shape and
// colour each frame by how its CPU time changed from BASE (red: more,
// blue: less), as differential flame graphs do. BASE's samples are scaled
// to NEW's window when both windows are known, so runs of different
// lengths compare; without windows the sample counts compare as they are.
type Diff struct {
	Base, New *Profile
	scale     float64 // BASE samples -> NEW's window
}

// NewDiff compares base with next.
func NewDiff(base, next *Profile) *Diff {
	d := &Diff{Base: base, New: next, scale: 1}
	if base.DurationNs > 0 && next.DurationNs > 0 {
		d.scale = float64(next.DurationNs) / float64(base.DurationNs)
	}
	return d
}

// CPU is count samples of p as a fraction of one CPU over p's window (0
// when the window is unknown).
func CPU(p *Profile, count uint64) float64 {
	if p.DurationNs <= 0 || p.Hz <= 0 {
		return 0
	}
	return float64(count) / float64(p.Hz) / (float64(p.DurationNs) / 1e9)
}

// FuncDiff is one function's self samples in both runs.
type FuncDiff struct {
	Name, Module, Comm string
	Base, New          uint64
}

// Funcs are the functions of either run, the largest change first.
func (d *Diff) Funcs() []FuncDiff {
	type key struct{ name, module, comm string }
	m := map[key]*FuncDiff{}
	for i, p := range []*Profile{d.Base, d.New} {
		for _, f := range p.Top(0) {
			k := key{f.Name, f.Module, f.Comm}
			e := m[k]
			if e == nil {
				e = &FuncDiff{Name: f.Name, Module: f.Module, Comm: f.Comm}
				m[k] = e
			}
			if i == 0 {
				e.Base = f.Self
			} else {
				e.New = f.Self
			}
		}
	}
	out := make([]FuncDiff, 0, len(m))
	for _, e := range m {
		out = append(out, *e)
	}
	change := func(f FuncDiff) float64 { return math.Abs(float64(f.New) - d.scale*float64(f.Base)) }
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if ca, cb := change(a), change(b); ca != cb {
			return ca > cb
		}
		if a.Comm != b.Comm {
			return a.Comm < b.Comm
		}
		return a.Name < b.Name
	})
	return out
}

// trees returns NEW's call tree and, for each of its frames, BASE's
// samples of the same path scaled to NEW's window.
func (d *Diff) trees() (*node, map[*node]float64) {
	root := d.New.tree()
	// One process name in one run and several in the other would put the
	// process level in one tree only: build both with the same levels.
	perComm := d.New.comms() > 1 || d.Base.comms() > 1
	base := d.Base.treeWith(perComm)
	if perComm != (d.New.comms() > 1) {
		root = d.New.treeWith(perComm)
	}
	was := map[*node]float64{}
	var walk func(n, b *node)
	walk = func(n, b *node) {
		if b == nil {
			return
		}
		was[n] = d.scale * float64(b.total)
		for k, c := range n.children {
			walk(c, b.children[k])
		}
	}
	walk(root, base)
	return root, was
}

// change is a frame's CPU change as a fraction of one CPU (or of NEW's
// samples when the window is unknown).
func (d *Diff) change(n *node, was float64) float64 {
	delta := float64(n.total) - was
	if c := CPU(d.New, 1); c > 0 {
		return delta * c
	}
	return delta / float64(max(d.New.total, 1))
}

// WriteTerminal draws NEW's flame graph with each frame's change after
// its share ("+41.0% CPU": of one CPU), bars red when the frame grew by
// more than a twentieth of its BASE time, blue when it shrank as much.
func (d *Diff) WriteTerminal(w io.Writer, o TermOptions) error {
	pal := newPalette(o.Color)
	more, less, same := color.New(color.FgRed), color.New(color.FgBlue), color.New(color.Reset)
	for _, c := range []*color.Color{more, less, same} {
		if o.Color {
			c.EnableColor()
		} else {
			c.DisableColor()
		}
	}
	root, was := d.trees()
	return writeTree(w, root, o, termLook{
		color: func(n *node) *color.Color {
			switch delta := float64(n.total) - was[n]; {
			case delta > 0.05*was[n]:
				return more
			case -delta > 0.05*was[n]:
				return less
			}
			return same
		},
		dim:  pal.dim,
		note: func(n *node) string { return fmt.Sprintf("  %+.1f%% CPU", 100*d.change(n, was[n])) },
	})
}

// WriteSVG writes NEW's interactive flame graph coloured by change: the
// deeper the red, the more CPU the frame gained; blue, lost; white,
// unchanged. Tooltips say the change.
func (d *Diff) WriteSVG(w io.Writer, title string) error {
	root, was := d.trees()
	return writeSVG(w, root, title, svgLook{
		fill: func(n *node) string {
			delta := float64(n.total) - was[n]
			// Saturates at a change of half the frame's NEW time.
			t := min(math.Abs(delta)/max(float64(n.total), 1)/0.5, 1)
			fade := 255 - int(t*175)
			if delta > 0 {
				return fmt.Sprintf("rgb(255,%d,%d)", fade, fade)
			}
			return fmt.Sprintf("rgb(%d,%d,255)", fade, fade)
		},
		note: func(n *node) string {
			return fmt.Sprintf("%s, %+.1f%% CPU from BASE", moduleSuffix(n.module), 100*d.change(n, was[n]))
		},
	})
}
