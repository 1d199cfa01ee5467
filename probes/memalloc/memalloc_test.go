//go:build linux

package memalloc

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/kubectl-pixie/kubectl-pixie/probes/internal/probetest"
)

func TestLoad(t *testing.T) {
	probetest.RequirePrivileged(t)
	spec, err := loadMemalloc()
	if err != nil {
		t.Fatal(err)
	}
	var objs memallocObjects
	if err := spec.LoadAndAssign(&objs, nil); err != nil {
		t.Fatalf("%+v", err)
	}
	objs.Close()
}

// The maps parser itself is profile's (probes/profile/symbolize_test.go).
func TestFindLibc(t *testing.T) {
	maps := []byte(`55d0c0a00000-55d0c0a01000 r--p 00000000 08:01 123 /tmp/leak
55d0c0a01000-55d0c0a02000 r-xp 00001000 08:01 123 /tmp/leak
7f0000000000-7f0000020000 r-xp 00028000 08:01 456 /usr/lib/x86_64-linux-gnu/libc.so.6
7ffd00000000-7ffd00021000 rw-p 00000000 00:00 0 [stack]
`)
	if got := findLibc(maps); got != "/usr/lib/x86_64-linux-gnu/libc.so.6" {
		t.Fatalf("libc: %q", got)
	}
}

// build builds a test program, C with frame pointers for the stacks.
func build(t *testing.T, what string) string {
	return probetest.Build(t, what, "-O2", "-g", "-fno-omit-frame-pointer")
}

// The C leak keeps leak_bytes' blocks and frees churn's at once: the top
// outstanding stack must start in leak_bytes, and churn must not lead.
func TestCLeakTopStack(t *testing.T) {
	probetest.RequirePrivileged(t)
	const rate = 2 << 20
	pid := probetest.StartReady(t, build(t, "../memtrend/testdata/leak.c"), "2097152").Pid
	tr, err := Start(Config{PIDs: []uint32{uint32(pid)}})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	const window = 4 * time.Second
	time.Sleep(window)
	stacks := tr.Stacks(time.Now(), 5)
	calls, sampled, frees, lostFull, lostStack := tr.Counters()
	t.Logf("calls %d sampled %d frees %d lost %d/%d; attached %v", calls, sampled, frees, lostFull, lostStack, tr.Attached)
	for _, s := range stacks {
		t.Logf("#%d %s %d B outstanding in %d allocs: %s", s.Rank, s.Source, s.OutstandingBytes, s.OutstandingAllocs, strings.Join(s.Frames, ";"))
	}
	if len(stacks) == 0 {
		t.Fatal("no stacks")
	}
	top := stacks[0]
	if top.PID != uint32(pid) || top.Source != "libc" || len(top.Frames) < 2 || top.Frames[0] != "leak_bytes" || top.Frames[1] != "main" {
		t.Fatalf("top stack %+v, want leak_bytes;main", top)
	}
	// Sampled and scaled, the outstanding bytes estimate what leaked in the window.
	want := float64(rate) * window.Seconds()
	if got := float64(top.OutstandingBytes); got < 0.6*want || got > 1.4*want {
		t.Errorf("outstanding %0.f B, want about %.0f B", got, want)
	}
	if calls == 0 || frees == 0 {
		t.Errorf("counters: calls %d frees %d", calls, frees)
	}
}

// The Go leak allocates through leakChunk; Go frees by GC, so its stacks
// rank by bytes allocated in the window.
func TestGoLeakTopStack(t *testing.T) {
	probetest.RequirePrivileged(t)
	pid := probetest.StartReady(t, build(t, "../memtrend/testdata/goleak"), "2097152").Pid
	tr, err := Start(Config{PIDs: []uint32{uint32(pid)}})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	time.Sleep(3 * time.Second)
	stacks := tr.Stacks(time.Now(), 5)
	for _, s := range stacks {
		t.Logf("#%d %s %d B allocated: %s", s.Rank, s.Source, s.AllocatedBytes, strings.Join(s.Frames, ";"))
	}
	if len(stacks) == 0 {
		t.Fatal("no stacks")
	}
	top := stacks[0]
	if top.Source != "go" || !strings.Contains(strings.Join(top.Frames, ";"), "main.leakChunk") {
		t.Fatalf("top stack %+v, want one through main.leakChunk", top)
	}
}

