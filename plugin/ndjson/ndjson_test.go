package ndjson

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
)

func TestReadLines(t *testing.T) {
	long := strings.Repeat("x", 200<<10) // longer than the bufio buffer
	r := NewReaderSize(strings.NewReader("a\n"+long+"\nlast"), 1<<20)
	for _, want := range []string{"a\n", long + "\n"} {
		got, err := r.ReadLine()
		if err != nil || string(got) != want {
			t.Fatalf("got %d bytes, %v; want %d bytes", len(got), err, len(want))
		}
	}
	got, err := r.ReadLine()
	if string(got) != "last" || !errors.Is(err, io.EOF) {
		t.Fatalf("last line %q, %v", got, err)
	}
}

// A line over the bound is an error, not an endless buffer.
func TestReadLineTooLong(t *testing.T) {
	r := NewReaderSize(io.MultiReader(strings.NewReader("{}\n"), bytes.NewReader(bytes.Repeat([]byte("y"), 3<<20))), 1<<20)
	if _, err := r.ReadLine(); err != nil {
		t.Fatal(err)
	}
	_, err := r.ReadLine()
	var tl *TooLongError
	if !errors.As(err, &tl) || !strings.Contains(err.Error(), "longer than 1 MiB") {
		t.Fatalf("err %v, want a TooLongError", err)
	}
}
