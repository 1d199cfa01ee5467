package mapview

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"html"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/kubectl-pixie/kubectl-pixie/probes/api/stats"
)

// measureScript reports, once the page has loaded, the window, the SVG
// element and the box of every label: node labels with their node's
// title, edge labels too, since a node label must not overlap them.
const measureScript = `<pre id="measure" style="display:none"></pre>
<script>
window.addEventListener("load", () => {
  const box = e => { const r = e.getBoundingClientRect(); return {x: r.left, y: r.top, w: r.width, h: r.height}; };
  const out = {viewport: {x: 0, y: 0, w: window.innerWidth, h: window.innerHeight}, svg: box(document.querySelector("svg")), labels: []};
  for (const g of document.querySelectorAll("g.node, g.edge")) {
    const node = g.classList.contains("node");
    for (const t of g.querySelectorAll("text")) {
      out.labels.push({node, title: g.querySelector("title").textContent, text: t.textContent, box: box(t)});
    }
  }
  document.getElementById("measure").textContent = JSON.stringify(out);
});
</script>`

type rect struct{ X, Y, W, H float64 }

func (r rect) inside(o rect) bool {
	const eps = 0.5 // sub-pixel rounding of the boxes
	return r.X >= o.X-eps && r.Y >= o.Y-eps && r.X+r.W <= o.X+o.W+eps && r.Y+r.H <= o.Y+o.H+eps
}

// overlaps: the boxes share an area (touching edges do not count).
func (r rect) overlaps(o rect) bool {
	const eps = 0.5
	return r.X+eps < o.X+o.W && o.X+eps < r.X+r.W && r.Y+eps < o.Y+o.H && o.Y+eps < r.Y+r.H
}

type measured struct {
	Viewport, SVG rect
	Labels        []label
}

// label is a <text> of a node (Node) or an edge, with its group's title.
type label struct {
	Node        bool
	Title, Text string
	Box         rect
}

// findChromium returns Debian's chromium, or fails under
// PIXIE_REQUIRE_PRIVILEGED=1 (CI installs it) and skips otherwise.
func findChromium(t *testing.T) string {
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("PIXIE_REQUIRE_PRIVILEGED") == "1" {
		t.Fatal("chromium is not installed (hack/deps.sh installs it)")
	}
	t.Skip("SKIP: chromium is not installed (hack/deps.sh installs it)")
	return ""
}

// artefactDir is where the page, the SVG and the screenshot are kept:
// $PIXIE_ARTEFACTS/mapview, else bench-results/mapview in the repository.
func artefactDir(t *testing.T) string {
	dir := filepath.Join("..", "..", "bench-results", "mapview")
	if d := os.Getenv("PIXIE_ARTEFACTS"); d != "" {
		dir = filepath.Join(d, "mapview")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		t.Fatal(err)
	}
	return abs
}

// TestSVGInBrowser: the map's SVG, opened in headless Chromium, shows
// every node's label with a box that is not empty, lies inside the SVG and
// the window, and overlaps no other label (node or edge). A screenshot of
// the page is kept as an artefact.
func TestSVGInBrowser(t *testing.T) {
	if _, err := exec.LookPath("dot"); err != nil {
		t.Skip("SKIP: graphviz is not installed (TestSVG says so under CI)")
	}
	chromium := findChromium(t)
	for name, edges := range map[string][]Edge{"golden": goldenEdges(), "shop": shopEdges()} {
		t.Run(name, func(t *testing.T) {
			var svg bytes.Buffer
			if err := WriteSVG(context.Background(), &svg, edges, 30*time.Second); err != nil {
				t.Fatal(err)
			}
			dir := artefactDir(t)
			page := writePage(t, dir, name, svg.Bytes())
			m := measure(t, chromium, page)
			for _, p := range labelProblems(m, nodes(edges)) {
				t.Error(p)
			}
			png := filepath.Join(dir, name+".png")
			browser(t, chromium, "--screenshot="+png, "file://"+page)
			if st, err := os.Stat(png); err != nil || st.Size() == 0 {
				t.Errorf("no screenshot at %s: %v", png, err)
			}
			t.Logf("screenshot of the %s map in Chromium: %s", name, png)
		})
	}
}

// writePage writes the SVG inline in an HTML page with measureScript.
func writePage(t *testing.T, dir, name string, svg []byte) string {
	i := bytes.Index(svg, []byte("<svg"))
	if i < 0 {
		t.Fatalf("no <svg> element in:\n%.300s", svg)
	}
	_ = os.WriteFile(filepath.Join(dir, name+".svg"), svg, 0o644)
	page := filepath.Join(dir, name+".html")
	doc := `<!doctype html><html><head><meta charset="utf-8"><style>body{margin:0}</style></head><body>` + "\n" +
		string(svg[i:]) + measureScript + "</body></html>\n"
	if err := os.WriteFile(page, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	return page
}

// window is the browser's size: larger than these maps, so that a label
// outside it is the layout's fault.
const window = "--window-size=1600,1000"

// browser runs headless Chromium on args and returns what it printed.
func browser(t *testing.T, chromium string, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	base := []string{"--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", window,
		"--user-data-dir=" + t.TempDir(), "--virtual-time-budget=10000"}
	cmd := exec.CommandContext(ctx, chromium, append(base, args...)...)
	var errOut bytes.Buffer
	cmd.Stderr = &errOut
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("chromium %q: %v\n%s", args, err, errOut.String())
	}
	return out
}

