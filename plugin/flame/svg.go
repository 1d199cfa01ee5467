package flame

import (
	"bufio"
	"encoding/xml"
	"fmt"
	"hash/fnv"
	"io"
	"strings"
)

const (
	svgWidth   = 1200
	svgFrameH  = 16
	svgPadTop  = 50
	svgPadSide = 10
	svgMinPx   = 0.1 // narrower frames are left out, as flamegraph.pl does
)

func xmlEscape(s string) string {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}

func svgColor(module string, kernel bool) string {
	h := fnv.New32a()
	h.Write([]byte(module))
	v := h.Sum32()
	switch {
	case kernel:
		return fmt.Sprintf("rgb(%d,%d,%d)", 200+v%55, 80+v%60, 80+v%40)
	case module == "[jit]":
		return fmt.Sprintf("rgb(%d,%d,%d)", 220+v%35, 200+v%40, 60+v%40)
	case module == "[process]" || module == "":
		return "rgb(200,200,200)"
	}
	return fmt.Sprintf("rgb(%d,%d,%d)", 225+v%30, 90+(v>>8)%120, 40+(v>>16)%50)
}

// WriteSVG writes a self-contained interactive flame graph (root at the
// bottom): hover shows a frame's samples and share, click zooms into a
// frame, "Search" highlights matching frames and sums their share, "Reset
// zoom" goes back. No external scripts, fonts or styles.
func (p *Profile) WriteSVG(w io.Writer, title string) error {
	return writeSVG(w, p.tree(), title, svgLook{
		fill: func(n *node) string { return svgColor(n.module, n.kernel) },
		note: func(n *node) string { return moduleSuffix(n.module) },
	})
}

// svgLook is how frames look: their fill and what their tooltip adds.
type svgLook struct {
	fill func(*node) string
	note func(*node) string
}

func writeSVG(w io.Writer, root *node, title string, look svgLook) error {
	depth := 0
	var measure func(n *node, d int)
	measure = func(n *node, d int) {
		if d > depth {
			depth = d
		}
		for _, c := range n.order {
			if float64(c.total)/float64(max(root.total, 1))*(svgWidth-2*svgPadSide) >= svgMinPx {
				measure(c, d+1)
			}
		}
	}
	measure(root, 0)
	height := svgPadTop + (depth+1)*svgFrameH + 40
	bw := bufio.NewWriter(w)
	fmt.Fprintf(bw, `<?xml version="1.0" standalone="no"?>
<svg version="1.1" width="%d" height="%d" viewBox="0 0 %d %d" xmlns="http://www.w3.org/2000/svg" data-total="%d">
<style>
text { font-family: Verdana, sans-serif; font-size: 12px; fill: rgb(0,0,0); }
#title { font-size: 17px; text-anchor: middle; }
.f:hover rect { stroke: black; stroke-width: 0.5; cursor: pointer; }
.hidden { display: none; }
.btn { cursor: pointer; fill: rgb(60,60,160); }
</style>
<rect x="0" y="0" width="100%%" height="100%%" fill="rgb(248,248,240)"/>
<text id="title" x="%d" y="24">%s</text>
<text id="details" x="%d" y="%d"> </text>
<text id="search" class="btn" x="%d" y="24">Search</text>
<text id="unzoom" class="btn hidden" x="%d" y="24">Reset zoom</text>
<text id="matched" x="%d" y="%d"> </text>
<g id="frames">
`, svgWidth, height, svgWidth, height, root.total, svgWidth/2, xmlEscape(title),
		svgPadSide, height-12, svgWidth-svgPadSide-60, svgPadSide, svgWidth-svgPadSide-150, height-12)
	scale := float64(svgWidth-2*svgPadSide) / float64(max(root.total, 1))
	var draw func(n *node, d int, x uint64)
	draw = func(n *node, d int, x uint64) {
		wpx := float64(n.total) * scale
		if wpx < svgMinPx {
			return
		}
		y := height - 40 - (d+1)*svgFrameH
		name := n.name
		if d == 0 {
			name = "all"
		}
		share := pct(n.total, root.total)
		label := ""
		if chars := int((wpx - 6) / 7); chars >= 3 {
			label = truncate(name, chars)
		}
		fmt.Fprintf(bw, `<g class="f" data-x="%d" data-w="%d" data-d="%d"><title>%s (%d samples, %.2f%%)%s</title><rect x="%.2f" y="%d" width="%.2f" height="%d" fill="%s" rx="2"/><text x="%.2f" y="%d">%s</text></g>
`, x, n.total, d, xmlEscape(name), n.total, share, xmlEscape(look.note(n)),
			float64(svgPadSide)+float64(x)*scale, y, wpx, svgFrameH-1, look.fill(n),
			float64(svgPadSide)+float64(x)*scale+3, y+svgFrameH-4, xmlEscape(label))
		cx := x
		for _, c := range n.order {
			draw(c, d+1, cx)
			cx += c.total
		}
	}
	draw(root, 0, 0)
	fmt.Fprintf(bw, "</g>\n<script type=\"text/ecmascript\"><![CDATA[\n%s\n]]></script>\n</svg>\n", svgScript)
	return bw.Flush()
}

