package render

import (
	"fmt"
	"io"

	"github.com/fatih/color"
	"k8s.io/cli-runtime/pkg/printers"
)

// ColorMode is the --color policy.
type ColorMode string

// Colour policies.
const (
	ColorAuto   ColorMode = "auto"   // colour iff the writer allows it (TTY, no NO_COLOR, TERM!=dumb)
	ColorAlways ColorMode = "always" // even into a pipe
	ColorNever  ColorMode = "never"
)

// ParseColorMode parses a --color value; "" means auto.
func ParseColorMode(s string) (ColorMode, error) {
	switch ColorMode(s) {
	case "", ColorAuto:
		return ColorAuto, nil
	case ColorAlways, ColorNever:
		return ColorMode(s), nil
	}
	return "", fmt.Errorf("invalid --color %q: use auto, always or never", s)
}

// String, Set and Type make *ColorMode a pflag.Value:
// cmd.Flags().Var(&o.Color, "color", "...").
func (m *ColorMode) String() string {
	if *m == "" {
		return string(ColorAuto)
	}
	return string(*m)
}

// Set parses and stores a --color value.
func (m *ColorMode) Set(s string) error {
	v, err := ParseColorMode(s)
	if err != nil {
		return err
	}
	*m = v
	return nil
}

// Type names the flag's value in help.
func (m *ColorMode) Type() string { return "auto|always|never" }

// Enabled decides colour for one writer: evaluate it separately for Out
// and ErrOut.
func (m ColorMode) Enabled(w io.Writer) bool {
	switch m {
	case ColorAlways:
		return true
	case ColorNever:
		return false
	}
	return printers.AllowsColorOutput(w)
}

// Palette holds the few colours the renderers use, each its own instance
// so colour is decided per writer and never through color.NoColor. A nil
// *Palette renders plain text.
type Palette struct {
	enabled bool
	bold    *color.Color
	dim     *color.Color
	red     *color.Color
	yellow  *color.Color
	green   *color.Color
}

// NewPalette returns a palette that colours iff enabled.
func NewPalette(enabled bool) *Palette {
	p := &Palette{
		enabled: enabled,
		bold:    color.New(color.Bold),
		dim:     color.New(color.Faint),
		red:     color.New(color.FgRed),
		yellow:  color.New(color.FgYellow),
		green:   color.New(color.FgGreen),
	}
	for _, c := range []*color.Color{p.bold, p.dim, p.red, p.yellow, p.green} {
		if enabled {
			c.EnableColor()
		} else {
			c.DisableColor()
		}
	}
	return p
}

// PaletteFor applies the policy to one writer.
func PaletteFor(w io.Writer, mode ColorMode) *Palette { return NewPalette(mode.Enabled(w)) }

// Enabled reports whether the palette colours.
func (p *Palette) Enabled() bool { return p != nil && p.enabled }

func (p *Palette) paint(c func(*Palette) *color.Color, s string) string {
	if !p.Enabled() || s == "" {
		return s
	}
	return c(p).Sprint(s)
}

// Bold is for titles.
func (p *Palette) Bold(s string) string {
	return p.paint(func(p *Palette) *color.Color { return p.bold }, s)
}

// Dim is for secondary text.
func (p *Palette) Dim(s string) string {
	return p.paint(func(p *Palette) *color.Color { return p.dim }, s)
}

// Error is for failures: 5xx, errors, lost data that matters.
func (p *Palette) Error(s string) string {
	return p.paint(func(p *Palette) *color.Color { return p.red }, s)
}

// Warn is for things worth a look: slow, some loss.
func (p *Palette) Warn(s string) string {
	return p.paint(func(p *Palette) *color.Color { return p.yellow }, s)
}

// OK is for good news.
func (p *Palette) OK(s string) string {
	return p.paint(func(p *Palette) *color.Color { return p.green }, s)
}
