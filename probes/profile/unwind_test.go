//go:build linux

package profile

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"unsafe"

	"github.com/kubectl-pixie/kubectl-pixie/probes/api"
	"github.com/kubectl-pixie/kubectl-pixie/probes/internal/probetest"
	"github.com/kubectl-pixie/kubectl-pixie/probes/unwind"
)

func TestRawLayout(t *testing.T) {
	var r profileProfileRaw
	if unsafe.Offsetof(r.Kstack) != rawKstackOff || unsafe.Offsetof(r.User) != rawUserOff || unsafe.Sizeof(r.User) != unwind.CaptureSize {
		t.Fatalf("profile_raw: kstack at %d, user at %d (%d bytes)", unsafe.Offsetof(r.Kstack), unsafe.Offsetof(r.User), unsafe.Sizeof(r.User))
	}
}

// A C program without frame pointers burns CPU under main -> qsort (glibc)
// -> cmp -> middle -> leaf_work. In the default (auto) mode the profiler
// unwinds it with CFI and sees the chain; with --unwind fp it cannot, which
// is what this mode is for.
func TestProfileWithoutFramePointers(t *testing.T) {
	probetest.RequirePrivileged(t)
	cc := probetest.RequireCommand(t, "gcc")
	bin := filepath.Join(t.TempDir(), "cnofp")
	if out, err := exec.Command(cc, "-O2", "-fomit-frame-pointer", "-o", bin, "testdata/cnofp.c").CombinedOutput(); err != nil {
		t.Fatalf("gcc: %v\n%s", err, out)
	}
	w := startHeld(t, "cnofp", 0, bin, "held", "2") // CPU seconds per run
	chain := "main;qsort"
	// share of samples whose stack reaches main and has the program's own
	// chain in order under glibc's qsort.
	share := func(unwindMode string) (float64, uint64) {
		recs, stats, used := burnInWindow(t, api.ProfileConfig{Unwind: unwindMode}, w)
		checkCount(t, unwindMode, samplesOf(recs, w.pid()), api.ProfileDefaultHz, used[w.pid()])
		var total, whole uint64
		for _, r := range recs {
			total += r.Count
			i := strings.Index(r.Stack, chain)
			if i >= 0 && strings.Contains(r.Stack[i:], ";cmp;middle") {
				whole += r.Count
			}
		}
		if total != stats.EventsCaptured {
			t.Errorf("%s: records carry %d samples, probe_stats says %d", unwindMode, total, stats.EventsCaptured)
		}
		if total == 0 {
			t.Fatalf("%s: no samples", unwindMode)
		}
		inner := map[string]bool{} // glibc's static sort functions between qsort_r and cmp
		for _, r := range recs {
			if r.Count*20 >= total {
				t.Logf("%s: %4d  %s", unwindMode, r.Count, r.Stack)
			}
			if _, after, ok := strings.Cut(r.Stack, ";qsort_r;"); ok {
				if between, _, ok := strings.Cut(after, ";cmp;"); ok {
					for _, f := range strings.Split(between, ";") {
						inner[f] = true
					}
				}
			}
		}
		// Named by their function's start (CFI), not one frame per address:
		// msort_with_tmp recursing, and the call into cmp.
		if len(inner) > 2 {
			t.Errorf("%s: %d distinct unnamed frames inside qsort_r, want each function once: %v", unwindMode, len(inner), inner)
		}
		return float64(whole) / float64(total), total
	}
	auto, n := share(api.ProfileUnwindAuto)
	t.Logf("auto (cfi): %.0f%% of %d samples reach main through qsort and cmp;middle", 100*auto, n)
	if auto < 0.9 {
		t.Errorf("auto: only %.0f%% of samples unwound through glibc to main", 100*auto)
	}
	fp, n := share(api.ProfileUnwindFP)
	t.Logf("fp: %.0f%% of %d samples", 100*fp, n)
	if fp > 0.5 {
		t.Errorf("fp mode unwound %.0f%% of a program without frame pointers: the test program is not what it claims", 100*fp)
	}
}

// With --all in auto mode the probe cannot know processes in advance: a
// process's first samples are unwound with CFI, then Go programs go back
// to frame pointers. Both kinds keep whole stacks.
func TestProfileAllClassifies(t *testing.T) {
	probetest.RequirePrivileged(t)
	cc := probetest.RequireCommand(t, "gcc")
	dir := t.TempDir()
	cbin := filepath.Join(dir, "cnofp")
	if out, err := exec.Command(cc, "-O2", "-fomit-frame-pointer", "-o", cbin, "testdata/cnofp.c").CombinedOutput(); err != nil {
		t.Fatalf("gcc: %v\n%s", err, out)
	}
	gobin := filepath.Join(dir, "goburn")
	if out, err := exec.Command("go", "build", "-o", gobin, "./testdata/goburn").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	c := startHeld(t, "cnofp", 1, cbin, "held", "2") // CPU seconds
	g := startHeld(t, "go", 0, gobin, "held", "2")
	p, err := New(api.ProfileConfig{All: true})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	b := newBurn(t, c, g)
	b.release()
	whole := map[uint32][2]uint64{} // pid -> {whole stacks, samples}
	err = p.Run(b.ctx, func(rec any) error {
		r, ok := rec.(*api.StackTrace)
		if !ok || (r.PID != c.pid() && r.PID != g.pid()) {
			return nil
		}
		w := whole[r.PID]
		w[1] += r.Count
		if (r.PID == c.pid() && strings.Contains(r.Stack, "main;qsort") && strings.Contains(r.Stack, ";cmp;middle")) ||
			(r.PID == g.pid() && strings.HasPrefix(r.Stack, "runtime.goexit;main.hot")) {
			w[0] += r.Count
		}
		whole[r.PID] = w
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	used := b.used()
	for _, w := range []*heldBurner{c, g} {
		n := whole[w.pid()]
		checkCount(t, w.name, n[1], api.ProfileDefaultHz, used[w.pid()])
		t.Logf("%s: %d of %d samples with the whole stack", w.name, n[0], n[1])
		if n[1] == 0 || float64(n[0]) < 0.9*float64(n[1]) {
			t.Errorf("%s: %d of %d samples with the whole stack", w.name, n[0], n[1])
		}
	}
	var mode uint8
	if err := p.objs.PxProfTgids.Lookup(g.pid(), &mode); err != nil || mode != uint8(profileProfileModePROFILE_MODE_FP) {
		t.Errorf("the Go program's mode is %d (%v), want frame pointers", mode, err)
	}
}