func moduleSuffix(m string) string {
	if m == "" || m == "[process]" {
		return ""
	}
	return " in " + m
}

// svgScript zooms by re-laying frames out from their sample offsets
// (data-x, data-w, data-d), so it needs no state beyond the DOM.
const svgScript = `
(function () {
  var svg = document.documentElement;
  var W = parseFloat(svg.getAttribute("width")), PAD = 10, total = parseFloat(svg.getAttribute("data-total"));
  var frames = Array.prototype.slice.call(document.querySelectorAll("g.f"));
  var details = document.getElementById("details"), unzoom = document.getElementById("unzoom");
  var matched = document.getElementById("matched");
  function name(g) { var t = g.querySelector("title").textContent; return t.substring(0, t.lastIndexOf(" (")); }
  function layout(x0, w0, d0) {
    var scale = (W - 2 * PAD) / w0;
    frames.forEach(function (g) {
      var x = +g.getAttribute("data-x"), w = +g.getAttribute("data-w"), d = +g.getAttribute("data-d");
      var inside = x >= x0 && x + w <= x0 + w0 && d >= d0;
      var ancestor = d < d0 && x <= x0 && x + w >= x0 + w0;
      if (!inside && !ancestor) { g.classList.add("hidden"); return; }
      g.classList.remove("hidden");
      var r = g.querySelector("rect"), t = g.querySelector("text");
      var px = ancestor ? PAD : PAD + (x - x0) * scale, pw = ancestor ? W - 2 * PAD : w * scale;
      r.setAttribute("x", px); r.setAttribute("width", pw);
      t.setAttribute("x", px + 3);
      var n = name(g), chars = Math.floor((pw - 6) / 7);
      t.textContent = chars < 3 ? "" : (n.length > chars ? n.substring(0, chars - 1) + "\u2026" : n);
      r.style.opacity = ancestor ? 0.5 : 1;
    });
  }
  frames.forEach(function (g) {
    g.addEventListener("mouseover", function () { details.textContent = g.querySelector("title").textContent; });
    g.addEventListener("mouseout", function () { details.textContent = " "; });
    g.addEventListener("click", function () {
      layout(+g.getAttribute("data-x"), +g.getAttribute("data-w"), +g.getAttribute("data-d"));
      unzoom.classList.remove("hidden");
    });
  });
  unzoom.addEventListener("click", function () { layout(0, total, 0); unzoom.classList.add("hidden"); });
  document.getElementById("search").addEventListener("click", function () {
    var term = prompt("Search frames (regular expression):", "");
    var re = null;
    try { re = term ? new RegExp(term) : null; } catch (e) { alert(e); return; }
    var sum = 0, spans = [];
    frames.forEach(function (g) {
      var r = g.querySelector("rect");
      if (!r.hasAttribute("data-fill")) r.setAttribute("data-fill", r.getAttribute("fill"));
      var hit = re && re.test(name(g));
      r.setAttribute("fill", hit ? "rgb(230,0,230)" : r.getAttribute("data-fill"));
      if (hit) {
        // Count a hit once even when nested in another hit (recursion).
        var x = +g.getAttribute("data-x"), w = +g.getAttribute("data-w");
        if (!spans.some(function (s) { return x >= s[0] && x + w <= s[0] + s[1]; })) { spans.push([x, w]); sum += w; }
      }
    });
    matched.textContent = re ? "Matched: " + (100 * sum / total).toFixed(1) + "%" : " ";
  });
})();
`
