//go:build linux

package unwind

import (
	"bufio"
	"debug/elf"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kubectl-pixie/kubectl-pixie/probes/internal/probetest"
)

// capture is what testdata/qsortcap.c prints.
type capture struct {
	pid    uint32
	kind   string // sigcap.c: "interrupted" or "handler"
	main   uint64 // runtime address of main, for symbolizing the PIE
	sample Sample
	bt     []uint64 // backtrace(): [0] is inside capture(), then return addresses
}

func buildC(t testing.TB, name string, flags ...string) string {
	t.Helper()
	probetest.RequireCommand(t, "cc")
	out := filepath.Join(t.TempDir(), name)
	args := append([]string{"-Wall", "-o", out, filepath.Join("testdata", "qsortcap.c")}, flags...)
	if b, err := exec.Command("cc", args...).CombinedOutput(); err != nil {
		t.Fatalf("cc %v: %v\n%s", args, err, b)
	}
	return out
}

// runCapture starts bin, waits for its capture and leaves it sleeping
// (killed at cleanup) so /proc/<pid>/maps stays readable.
func runCapture(t testing.TB, bin string) *capture {
	t.Helper()
	cs := runCaptures(t, bin)
	if len(cs) != 1 {
		t.Fatalf("%s printed %d captures, want 1", bin, len(cs))
	}
	return cs[0]
}

// runCaptures is runCapture for programs printing several samples, each
// introduced by a "sample" line.
func runCaptures(t testing.TB, bin string) []*capture {
	t.Helper()
	cmd := exec.Command(bin)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	pid := uint32(cmd.Process.Pid)
	var cs []*capture
	done := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
		c := &capture{pid: pid}
		for sc.Scan() {
			f := strings.Fields(sc.Text())
			if len(f) == 0 {
				continue
			}
			var perr error
			hexes := func(i int) uint64 {
				if i >= len(f) {
					perr = fmt.Errorf("short line %q", sc.Text())
					return 0
				}
				v, err := strconv.ParseUint(f[i], 16, 64)
				if err != nil {
					perr = fmt.Errorf("line %q: %w", sc.Text(), err)
				}
				return v
			}
			switch f[0] {
			case "sample":
				if len(cs) > 0 || c.sample.SP != 0 {
					cs = append(cs, c)
				}
				c = &capture{pid: pid, main: c.main}
			case "kind":
				if len(f) > 1 {
					c.kind = f[1]
				}
			case "main":
				c.main = hexes(1)
			case "regs":
				c.sample.PC, c.sample.SP, c.sample.BP = hexes(1), hexes(2), hexes(3)
			case "stack":
				if len(f) > 1 {
					c.sample.Stack, perr = hex.DecodeString(f[1])
				}
			case "fp":
				c.sample.FP = append(c.sample.FP, FPFrame{BP: hexes(1), RA: hexes(2)})
			case "bt":
				c.bt = append(c.bt, hexes(1))
			case "ready":
				cs = append(cs, c)
				done <- nil
				return
			}
			if perr != nil {
				done <- perr
				return
			}
		}
		done <- fmt.Errorf("capture program exited early: %w", sc.Err())
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("timed out waiting for the capture")
	}
	return cs
}

// symbolizer names addresses of the test binary with debug/elf only.
type symbolizer struct {
	syms []elf.Symbol
	bias uint64
}

func newSymbolizer(t *testing.T, bin string, mainAddr uint64) *symbolizer {
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
	s := &symbolizer{}
	for _, sym := range syms {
		if elf.ST_TYPE(sym.Info) == elf.STT_FUNC && sym.Value != 0 {
			s.syms = append(s.syms, sym)
			if sym.Name == "main" {
				s.bias = mainAddr - sym.Value
			}
		}
	}
	sort.Slice(s.syms, func(i, j int) bool { return s.syms[i].Value < s.syms[j].Value })
	return s
}

// name returns the function containing a (a return address is looked up at
// a-1), or "?" outside the binary.
func (s *symbolizer) name(a uint64, ret bool) string {
	if ret {
		a--
	}
	a -= s.bias
	for _, sym := range s.syms {
		if a >= sym.Value && a < sym.Value+sym.Size {
			return sym.Name
		}
	}
	return "?"
}

