package profileview

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/kubectl-pixie/kubectl-pixie/plugin/flame"
	"github.com/kubectl-pixie/kubectl-pixie/plugin/gate"
	"github.com/kubectl-pixie/kubectl-pixie/plugin/internal/golden"
	"github.com/kubectl-pixie/kubectl-pixie/plugin/render"
	"github.com/kubectl-pixie/kubectl-pixie/probes/api"
)

// profileOf is a finished 10s view of the stacks (folded stack -> samples).
func profileOf(t *testing.T, stacks map[string]uint64) *View {
	t.Helper()
	start := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	now := start
	v := New(&bytes.Buffer{}, Options{Output: OutTerminal, Hz: 100, Window: 10 * time.Second, Now: func() time.Time { return now }})
	for s, n := range stacks {
		b, err := json.Marshal(api.StackTrace{Header: api.Header{Table: api.TableStackTraces}, PID: 7, Comm: "web", Stack: s, Count: n})
		if err != nil {
			t.Fatal(err)
		}
		v.Line("", b)
	}
	now = start.Add(10 * time.Second)
	if err := v.Finish(&bytes.Buffer{}, nil); err != nil {
		t.Fatal(err)
	}
	return v
}

// The new hot function is marked; functions that moved within Poisson
// noise, or have few samples, are not; a real halving is.
func TestCompareProfiles(t *testing.T) {
	base := profileOf(t, map[string]uint64{
		"main.main;main.serve;main.parse": 400, "main.main;main.serve;main.encode": 300,
		"main.main;main.cache": 400, "main.main;main.tiny": 20,
	})
	next := profileOf(t, map[string]uint64{
		"main.main;main.serve;main.parse": 420, "main.main;main.serve;main.encode": 290,
		"main.main;main.serve;main.hot": 500, "main.main;main.cache": 200, "main.main;main.tiny": 60,
	})
	d := Compare(base, next, DefaultThresholds)
	d.Titles("base.pixie.gz", "new.pixie.gz")
	var marked []string
	for _, f := range d.Funcs {
		if f.Marked {
			marked = append(marked, f.Name)
		}
	}
	if strings.Join(marked, ",") != "main.hot,main.cache" {
		t.Errorf("marked %v, want main.hot (new) and main.cache (halved)", marked)
	}
	var term, js, svg bytes.Buffer
	if err := d.WriteTerminal(&term, render.NewPalette(false), flame.TermOptions{Width: 100}); err != nil {
		t.Fatal(err)
	}
	if err := d.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	if err := d.Diff.WriteSVG(&svg, "diff"); err != nil {
		t.Fatal(err)
	}
	golden.Check(t, "diff-terminal.txt", term.Bytes())
	golden.Check(t, "diff.ndjson", js.Bytes())
	// main.hot is new: deep red; main.cache lost half: blue.
	for _, want := range []string{`main.hot (500 samples, `, `+50.0% CPU from BASE`, `fill="rgb(255,80,80)"`, `main.cache (200 samples`, `fill="rgb(80,80,255)"`} {
		if !strings.Contains(svg.String(), want) {
			t.Errorf("svg lacks %q", want)
		}
	}
	r, err := gate.Parse(`cpu > +2% && marked == self`, DiffGateSchema)
	if err != nil {
		t.Fatal(err)
	}
	if fired, why := r.Check(d.GateSource()); !fired || len(why) != 1 || !strings.HasPrefix(why[0], "main.hot: cpu 0.00% -> 50.00%, +50.00%") {
		t.Errorf("gate: %v %q", fired, why)
	}
}
