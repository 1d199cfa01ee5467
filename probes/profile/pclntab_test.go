//go:build linux

package profile

import (
	"debug/elf"
	"debug/gosym"
	"os"
	"testing"
)

// The in-place pclntab reader agrees with debug/gosym on every function of
// this test binary (entry, middle and last byte): name, file and line.
func TestPclntabMatchesGosym(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	f, err := elf.Open(exe)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	data, err := f.Section(".gopclntab").Data()
	if err != nil {
		t.Fatal(err)
	}
	text := f.Section(".text").Addr
	ref, err := gosym.NewTable(nil, gosym.NewLineTable(data, text))
	if err != nil {
		t.Fatal(err)
	}
	tab, err := newPclntab(data, text)
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, fn := range ref.Funcs {
		for _, pc := range []uint64{fn.Entry, (fn.Entry + fn.End) / 2, fn.End - 1} {
			wantFile, wantLine, wantFn := ref.PCToLine(pc)
			if wantLine < 0 { // padding after the code: no line, reported as 0
				wantLine = 0
			}
			name, file, line, ok := tab.lookup(pc)
			if !ok || wantFn == nil || name != wantFn.Name || file != wantFile || line != wantLine {
				t.Fatalf("pc %#x: got %q %s:%d ok=%v, gosym %v %s:%d", pc, name, file, line, ok, wantFn, wantFile, wantLine)
			}
			checked++
		}
	}
	if checked < 1000 {
		t.Fatalf("only %d PCs checked", checked)
	}
	if _, _, _, ok := tab.lookup(text - 1); ok {
		t.Fatal("pc before .text matched")
	}
	if _, err := newPclntab([]byte("not a pclntab at all"), 0); err == nil {
		t.Fatal("garbage accepted")
	}
}