// libcRanges returns the executable mappings of libc in pid, read here
// independently of the package's own maps parser.
func libcRanges(t *testing.T, pid uint32) [][2]uint64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/maps", pid))
	if err != nil {
		t.Fatal(err)
	}
	var out [][2]uint64
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 6 || !strings.Contains(f[1], "x") || !strings.Contains(filepath.Base(f[5]), "libc.so") {
			continue
		}
		var lo, hi uint64
		fmt.Sscanf(f[0], "%x-%x", &lo, &hi)
		out = append(out, [2]uint64{lo, hi})
	}
	return out
}

func fmtStack(s *symbolizer, addrs []uint64) string {
	var b strings.Builder
	for i, a := range addrs {
		fmt.Fprintf(&b, "  #%d %#x %s\n", i, a, s.name(a, i > 0))
	}
	return b.String()
}

func TestUnwindQsortComparator(t *testing.T) {
	if runtime.GOARCH != "amd64" {
		t.Skipf("SKIP: the CFI unwinder runs on amd64 only (GOARCH=%s)", runtime.GOARCH)
	}
	builds := []struct {
		name  string
		flags []string
	}{
		{"O2-omit-fp-pie", []string{"-O2", "-fomit-frame-pointer", "-fpie", "-pie"}},
		{"O0-fp-pie", []string{"-O0", "-fno-omit-frame-pointer", "-fpie", "-pie"}},
		{"O2-omit-fp-nopie", []string{"-O2", "-fomit-frame-pointer", "-fno-pie", "-no-pie"}},
	}
	for _, bld := range builds {
		t.Run(bld.name, func(t *testing.T) {
			bin := buildC(t, bld.name, bld.flags...)
			c := runCapture(t, bin)
			sym := newSymbolizer(t, bin, c.main)
			if len(c.bt) < 8 {
				t.Fatalf("backtrace() gave only %d frames: %x", len(c.bt), c.bt)
			}
			u := New("")
			got := u.Unwind(c.pid, c.sample, 128)
			t.Logf("unwound (%d bytes of stack, %d FP pairs):\n%s", len(c.sample.Stack), len(c.sample.FP), fmtStack(sym, got))

			// [0] is the captured PC (a label in capture), bt[0] the return
			// address of backtrace() in capture: both must name capture.
			if got[0] != c.sample.PC || sym.name(got[0], false) != "capture" || sym.name(c.bt[0], true) != "capture" {
				t.Fatalf("leaf: got %#x (%s), backtrace %#x (%s)", got[0], sym.name(got[0], false), c.bt[0], sym.name(c.bt[0], true))
			}
			if fmt.Sprint(got[1:]) != fmt.Sprint(c.bt[1:]) {
				t.Fatalf("return addresses differ from backtrace():\ngot:\n%swant:\n%s", fmtStack(sym, got), fmtStack(sym, c.bt))
			}

			// Names in order: the comparator chain, then libc's qsort frames, then main.
			var names []string
			libcFrames := 0
			libc := libcRanges(t, c.pid)
			for i, a := range got {
				n := sym.name(a, i > 0)
				if n == "?" {
					for _, r := range libc {
						if a >= r[0] && a < r[1] {
							n = "libc"
							libcFrames++
						}
					}
				}
				if len(names) == 0 || names[len(names)-1] != n {
					names = append(names, n)
				}
			}
			joined := strings.Join(names, " ")
			if !strings.HasPrefix(joined, "capture chain3 chain2 chain1 cmp libc main") {
				t.Fatalf("frames by function = %q, want capture chain3 chain2 chain1 cmp libc main ...", joined)
			}
			if libcFrames < 3 { // qsort internals (msort_with_tmp...), then __libc_start_*
				t.Fatalf("only %d libc frames in %q", libcFrames, joined)
			}

			// A shorter copy (deep stacks) must give a prefix, never garbage.
			prev := 0
			for _, n := range []int{8, 64, 512, 1024, 1536, 2048, 2560, 3072, 3584} {
				short := c.sample
				short.Stack = short.Stack[:min(n, len(short.Stack))]
				got := u.Unwind(c.pid, short, 128)
				if len(got) < max(prev, 1) || len(got)-1 > len(c.bt)-1 || fmt.Sprint(got[1:]) != fmt.Sprint(c.bt[1:len(got)]) {
					t.Fatalf("with %d bytes of stack: not a prefix of backtrace():\ngot:\n%swant:\n%s", n, fmtStack(sym, got), fmtStack(sym, c.bt))
				}
				t.Logf("with %d bytes of stack: %d frames", n, len(got))
				prev = len(got)
			}

			// The probe may copy less stack: with none, CFI cannot read the
			// RA and the walk must splice into the sample-time FP walk.
			short := c.sample
			short.Stack = nil
			got = u.Unwind(c.pid, short, 128)
			want := []uint64{c.sample.PC}
			if len(c.sample.FP) > 0 && c.sample.FP[0].BP == c.sample.BP {
				for _, f := range c.sample.FP {
					want = append(want, f.RA)
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("without stack: got %x, want PC + FP walk %x", got, want)
			}
			if strings.HasPrefix(bld.name, "O0-fp") {
				// With frame pointers in our code the FP part must reach cmp.
				if len(got) < 5 || sym.name(got[4], true) != "cmp" {
					t.Fatalf("FP-only unwind does not reach cmp:\n%s", fmtStack(sym, got))
				}
			}

			// max bounds the result.
			if got := u.Unwind(c.pid, c.sample, 3); len(got) != 3 {
				t.Fatalf("max=3 gave %d frames", len(got))
			}
		})
	}
}

func TestParseMaps(t *testing.T) {
	in := `55d0c0a00000-55d0c0a01000 r--p 00000000 08:01 1234                       /usr/bin/app
55d0c0a01000-55d0c0a02000 r-xp 00001000 08:01 1234                       /usr/bin/app
7f00aa000000-7f00aa155000 r-xp 00026000 103:02 99 /usr/lib/with space/libx.so (deleted)
7f00ab000000-7f00ab001000 rwxp 00000000 00:00 0
7ffd00000000-7ffd00002000 r-xp 00000000 00:00 0                          [vdso]
garbage line
ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0                  [vsyscall]
`
	got := parseMaps([]byte(in))
	want := []mapping{
		{start: 0x55d0c0a01000, end: 0x55d0c0a02000, off: 0x1000, dev: "08:01", inode: 1234, path: "/usr/bin/app"},
		{start: 0x7f00aa000000, end: 0x7f00aa155000, off: 0x26000, dev: "103:02", inode: 99, path: "/usr/lib/with space/libx.so (deleted)"},
		{start: 0x7f00ab000000, end: 0x7f00ab001000, dev: "00:00"},
		{start: 0x7ffd00000000, end: 0x7ffd00002000, dev: "00:00", path: "[vdso]"},
		{start: 0xffffffffff600000, end: 0xffffffffff601000, dev: "00:00", path: "[vsyscall]"},
	}
	if fmt.Sprintf("%+v", got) != fmt.Sprintf("%+v", want) {
		t.Fatalf("got\n%+v\nwant\n%+v", got, want)
	}
}

// BenchmarkUnwind measures one unwind of the qsort capture (warm caches),
// the per-sample cost the memory probe pays.
func BenchmarkUnwind(b *testing.B) {
	if runtime.GOARCH != "amd64" {
		b.Skip("SKIP: amd64 only")
	}
	bin := buildC(b, "bench", "-O2", "-fomit-frame-pointer")
	c := runCapture(b, bin)
	u := New("")
	want := len(u.Unwind(c.pid, c.sample, 128))
	b.ResetTimer()
	for b.Loop() {
		if n := len(u.Unwind(c.pid, c.sample, 128)); n != want {
			b.Fatalf("%d frames, want %d", n, want)
		}
	}
}

// TestUnwindGoFramePointers unwinds a Go program (frame pointers, no
// .eh_frame): frame pointers through the copied stack, then the splice into
// the sample-time walk. runtime.Callers is the oracle.
func TestUnwindGoFramePointers(t *testing.T) {
	if runtime.GOARCH != "amd64" {
		t.Skipf("SKIP: the test program's register capture is amd64 assembly (GOARCH=%s)", runtime.GOARCH)
	}
	gobin := probetest.RequireCommand(t, "go")
	bin := filepath.Join(t.TempDir(), "gofp")
	if b, err := exec.Command(gobin, "build", "-o", bin, "./testdata/gofp").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, b)
	}
	c := runCapture(t, bin)
	sym := newSymbolizer(t, bin, 0)
	if len(c.sample.FP) < 10 || len(c.bt) < 10 {
		t.Fatalf("capture too short: %d FP pairs, %d Callers", len(c.sample.FP), len(c.bt))
	}
	if last := c.sample.FP[len(c.sample.FP)-1].BP; last < c.sample.SP+uint64(len(c.sample.Stack)) {
		t.Fatalf("the whole FP chain fits in the copy (last bp %#x): the splice is not exercised", last)
	}
	u := New("")
	got := u.Unwind(c.pid, c.sample, 128)
	t.Logf("unwound:\n%s", fmtStack(sym, got))
	want := append([]uint64{c.sample.PC}, c.bt[1:]...)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("got:\n%swant (runtime.Callers):\n%s", fmtStack(sym, got), fmtStack(sym, want))
	}
	var names []string
	for i, a := range got {
		if n := sym.name(a, i > 0); len(names) == 0 || names[len(names)-1] != n {
			names = append(names, n)
		}
	}
	if j := strings.Join(names, " "); !strings.HasPrefix(j, "main.capture main.chain3 main.chain2 main.chain1 main.recurse main.main runtime.main") {
		t.Fatalf("frames by function = %q", j)
	}
}

