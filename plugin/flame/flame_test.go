package flame

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/google/pprof/profile"

	"github.com/kubectl-pixie/kubectl-pixie/probes/api"
)

func rec(node string, pid uint32, comm, stack string, n uint64) *api.StackTrace {
	r := &api.StackTrace{Header: api.Header{Table: api.TableStackTraces, Node: node}, PID: pid, Comm: comm, Stack: stack, Count: n}
	var mods, lines []string
	for range strings.Split(stack, ";") {
		mods, lines = append(mods, comm), append(lines, "main.go:7")
	}
	r.Modules, r.Lines = strings.Join(mods, ";"), strings.Join(lines, ";")
	return r
}

func sample() *Profile {
	p := New(99)
	// Deltas of two intervals for the same stacks must add up.
	p.AddRecord(rec("", 10, "web", "main.main;main.handle;crypto/sha256.block", 30))
	p.AddRecord(rec("", 10, "web", "main.main;main.handle;crypto/sha256.block", 10))
	p.AddRecord(rec("", 10, "web", "main.main;main.handle;encoding/json.Marshal", 20))
	p.AddRecord(rec("", 10, "web", "main.main;runtime.mallocgc", 15))
	p.AddRecord(rec("", 10, "web", "main.main;main.rec;main.rec", 5))
	return p
}

func TestMergeAndTop(t *testing.T) {
	p := sample()
	if p.Total() != 80 || p.Len() != 4 {
		t.Fatalf("total %d len %d, want 80 and 4", p.Total(), p.Len())
	}
	top := p.Top(3)
	if top[0].Name != "crypto/sha256.block" || top[0].Self != 40 || top[0].Total != 40 {
		t.Fatalf("top[0] = %+v", top[0])
	}
	var handle, rec Func
	for _, f := range p.Top(0) {
		switch f.Name {
		case "main.handle":
			handle = f
		case "main.rec":
			rec = f
		}
	}
	if handle.Self != 0 || handle.Total != 60 {
		t.Fatalf("main.handle = %+v, want self 0 total 60", handle)
	}
	if rec.Self != 5 || rec.Total != 5 { // recursion counts once
		t.Fatalf("main.rec = %+v, want self 5 total 5", rec)
	}
}

func TestMultiNodeMerge(t *testing.T) {
	a, b := New(99), New(99)
	a.AddRecord(rec("n1", 1, "web", "main.main;hot", 10))
	b.AddRecord(rec("n2", 1, "web", "main.main;hot", 5))
	b.AddRecord(rec("n2", 2, "db", "main;scan", 5))
	a.Merge(b)
	if a.Total() != 20 || len(a.Processes()) != 3 {
		t.Fatalf("total %d processes %v", a.Total(), a.Processes())
	}
	top := a.Top(0)
	if top[0].Name != "hot" || top[0].Self != 15 || top[0].Comm != "web" {
		t.Fatalf("top[0] = %+v, want hot 15 merged over nodes", top[0])
	}
}

func TestFoldedRoundTrip(t *testing.T) {
	p := sample()
	var a bytes.Buffer
	if err := p.WriteFolded(&a); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(a.String(), "web;main.main;main.handle;crypto/sha256.block 40\n") {
		t.Fatalf("folded:\n%s", a.String())
	}
	q, err := ParseFolded(bytes.NewReader(a.Bytes()), 99)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := q.WriteFolded(&b); err != nil {
		t.Fatal(err)
	}
	if a.String() != b.String() || q.Total() != p.Total() {
		t.Fatalf("round trip differs:\n%s\n---\n%s", a.String(), b.String())
	}
	if _, err := ParseFolded(strings.NewReader("a;b notanumber\n"), 99); err == nil {
		t.Fatal("bad count accepted")
	}
}