var measureRE = regexp.MustCompile(`(?s)<pre id="measure"[^>]*>(.*?)</pre>`)

// measure loads page and returns what measureScript wrote into it.
func measure(t *testing.T, chromium, page string) measured {
	t.Helper()
	dom := browser(t, chromium, "--dump-dom", "file://"+page)
	sub := measureRE.FindSubmatch(dom)
	if sub == nil || len(sub[1]) == 0 {
		t.Fatalf("the page did not measure its labels:\n%.2000s", dom)
	}
	var m measured
	if err := json.Unmarshal([]byte(html.UnescapeString(string(sub[1]))), &m); err != nil {
		t.Fatalf("measurements %s: %v", sub[1], err)
	}
	return m
}

// labelProblems lists what is wrong with the measured labels: a node
// without its label, a label box that is empty or outside the SVG or the
// window, a node label overlapping another label.
func labelProblems(m measured, want []string) []string {
	var out []string
	if !m.SVG.inside(m.Viewport) {
		out = append(out, fmt.Sprintf("the SVG %+v is not inside the window %+v", m.SVG, m.Viewport))
	}
	shown := map[string]bool{}
	for i, l := range m.Labels {
		if l.Box.W <= 0 || l.Box.H <= 0 || !l.Box.inside(m.SVG) || !l.Box.inside(m.Viewport) {
			out = append(out, fmt.Sprintf("label %q: box %+v empty or outside the SVG %+v or the window %+v", l.Text, l.Box, m.SVG, m.Viewport))
		}
		if l.Node && l.Text == l.Title {
			shown[l.Text] = true
		}
		for _, o := range m.Labels[i+1:] {
			if (l.Node || o.Node) && l.Box.overlaps(o.Box) {
				out = append(out, fmt.Sprintf("labels %q %+v and %q %+v overlap", l.Text, l.Box, o.Text, o.Box))
			}
		}
	}
	for _, n := range want {
		if !shown[n] {
			out = append(out, fmt.Sprintf("node %q has no label in the rendered page", n))
		}
	}
	return out
}

// TestLabelProblems: the checks of the rendered page catch each fault.
func TestLabelProblems(t *testing.T) {
	page := rect{0, 0, 800, 600}
	m := measured{Viewport: page, SVG: page, Labels: []label{
		{true, "a", "a", rect{10, 10, 50, 20}}, {false, "a->b", "a->b", rect{100, 10, 50, 15}}}}
	if p := labelProblems(m, []string{"a"}); len(p) != 0 {
		t.Errorf("a good page has problems: %q", p)
	}
	for name, c := range map[string]struct {
		m    func(*measured)
		says string
	}{
		"missing":     {func(*measured) {}, `node "b" has no label`},
		"overlap":     {func(m *measured) { m.Labels[1].Box.X = 40 }, "overlap"},
		"empty":       {func(m *measured) { m.Labels[0].Box.W = 0 }, "empty or outside"},
		"outside":     {func(m *measured) { m.Labels[0].Box.Y = 590 }, "empty or outside"},
		"svg too big": {func(m *measured) { m.SVG.W = 900 }, "not inside the window"},
	} {
		bad := m
		bad.Labels = append(bad.Labels[:0:0], m.Labels...)
		c.m(&bad)
		want := []string{"a"}
		if name == "missing" {
			want = append(want, "b")
		}
		if p := labelProblems(bad, want); !strings.Contains(strings.Join(p, "\n"), c.says) {
			t.Errorf("%s: problems %q, want one saying %q", name, p, c.says)
		}
	}
}

// shopEdges: a cluster's map, workloads fanning out to shared backends and
// to external addresses.
func shopEdges() []Edge {
	var rows []stats.Endpoint
	for i, fe := range []string{"shop/frontend", "shop/checkout", "shop/cart", "shop/search"} {
		rows = append(rows,
			row(fe, "client", "shop/api", "", 400, 2, 3e6, 9e6),
			row(fe, "client", "shop/redis", "redis", 900, 0, 2e5),
			row(fe, "client", fmt.Sprintf("203.0.113.%d:443", i+1), "", 20, 1, 40e6))
	}
	rows = append(rows,
		row("shop/api", "client", "shop/postgres", "pgsql", 240, 3, 2.8e6, 44e6),
		row("shop/api", "client", "kube-system/kube-dns", "dns", 60, 0, 1e6))
	return Edges(rows, nil)
}