// TestUnwindSignalSamples checks samples taken at arbitrary instructions, as
// page faults are: a SIGPROF handler records the interrupted registers (the
// leaf is mostly inside glibc: malloc, memset, qsort, printf) and backtrace(),
// whose frames after the interrupted pc are the oracle.
func TestUnwindSignalSamples(t *testing.T) {
	if runtime.GOARCH != "amd64" {
		t.Skipf("SKIP: the CFI unwinder runs on amd64 only (GOARCH=%s)", runtime.GOARCH)
	}
	probetest.RequireCommand(t, "cc")
	bin := filepath.Join(t.TempDir(), "sigcap")
	if b, err := exec.Command("cc", "-O2", "-fomit-frame-pointer", "-Wall", "-o", bin, filepath.Join("testdata", "sigcap.c")).CombinedOutput(); err != nil {
		t.Fatalf("cc: %v\n%s", err, b)
	}
	cs := runCaptures(t, bin)
	u := New("")
	libc := libcRanges(t, cs[0].pid)
	var exact, exact4k, prefix4k, inLibc, noOracle, handler int
	for i, c := range cs {
		if c.kind == "handler" {
			// Captured inside the handler: through __restore_rt (CFI
			// expressions) to the interrupted pc (exact) and its callers.
			handler++
			got := u.Unwind(c.pid, c.sample, 128)
			if len(c.bt) < 4 || fmt.Sprint(got[1:]) != fmt.Sprint(c.bt[1:]) {
				t.Errorf("handler sample %d: got %x, want [pc] + %x", i, got, c.bt[1:])
			}
			continue
		}
		k := -1
		for j, a := range c.bt {
			if a == c.sample.PC {
				k = j
				break
			}
		}
		if k < 0 {
			noOracle++
			t.Logf("sample %d: pc %#x not in backtrace() %x", i, c.sample.PC, c.bt)
			continue
		}
		for _, r := range libc {
			if c.sample.PC >= r[0] && c.sample.PC < r[1] {
				inLibc++
			}
		}
		want := append([]uint64{c.sample.PC}, c.bt[k+1:]...)
		// With the whole stack (the program copies up to 16 KiB): exact.
		got := u.Unwind(c.pid, c.sample, 128)
		if fmt.Sprint(got) == fmt.Sprint(want) {
			exact++
		} else {
			t.Errorf("sample %d (%d bytes of stack): got %x, want %x", i, len(c.sample.Stack), got, want)
		}
		// With the probe's 4096 bytes: exact, or a prefix when the stack is deeper.
		s4k := c.sample
		s4k.Stack = s4k.Stack[:min(len(s4k.Stack), 4096)]
		got = u.Unwind(c.pid, s4k, 128)
		switch {
		case fmt.Sprint(got) == fmt.Sprint(want):
			exact4k++
		case len(got) < len(want) && fmt.Sprint(got) == fmt.Sprint(want[:len(got)]):
			prefix4k++
		default:
			t.Errorf("sample %d (4096 bytes of stack): got %x, want %x", i, got, want)
		}
	}
	t.Logf("%d samples (%d with the leaf in libc): %d exact; with 4096 bytes of stack %d exact, %d stopped early; %d without an oracle; %d through the signal frame",
		len(cs)-handler, inLibc, exact, exact4k, prefix4k, noOracle, handler)
	if handler == 0 {
		t.Error("no sample captured inside the signal handler")
	}
	if inLibc < (len(cs)-handler)/4 {
		t.Errorf("only %d of %d samples interrupted libc: the test does not exercise glibc's CFI", inLibc, len(cs))
	}
	if noOracle > (len(cs)-handler)/10 {
		t.Errorf("%d of %d samples have no oracle", noOracle, len(cs))
	}
}
