//go:build linux

package memgrowth

import (
	"bufio"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/kubectl-pixie/kubectl-pixie/probes/api"
	"github.com/kubectl-pixie/kubectl-pixie/probes/internal/probetest"
	"github.com/kubectl-pixie/kubectl-pixie/probes/unwind"
)

// The decoder reads records at fixed offsets; they must match the C layout.
func TestRecordLayout(t *testing.T) {
	var f memgrowthMgFault
	if unsafe.Offsetof(f.User) != offFaultUser || unsafe.Sizeof(f.User) != unwind.CaptureSize || unsafe.Sizeof(f) != faultSize {
		t.Fatalf("mg_fault: user at %d (%d bytes), size %d", unsafe.Offsetof(f.User), unsafe.Sizeof(f.User), unsafe.Sizeof(f))
	}
	if unsafe.Sizeof(memgrowthMgRange{}) != rangeSize {
		t.Fatalf("mg_range size %d", unsafe.Sizeof(memgrowthMgRange{}))
	}
}

func logStacks(t *testing.T, stacks []api.AllocStack) {
	for _, s := range stacks {
		t.Logf("#%d %d B resident, %d B faulted: %s", s.Rank, s.OutstandingBytes, s.AllocatedBytes, strings.Join(s.Frames, ";"))
	}
}

func has(frames []string, name string) bool {
	for _, f := range frames {
		if f == name {
			return true
		}
	}
	return false
}

// A C program without frame pointers leaks through malloc, saws 1 MiB
// blocks and churns small ones: the top resident stack must pass through
// leak_small to main (unwound through glibc by CFI), hold about what
// leaked in the window, and the sawtooth must hold next to nothing though
// it faulted the most.
func TestCGrowthByStack(t *testing.T) {
	probetest.RequirePrivileged(t)
	const rate = 1 << 20
	pid := probetest.StartReady(t, probetest.Build(t, "testdata/grow.c", "-O2", "-g", "-fomit-frame-pointer"), "1048576", "512").Pid
	time.Sleep(200 * time.Millisecond) // past start-up faults
	tr, err := Start(Config{PIDs: []uint32{uint32(pid)}})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	start := time.Now()
	time.Sleep(4 * time.Second)
	stacks := tr.Stacks(time.Now(), 8)
	window := time.Since(start)
	c := tr.Counters()
	t.Logf("counters %+v period %d", c, tr.Period())
	logStacks(t, stacks)
	if len(stacks) == 0 {
		t.Fatal("no stacks")
	}
	top := stacks[0]
	if top.PID != uint32(pid) || top.Source != api.AllocSourceFaults || !has(top.Frames, "leak_small") || !has(top.Frames, "main") {
		t.Fatalf("top stack %v, want one through leak_small and main", top.Frames)
	}
	// The leak's resident growth, summed over its stacks (the faulting
	// instruction differs: malloc's header write or memset).
	var leaked, sawResident, sawFaulted float64
	for _, s := range stacks {
		switch {
		case has(s.Frames, "leak_small"):
			leaked += float64(s.OutstandingBytes)
		case has(s.Frames, "sawtooth"):
			sawResident += float64(s.OutstandingBytes)
			sawFaulted += float64(s.AllocatedBytes)
		}
		if has(s.Frames, "churn") && s.OutstandingBytes > 64<<10 {
			t.Errorf("churn holds %d B: it reuses its memory", s.OutstandingBytes)
		}
	}
	want := float64(rate) * window.Seconds()
	if leaked < 0.8*want || leaked > 1.2*want {
		t.Errorf("leak_small holds %.0f B, want about %.0f B", leaked, want)
	}
	if sawFaulted < 10<<20 || sawResident > 2<<20 {
		t.Errorf("sawtooth: faulted %.0f B, resident %.0f B; want >= 10 MiB faulted and <= 2 MiB resident", sawFaulted, sawResident)
	}
	if c.LostRingbuf != 0 || c.BadRecords != 0 {
		t.Errorf("lost %d, bad records %d", c.LostRingbuf, c.BadRecords)
	}
}

// A Go program keeps 32 KiB chunks in a global slice: Go's heap grows by
// page faults in the runtime, under the frames of the code that allocates.
func TestGoGrowthByStack(t *testing.T) {
	probetest.RequirePrivileged(t)
	pid := probetest.StartReady(t, probetest.Build(t, "../memtrend/testdata/goleak"), "2097152").Pid
	time.Sleep(200 * time.Millisecond)
	tr, err := Start(Config{PIDs: []uint32{uint32(pid)}})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	start := time.Now()
	time.Sleep(3 * time.Second)
	stacks := tr.Stacks(time.Now(), 5)
	window := time.Since(start)
	logStacks(t, stacks)
	if len(stacks) == 0 {
		t.Fatal("no stacks")
	}
	if top := stacks[0]; !has(top.Frames, "main.leakChunk") || !has(top.Frames, "main.main") {
		t.Fatalf("top stack %v, want one through main.leakChunk and main.main", top.Frames)
	}
	var leaked float64
	for _, s := range stacks {
		if has(s.Frames, "main.leakChunk") {
			leaked += float64(s.OutstandingBytes)
		}
	}
	want := float64(2<<20) * window.Seconds()
	if leaked < 0.7*want || leaked > 1.3*want {
		t.Errorf("main.leakChunk holds %.0f B, want about %.0f B", leaked, want)
	}
}