func monoNow() int64 {
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return ts.Nano()
}

// With the per-stack totals map full, sampled allocations that find no
// slot are counted as lost (footer alloc_map_full), not dropped silently.
func TestTotalsFullIsCounted(t *testing.T) {
	probetest.RequirePrivileged(t)
	pid := probetest.StartReady(t, build(t, "../memtrend/testdata/leak.c"), "2097152").Pid
	tr, err := Start(Config{PIDs: []uint32{uint32(pid)}})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	fill := func() {
		for i := uint32(0); i < 1<<20; i++ {
			err := tr.objs.PxMaTotals.Update(memallocMaKey{Tgid: 0xf0000000 + i}, memallocMaTotal{}, ebpf.UpdateNoExist)
			if err != nil && !errors.Is(err, ebpf.ErrKeyExist) {
				return
			}
		}
	}
	// The target's stacks seen before the map filled keep their slots:
	// drop them and fill their room. The target is stopped meanwhile, or
	// it could take a freed slot back while the map refills.
	if err := unix.Kill(pid, unix.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	fill()
	var k memallocMaKey
	var v memallocMaTotal
	for it := tr.objs.PxMaTotals.Iterate(); it.Next(&k, &v); {
		if k.Tgid == uint32(pid) {
			_ = tr.objs.PxMaTotals.Delete(k)
		}
	}
	fill()
	if err := unix.Kill(pid, unix.SIGCONT); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for tr.LostTotals() == 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	_, _, lost := tr.Stats()
	if tr.LostTotals() == 0 || lost < tr.LostTotals() {
		t.Fatalf("lost totals %d, lost in stats %d", tr.LostTotals(), lost)
	}
}

// Item 3 of issue 15: --alloc-mode uprobes with sampling off (1 byte) is
// exact. testdata/exact.c allocates 3000 blocks through malloc, calloc
// and realloc (heap and mmap'd sizes) and frees a quarter; the
// outstanding bytes and allocations per function equal its own tally.
func TestUprobesExactWithSamplingOff(t *testing.T) {
	probetest.RequirePrivileged(t)
	p := probetest.StartReady(t, build(t, "testdata/exact.c"))
	lines := p.Lines
	tr, err := Start(Config{PIDs: []uint32{uint32(p.Pid)}, SampleBytes: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	if _, err := p.Stdin.Write([]byte("go\n")); err != nil {
		t.Fatal(err)
	}
	if !lines.Scan() {
		t.Fatal("exact did not report")
	}
	var want [3]struct{ bytes, n uint64 }
	if _, err := fmt.Sscanf(lines.Text(), "malloc %d %d calloc %d %d realloc %d %d",
		&want[0].bytes, &want[0].n, &want[1].bytes, &want[1].n, &want[2].bytes, &want[2].n); err != nil {
		t.Fatalf("exact said %q: %v", lines.Text(), err)
	}
	var got [3]struct{ bytes, n uint64 }
	for _, s := range tr.Stacks(time.Now(), 50) {
		for k, fn := range []string{"keep_malloc", "keep_calloc", "keep_realloc"} {
			if len(s.Frames) > 0 && s.Frames[0] == fn {
				got[k].bytes += s.OutstandingBytes
				got[k].n += s.OutstandingAllocs
			}
		}
	}
	calls, sampled, frees, lostFull, lostStack := tr.Counters()
	t.Logf("calls %d sampled %d frees %d lost %d/%d", calls, sampled, frees, lostFull, lostStack)
	if got != want {
		t.Fatalf("outstanding (bytes, allocations) by malloc, calloc, realloc: %v, the program holds %v", got, want)
	}
}
