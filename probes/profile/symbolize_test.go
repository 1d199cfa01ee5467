//go:build linux

package profile

import (
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"
)

//go:noinline
func symbolizeTarget() uintptr {
	pc, _, _, _ := runtime.Caller(0)
	return pc
}

// The test binary symbolizes its own functions through /proc/self/maps,
// file offsets, PT_LOAD and the Go pclntab, as the agent does for targets.
func TestSymbolizeSelf(t *testing.T) {
	s := NewSymbolizer("")
	pc := symbolizeTarget()
	r := s.User(uint32(os.Getpid()), uint64(pc), true)
	if !strings.HasSuffix(r.name, "profile.symbolizeTarget") {
		t.Fatalf("name %q, want ...profile.symbolizeTarget", r.name)
	}
	if r.module != filepath.Base(os.Args[0]) || !strings.HasSuffix(r.file, "symbolize_test.go") || r.line == 0 {
		t.Fatalf("module %q file %q line %d", r.module, r.file, r.line)
	}
	fn := reflect.ValueOf(TestSymbolizeSelf).Pointer()
	if r := s.User(uint32(os.Getpid()), uint64(fn)+1, false); !strings.HasSuffix(r.name, "TestSymbolizeSelf") {
		t.Fatalf("return address: %q", r.name)
	}
	// Parsed once, then served from the cache.
	if s.bins.parsed != 1 {
		t.Fatalf("parsed %d binaries, want 1", s.bins.parsed)
	}
	// An address outside any mapping is named, not blank.
	if r := s.User(uint32(os.Getpid()), 0x10, true); r.name != "[unknown]" {
		t.Fatalf("unmapped: %q", r.name)
	}
}

func TestParseMaps(t *testing.T) {
	data := []byte(`55d0a0000000-55d0a0001000 r--p 00000000 08:01 123 /usr/bin/x
55d0a0001000-55d0a0005000 r-xp 00001000 08:01 123 /usr/bin/x
7f0000000000-7f0000100000 rwxp 00000000 00:00 0 
7f1000000000-7f1000001000 r-xp 00002000 08:01 9 /opt/my lib/libfoo.so (deleted)
`)
	m := parseMaps(data)
	if len(m) != 3 {
		t.Fatalf("got %d executable mappings: %+v", len(m), m)
	}
	if m[0].start != 0x55d0a0001000 || m[0].off != 0x1000 || m[0].path != "/usr/bin/x" {
		t.Fatalf("%+v", m[0])
	}
	if m[1].path != "" || m[2].path != "/opt/my lib/libfoo.so (deleted)" || moduleName(m[2].path) != "libfoo.so" {
		t.Fatalf("%+v %+v", m[1], m[2])
	}
}

func TestPerfMapAndUnnamedFrames(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "perf-1.map")
	if err := os.WriteFile(p, []byte("1000 100 JS:*hot /app/x.js:1:2\n2000 10 old\n2000 20 new\nbad line\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	pm, err := readPerfMap(p)
	if err != nil {
		t.Fatal(err)
	}
	for addr, want := range map[uint64]string{0x1000: "JS:*hot /app/x.js:1:2", 0x10ff: "JS:*hot /app/x.js:1:2", 0x2015: "new", 0x2005: "new"} {
		if got, ok := pm.lookup(addr); !ok || got != want {
			t.Errorf("lookup(%#x) = %q %v, want %q", addr, got, ok, want)
		}
	}
	if _, ok := pm.lookup(0x1100); ok {
		t.Error("address past the end matched")
	}
	b := &binary{name: "libfoo.so"}
	if r := b.lookup(0x1234); r.name != "[libfoo.so+0x1234]" || r.module != "libfoo.so" {
		t.Fatalf("unnamed frame %+v", r)
	}
}

func TestKallsyms(t *testing.T) {
	p := filepath.Join(t.TempDir(), "kallsyms")
	os.WriteFile(p, []byte("ffffffff81000000 T _stext\nffffffff81000100 t do_thing\nffffffff81000200 D data\nffffffffc0000000 t mod_fn\t[xfs]\n"), 0o644)
	k, err := readKallsyms(p)
	if err != nil {
		t.Fatal(err)
	}
	if n, m, _ := k.lookup(0xffffffff81000150); n != "do_thing" || m != "[kernel]" {
		t.Fatalf("%s %s", n, m)
	}
	if n, m, _ := k.lookup(0xffffffffc0000010); n != "mod_fn" || m != "[xfs]" {
		t.Fatalf("%s %s", n, m)
	}
	os.WriteFile(p, []byte("0000000000000000 T _stext\n"), 0o644)
	if _, err := readKallsyms(p); err == nil {
		t.Fatal("zeroed kallsyms accepted")
	}
}

func TestCleanName(t *testing.T) {
	if got := cleanName("a;b\nc"); got != "a:b c" {
		t.Fatal(got)
	}
}