func TestPprof(t *testing.T) {
	p := sample()
	var buf bytes.Buffer
	if err := p.WritePprof(&buf); err != nil {
		t.Fatal(err)
	}
	q, err := profile.Parse(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if err := q.CheckValid(); err != nil {
		t.Fatal(err)
	}
	var n, cpu int64
	for _, s := range q.Sample {
		n += s.Value[0]
		cpu += s.Value[1]
	}
	if n != 80 || cpu != 80*(int64(1e9)/99) {
		t.Fatalf("samples %d cpu %d", n, cpu)
	}
	leaf := q.Sample[0].Location[0].Line[0]
	if leaf.Function.Name != "crypto/sha256.block" || leaf.Function.Filename != "main.go" || leaf.Line != 7 {
		t.Fatalf("leaf of largest sample = %+v %+v", leaf, leaf.Function)
	}
}

func TestSVG(t *testing.T) {
	p := sample()
	p.AddRecord(rec("", 11, "evil", "<script>alert(1)</script>;x&y", 3))
	var buf bytes.Buffer
	if err := p.WriteSVG(&buf, "cpu <test>"); err != nil {
		t.Fatal(err)
	}
	d := xml.NewDecoder(&buf)
	titles := 0
	found := false
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("svg is not XML: %v", err)
		}
		if cd, ok := tok.(xml.CharData); ok && strings.HasPrefix(string(cd), "crypto/sha256.block (40 samples") {
			found = true
		}
		if se, ok := tok.(xml.StartElement); ok && se.Name.Local == "title" {
			titles++
		}
	}
	if !found || titles < 6 {
		t.Fatalf("hot frame found=%v titles=%d", found, titles)
	}
}

func TestSpeedscope(t *testing.T) {
	p := sample()
	var buf bytes.Buffer
	if err := p.WriteSpeedscope(&buf, "test"); err != nil {
		t.Fatal(err)
	}
	var f speedscopeFile
	if err := json.Unmarshal(buf.Bytes(), &f); err != nil {
		t.Fatal(err)
	}
	if len(f.Profiles) != 1 || f.Profiles[0].EndValue != 80 || len(f.Profiles[0].Samples) != len(f.Profiles[0].Weights) {
		t.Fatalf("profiles %+v", f.Profiles)
	}
	s := f.Profiles[0].Samples[0]
	if f.Shared.Frames[s[0]].Name != "main.main" || f.Shared.Frames[s[len(s)-1]].Name != "crypto/sha256.block" {
		t.Fatalf("first sample is not root-first: %v", s)
	}
}

func TestTerminalFitsWidthAndReadsWithoutColour(t *testing.T) {
	p := sample()
	for _, width := range []int{40, 80, 160} {
		var buf bytes.Buffer
		if err := p.WriteTerminal(&buf, TermOptions{Width: width}); err != nil {
			t.Fatal(err)
		}
		out := buf.String()
		if strings.Contains(out, "\x1b[") {
			t.Fatal("escape sequences without colour")
		}
		for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
			if n := len([]rune(line)); n > width && !strings.HasPrefix(line, "(") {
				t.Fatalf("width %d: line of %d runes: %q", width, n, line)
			}
		}
		if (width >= 80 && !strings.Contains(out, "crypto/sha256.block")) || !strings.Contains(out, " 50%") {
			t.Fatalf("width %d:\n%s", width, out)
		}
	}
	var top bytes.Buffer
	if err := p.WriteTop(&top, 3, TermOptions{Width: 80}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(top.String(), "crypto/sha256.block") || !strings.Contains(top.String(), "50.0%") {
		t.Fatalf("top:\n%s", top.String())
	}
}

func TestTerminalEscapesNodeStrings(t *testing.T) {
	p := New(99)
	p.AddRecord(rec("", 1, "x", "evil\x1b[2Jname", 1))
	var buf bytes.Buffer
	_ = p.WriteTerminal(&buf, TermOptions{Width: 80})
	if strings.Contains(buf.String(), "\x1b") {
		t.Fatalf("control characters reached the terminal: %q", buf.String())
	}
}
