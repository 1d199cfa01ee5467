package recording

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// fakeClock moves by a step per reading, so that offsets are known.
type fakeClock struct {
	t    time.Time
	step time.Duration
}

func (c *fakeClock) now() time.Time { c.t = c.t.Add(c.step); return c.t }

func write(t *testing.T, recs [][2]string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "run.pixie.gz")
	c := &fakeClock{t: time.Unix(1000, 0), step: 100 * time.Millisecond}
	w, err := Create(path, Header{Command: "trace", WindowNs: int64(time.Second)}, c.now)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		w.Record(r[0], []byte(r[1]+"\n"))
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

func readAll(t *testing.T, b []byte) (Header, []Record, time.Duration, error) {
	t.Helper()
	rd, err := NewReader(bytes.NewReader(b))
	if err != nil {
		return Header{}, nil, 0, err
	}
	var out []Record
	for {
		r, err := rd.Next()
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = nil
			}
			return rd.Header, out, rd.End(), err
		}
		r.Line = append([]byte(nil), r.Line...)
		out = append(out, r)
	}
}

func TestRoundTrip(t *testing.T) {
	recs := [][2]string{{"", `{"table":"probe_ready"}`}, {"node-a", `{"table":"http_stats","n":1}`}, {"n\t\"b", `{"x":"tab\tinside"}`}}
	b, _ := os.ReadFile(write(t, recs))
	h, got, end, err := readAll(t, b)
	if err != nil {
		t.Fatal(err)
	}
	if h.Schema != Schema || h.Command != "trace" || h.WindowNs != int64(time.Second) || !h.Started.Equal(time.Unix(1000, 0).Add(100*time.Millisecond)) {
		t.Errorf("header %+v", h)
	}
	if len(got) != len(recs) {
		t.Fatalf("%d records, want %d", len(got), len(recs))
	}
	for i, r := range recs {
		want := time.Duration(i+1) * 100 * time.Millisecond
		if got[i].Node != r[0] || string(got[i].Line) != r[1] || got[i].At != want {
			t.Errorf("record %d: %q %q at %s, want %q %q at %s", i, got[i].Node, got[i].Line, got[i].At, r[0], r[1], want)
		}
	}
	if end != 400*time.Millisecond {
		t.Errorf("end %s, want 400ms", end)
	}
}

// A cut file replays what it holds, then says it ends early.
func TestTruncated(t *testing.T) {
	var recs [][2]string
	for range 2000 {
		recs = append(recs, [2]string{"n", `{"table":"http_stats","endpoint":"GET /some/longer/path/to/compress"}`})
	}
	path := filepath.Join(t.TempDir(), "run.pixie.gz")
	c := &fakeClock{t: time.Unix(1000, 0), step: time.Millisecond}
	w, err := Create(path, Header{Command: "trace"}, c.now)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range recs {
		w.Record(r[0], []byte(r[1]))
		if i == 999 { // a run killed here: the last flush holds record 1000
			c.t = c.t.Add(FlushEvery)
			w.Record(r[0], []byte(r[1]))
			break
		}
	}
	b, _ := os.ReadFile(path) // not closed: what a killed run leaves
	_, got, _, err := readAll(t, b)
	var te *TruncatedError
	if !errors.As(err, &te) || !strings.Contains(err.Error(), "ends early") {
		t.Fatalf("error %v, want a TruncatedError", err)
	}
	if len(got) != 1001 {
		t.Errorf("%d records before the cut, want 1001", len(got))
	}
	_, got2, _, err := readAll(t, b[:len(b)/2])
	if !errors.As(err, &te) || len(got2) == 0 || len(got2) >= len(got) {
		t.Errorf("half the file: %d records, error %v", len(got2), err)
	}
	_ = w.Close()
}

func TestRefused(t *testing.T) {
	gz := func(s string) []byte {
		var b bytes.Buffer
		z := gzip.NewWriter(&b)
		_, _ = z.Write([]byte(s))
		_ = z.Close()
		return b.Bytes()
	}
	for _, c := range []struct {
		name string
		file []byte
		says string
	}{
		{"plain text", []byte("hello\n"), "not gzip"},
		{"other schema", gz(`{"pixie_recording":2,"command":"trace"}` + "\n"), "schema version 2"},
		{"json", gz(`{"table":"http_stats"}` + "\n"), "bad header"},
		{"empty", gz(""), "no header"},
	} {
		_, err := NewReader(bytes.NewReader(c.file))
		if err == nil || !strings.Contains(err.Error(), c.says) {
			t.Errorf("%s: error %v, want one saying %q", c.name, err, c.says)
		}
	}
}

func TestReplayClock(t *testing.T) {
	b, _ := os.ReadFile(write(t, [][2]string{{"a", `{"r":1}`}, {"b", `{"r":2}`}}))
	rd, err := NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	clock, src := rd.Replay(func(err error) { t.Errorf("warning %v", err) })
	start := rd.Header.Started
	var at []time.Duration
	err = src(context.Background(), func(node string, line []byte) { at = append(at, clock.Now().Sub(start)) })
	if err != nil || len(at) != 2 || at[0] != 100*time.Millisecond || at[1] != 200*time.Millisecond {
		t.Errorf("records at %v (err %v), want [100ms 200ms]", at, err)
	}
	if end := clock.Now().Sub(start); end != 300*time.Millisecond {
		t.Errorf("clock at the end %s, want 300ms", end)
	}
}

// FuzzRecording: any file is refused or read to an end without a panic
// and without unbounded memory.
func FuzzRecording(f *testing.F) {
	for _, s := range []string{
		`{"pixie_recording":1,"command":"trace"}` + "\nr\t1\t\"n\"\t{}\ne\t2\n",
		`{"pixie_recording":1}` + "\nr\t-1\t\"n\"\t{}\n",
		`{"pixie_recording":1}` + "\nr\t1\tn\t{}\nx\n",
		`{"pixie_recording":1}` + "\ne\tz\n",
	} {
		var b bytes.Buffer
		z := gzip.NewWriter(&b)
		_, _ = z.Write([]byte(s))
		_ = z.Close()
		f.Add(b.Bytes())
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		rd, err := NewReader(bytes.NewReader(b))
		if err != nil {
			return
		}
		for range 1 << 16 {
			r, err := rd.Next()
			if err != nil {
				return
			}
			if r.At < 0 {
				t.Fatalf("negative offset %s", r.At)
			}
		}
	})
}
