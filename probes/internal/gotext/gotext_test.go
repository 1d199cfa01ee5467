package gotext

import (
	"debug/elf"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestStartIsRuntimeText: Start equals the runtime.text symbol in Go's own
// layout and in an external (cgo) link, where .text starts earlier, as an
// executable and as a PIE, with symbols and stripped (the stripped build
// is compared with the same build keeping its symbols).
func TestStartIsRuntimeText(t *testing.T) {
	if _, err := exec.LookPath("gcc"); err != nil {
		t.Skip("SKIP: no gcc: the cgo builds need it")
	}
	dir := t.TempDir()
	src := filepath.Join(dir, "main.go")
	plain := "package main\n\nfunc main() { println(2) }\n"
	cgo := "package main\n\n// int two(void) { return 2; }\nimport \"C\"\n\nfunc main() { println(C.two()) }\n"
	for _, c := range []struct {
		name, cgo, prog string
		args            []string
	}{
		{"internal", "0", plain, nil},
		{"cgo", "1", cgo, nil},
		{"cgo-pie", "1", cgo, []string{"-buildmode=pie"}},
	} {
		if err := os.WriteFile(src, []byte(c.prog), 0o644); err != nil {
			t.Fatal(err)
		}
		full, stripped := build(t, dir, src, c.cgo, c.args, ""), build(t, dir, src, c.cgo, c.args, "-s")
		want := runtimeText(t, full)
		for _, bin := range []string{full, stripped} {
			f, err := elf.Open(bin)
			if err != nil {
				t.Fatal(err)
			}
			if got := Start(f); got != want {
				t.Errorf("%s (%s): Start %#x, runtime.text %#x (.text at %#x)", c.name, filepath.Base(bin), got, want, f.Section(".text").Addr)
			}
			f.Close()
		}
	}
}

func build(t *testing.T, dir, src, cgo string, args []string, ldflags string) string {
	t.Helper()
	out := filepath.Join(dir, fmt.Sprintf("bin-%s-%d%s", cgo, len(args), ldflags))
	cmd := exec.Command("go", append(append([]string{"build", "-o", out, "-ldflags=" + ldflags}, args...), src)...)
	cmd.Env = append(os.Environ(), "CGO_ENABLED="+cgo)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %v: %v\n%s", args, err, b)
	}
	return out
}

func runtimeText(t *testing.T, bin string) uint64 {
	t.Helper()
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	syms, err := f.Symbols()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range syms {
		if s.Name == "runtime.text" {
			return s.Value
		}
	}
	t.Fatalf("%s: no runtime.text symbol", bin)
	return 0
}
