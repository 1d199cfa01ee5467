package mapview

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"flag"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kubectl-pixie/kubectl-pixie/probes/api"
	"github.com/kubectl-pixie/kubectl-pixie/probes/api/stats"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// goldenEdges: a frontend calling an API that calls Redis and PostgreSQL
// (one with errors) and an external host named by a traced DNS answer,
// an untraced caller, a cycle, and names that need escaping in DOT and
// Mermaid.
func goldenEdges() []Edge {
	rows := []stats.Endpoint{
		row("frontend (pid 10)", "client", "127.0.0.1:8080", "", 400, 2, 3e6, 4e6, 31e6),
		row("api (pid 20)", "client", "127.0.0.1:6379", "redis", 900, 0, 2e5, 1.1e6),
		row("api (pid 20)", "client", "127.0.0.1:5432", "pgsql", 240, 3, 2.8e6, 44e6),
		row("postgres (pid 30)", "client", "127.0.0.1:8080", "", 5, 0, 1e6), // a cycle back to api
		row(`say "hi" | <tool> (pid 40)`, "client", "127.0.0.1:8080", "", 1, 0, 1e6),
		withDNS(row("api (pid 20)", "client", "198.51.100.7:443", "", 60, 1, 80e6, 95e6), "payments.example.com"),
	}
	ls := []api.ListeningPort{
		{Addr: "127.0.0.1", Port: 8080, PID: 20, Comm: "api"},
		{Addr: "0.0.0.0", Port: 6379, PID: 25, Comm: "redis-server"},
		{Addr: "::", Port: 5432, PID: 30, Comm: "postgres"},
	}
	return Edges(rows, ls)
}

func checkGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to write it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (go test -update rewrites it):\n--- got\n%s\n--- want\n%s", name, got, want)
	}
}

func TestGoldenTable(t *testing.T) {
	checkGolden(t, "map.txt", Table(goldenEdges(), 30*time.Second, nil, 0))
}

func TestGoldenDOT(t *testing.T) {
	var b bytes.Buffer
	if err := WriteDOT(&b, goldenEdges(), 30*time.Second); err != nil {
		t.Fatal(err)
	}
	checkGolden(t, "map.dot", b.Bytes())
}

func TestGoldenMermaid(t *testing.T) {
	var b bytes.Buffer
	if err := WriteMermaid(&b, goldenEdges(), 30*time.Second); err != nil {
		t.Fatal(err)
	}
	checkGolden(t, "map.mmd", b.Bytes())
}

func TestJSONRecord(t *testing.T) {
	e := goldenEdges()[0]
	r := NewRecord(e, 30*time.Second)
	if r.Table != "service_map" || r.RequestorService != "api (pid 20)" || r.ResponderService != "redis-server (pid 25)" ||
		r.Requests != 900 || r.RequestThroughput != 30 || r.OutboundThroughput != 300 || r.InboundThroughput != 3000 ||
		r.ResponderIP != "127.0.0.1" || r.LatencyP99 < r.LatencyP50 || r.LatencyP50 <= 0 {
		t.Errorf("record %+v", r)
	}
}

// TestSVG: Graphviz lays the map out; every node's label is a text element
// of the SVG. Without dot in PATH the error says what to install.
func TestSVG(t *testing.T) {
	if _, err := exec.LookPath("dot"); err != nil {
		if os.Getenv("PIXIE_REQUIRE_PRIVILEGED") == "1" {
			t.Fatal("graphviz is not installed (hack/deps.sh installs it)")
		}
		t.Skip("SKIP: graphviz is not installed (hack/deps.sh installs it)")
	}
	var b bytes.Buffer
	edges := goldenEdges()
	if err := WriteSVG(context.Background(), &b, edges, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	texts := map[string]bool{}
	dec := xml.NewDecoder(&b)
	inText := false
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("the SVG is not XML: %v", err)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			inText = tok.Name.Local == "text"
		case xml.EndElement:
			inText = false
		case xml.CharData:
			if inText {
				texts[string(tok)] = true
			}
		}
	}
	for _, n := range nodes(edges) {
		if !texts[n] {
			t.Errorf("node %q has no text in the SVG; texts: %v", n, texts)
		}
	}
}

func TestSVGWithoutGraphviz(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	err := WriteSVG(context.Background(), io.Discard, goldenEdges(), time.Second)
	if err == nil || !strings.Contains(err.Error(), "install graphviz") {
		t.Errorf("error %v, want one saying to install graphviz", err)
	}
}