// A fault storm (1 MiB mapped, touched and unmapped in a loop, hundreds of
// thousands of faults a second): the probe must throttle itself to about
// its budget within a slot, still estimate how much the loop faulted, and
// hold nothing at the end (every block was unmapped).
func TestFaultStormThrottles(t *testing.T) {
	probetest.RequirePrivileged(t)
	prog := probetest.Build(t, "../memalloc/testdata/faultbench.c", "-O2", "-fomit-frame-pointer")
	cmd := exec.Command(prog)
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	type point struct{ ns, pages uint64 }
	points := make(chan point, 1024)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			var p point
			if _, err := fmt.Sscan(sc.Text(), &p.ns, &p.pages); err == nil {
				points <- p
			}
		}
		close(points)
	}()
	<-points // running
	const budget = 500
	tr, err := Start(Config{PIDs: []uint32{uint32(cmd.Process.Pid)}, Budget: budget})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	first := <-points // the program's own count, inside the window
	time.Sleep(3 * time.Second)
	var last point
	for len(points) > 0 || last.ns == 0 {
		last = <-points
	}
	stacks := tr.Stacks(time.Now(), 5)
	c := tr.Counters()
	logStacks(t, stacks)
	secs := float64(last.ns-first.ns) / 1e9
	t.Logf("counters %+v, period %d; program touched %d pages in %.1f s", c, tr.Period(), last.pages-first.pages, secs)
	if tr.Period() <= 1 {
		t.Fatal("no throttling under a fault storm")
	}
	if perSec := float64(c.Sampled) / 3.2; perSec > 3*budget {
		t.Errorf("%.0f stacks/s sent, budget %d", perSec, budget)
	}
	var faulted, resident float64
	for _, s := range stacks {
		if has(s.Frames, "touch_block") {
			faulted += float64(s.AllocatedBytes)
			resident += float64(s.OutstandingBytes)
		}
	}
	// The window holds the pages between the two reports plus up to ~0.2 s
	// either side; the estimate is a sample.
	want := float64(last.pages-first.pages) * 4096
	if faulted < 0.7*want || faulted > 1.5*want {
		t.Errorf("touch_block faulted %.0f B, the program touched about %.0f B", faulted, want)
	}
	if resident > 8<<20 {
		t.Errorf("touch_block still holds %.0f B: every block was unmapped", resident)
	}
}

// Item 3 of issue 15: the bytes per stack against what the program itself
// touched and still holds (testdata/hold.c), within 10%, with the two
// releases nothing else exercises: madvise(MADV_DONTNEED) of part of a
// mapping and a shrinking brk. hold writes below the budget, so every
// fault is recorded (period 1) and the 10% is accounting, not sampling.
func TestHeldBytesAgainstTruth(t *testing.T) {
	probetest.RequirePrivileged(t)
	p := probetest.StartReady(t, probetest.Build(t, "testdata/hold.c", "-O2", "-g"))
	lines := p.Lines
	tr, err := Start(Config{PIDs: []uint32{uint32(p.Pid)}})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	if _, err := p.Stdin.Write([]byte("go\n")); err != nil {
		t.Fatal(err)
	}
	if !lines.Scan() {
		t.Fatal("hold did not report")
	}
	var truth struct{ mapTouched, mapHeld, brkTouched, brkHeld float64 }
	if _, err := fmt.Sscanf(lines.Text(), "mapped %g %g brk %g %g", &truth.mapTouched, &truth.mapHeld, &truth.brkTouched, &truth.brkHeld); err != nil {
		t.Fatalf("hold said %q: %v", lines.Text(), err)
	}
	time.Sleep(300 * time.Millisecond) // the reader polls every 50 ms
	stacks := tr.Stacks(time.Now(), 20)
	logStacks(t, stacks)
	t.Logf("truth %+v, period %d, counters %+v", truth, tr.Period(), tr.Counters())
	if tr.Period() != 1 {
		t.Fatalf("sampling period %d: hold writes below the budget, every fault must be recorded", tr.Period())
	}
	var mapHeld, mapFaulted, brkHeld, brkFaulted float64
	for _, s := range stacks {
		switch {
		case has(s.Frames, "touch_mapped"):
			mapHeld += float64(s.OutstandingBytes)
			mapFaulted += float64(s.AllocatedBytes)
		case has(s.Frames, "touch_brk"):
			brkHeld += float64(s.OutstandingBytes)
			brkFaulted += float64(s.AllocatedBytes)
		}
	}
	for _, c := range []struct {
		what      string
		got, want float64
	}{
		{"touch_mapped resident after madvise(DONTNEED)", mapHeld, truth.mapHeld},
		{"touch_mapped faulted", mapFaulted, truth.mapTouched},
		{"touch_brk resident after the break shrank", brkHeld, truth.brkHeld},
		{"touch_brk faulted", brkFaulted, truth.brkTouched},
	} {
		if c.got < 0.9*c.want || c.got > 1.1*c.want {
			t.Errorf("%s: %.0f B, the program says %.0f B (limit 10%%)", c.what, c.got, c.want)
		}
	}
}
