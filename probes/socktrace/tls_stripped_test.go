//go:build linux

package socktrace

import (
	"bytes"
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

const debianLibSSL = "/usr/lib/x86_64-linux-gnu/libssl.a"

// buildStaticSSL links test/local's OpenSSL client statically with
// Debian's libssl.a (libssl-dev) and returns it with symbols and stripped.
func buildStaticSSL(t *testing.T) (withSyms, stripped string) {
	t.Helper()
	if _, err := os.Stat(debianLibSSL); err != nil {
		t.Skipf("no %s (libssl-dev, installed by hack/deps.sh): %v", debianLibSSL, err)
	}
	dir := t.TempDir()
	withSyms, stripped = filepath.Join(dir, "sslstatic"), filepath.Join(dir, "sslstripped")
	src, _ := filepath.Abs("../../test/local/testdata/sslclient/sslclient.c")
	if out, err := exec.Command("gcc", "-O2", "-static", "-o", withSyms, src, "-lssl", "-lcrypto", "-pthread").CombinedOutput(); err != nil {
		t.Fatalf("gcc -static (gcc and libssl-dev come from hack/deps.sh): %v\n%s", err, out)
	}
	if out, err := exec.Command("strip", "-o", stripped, withSyms).CombinedOutput(); err != nil {
		t.Fatalf("strip: %v\n%s", err, out)
	}
	return withSyms, stripped
}

// TestFindStrippedOpenSSL: in a stripped static link, each of SSL_write,
// SSL_read, their _ex forms and SSL_free is found where the unstripped
// copy's symbol says it is; in an executable without OpenSSL, nothing.
func TestFindStrippedOpenSSL(t *testing.T) {
	withSyms, stripped := buildStaticSSL(t)
	got, err := FindStrippedOpenSSL(stripped, debianLibSSL)
	if err != nil {
		t.Fatal(err)
	}
	f, err := elf.Open(withSyms)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	syms, err := f.Symbols()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]uint64{}
	for _, fn := range opensslFuncs {
		for _, s := range syms {
			if s.Name == fn.sym {
				if want[s.Name], err = fileOffset(f, s.Value); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	if len(want) != len(opensslFuncs) || len(got) != len(want) {
		t.Errorf("found %v, want %v", got, want)
	}
	for name, off := range want {
		if got[name] != off {
			t.Errorf("%s at %#x, want %#x", name, got[name], off)
		}
	}
	self, _ := os.Executable()
	if got, err := FindStrippedOpenSSL(self, debianLibSSL); err != nil || got != nil {
		t.Errorf("in the test binary (no OpenSSL): %v, %v", got, err)
	}
}

// TestArMembersGarbage: a file that is no archive, or a cut one, is an
// error, not a panic.
func TestArMembersGarbage(t *testing.T) {
	dir := t.TempDir()
	for name, data := range map[string]string{
		"empty":    "",
		"notar":    "hello world, not an archive at all......................................",
		"cut":      "!<arch>\n/0              0           0     0     644     100       `\n",
		"badsize":  "!<arch>\nx.o/            0           0     0     644     -5        `\n",
		"longname": "!<arch>\n/99             0           0     0     644     2         `\nab",
	} {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := opensslPatterns(p); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

// TestReaderContains: a run is found across the 1 MiB pieces too.
func TestReaderContains(t *testing.T) {
	data := make([]byte, 3<<20)
	run := []byte("0123456789abcdef")
	for _, at := range []int{0, 1<<20 - 5, 2<<20 + 3, len(data) - len(run)} {
		d := bytes.Clone(data)
		copy(d[at:], run)
		if !readerContains(bytes.NewReader(d), run) {
			t.Errorf("run at %d not found", at)
		}
	}
	if readerContains(bytes.NewReader(data), run) {
		t.Error("found in zeros")
	}
}
