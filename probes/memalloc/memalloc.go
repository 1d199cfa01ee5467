//go:build linux

// Package memalloc attaches allocator uprobes to target processes (libc
// malloc, calloc, realloc, free; Go's runtime.mallocgc) and reports the
// call stacks holding the most outstanding sampled bytes.
package memalloc

import (
	"bufio"
	"debug/elf"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"

	"github.com/kubectl-pixie/kubectl-pixie/probes/api"
	"github.com/kubectl-pixie/kubectl-pixie/probes/procs"
	"github.com/kubectl-pixie/kubectl-pixie/probes/profile"
)

// Config selects what to probe.
type Config struct {
	PIDs        []uint32
	SampleBytes uint64 // default 64 KiB; 1 samples every call
	ProcRoot    string // default /proc
}

// Tracer holds the loaded programs and their links.
type Tracer struct {
	cfg      Config
	objs     memallocObjects
	links    []link.Link
	stats    interface{ Close() error }
	sym      *profile.Symbolizer
	Attached []string // "pid 42: libc /usr/lib/.../libc.so.6", for the log
}

// Start loads the programs and attaches them to each PID (none: Add them
// later). A PID that uses neither libc's allocator nor Go's is reported in
// the error only when no PID could be probed at all.
func Start(cfg Config) (*Tracer, error) {
	if cfg.SampleBytes == 0 {
		cfg.SampleBytes = 64 << 10
	}
	if cfg.ProcRoot == "" {
		cfg.ProcRoot = "/proc"
	}
	spec, err := loadMemalloc()
	if err != nil {
		return nil, fmt.Errorf("loading the allocator probe spec: %w", err)
	}
	if err := spec.Variables["sample_bytes"].Set(cfg.SampleBytes); err != nil {
		return nil, err
	}
	t := &Tracer{cfg: cfg, sym: profile.NewSymbolizer(cfg.ProcRoot)}
	if err := spec.LoadAndAssign(&t.objs, nil); err != nil {
		var ve *ebpf.VerifierError
		if errors.As(err, &ve) {
			return nil, fmt.Errorf("the kernel rejected the allocator probe: %w", err)
		}
		return nil, fmt.Errorf("loading the allocator probe: %w (needs root and Linux >= 5.8)", err)
	}
	if s, err := ebpf.EnableStats(uint32(unix.BPF_STATS_RUN_TIME)); err == nil {
		t.stats = s
	}
	var errs []error
	for _, pid := range cfg.PIDs {
		if err := t.objs.PxMaTgids.Put(pid, uint8(1)); err != nil {
			errs = append(errs, err)
			continue
		}
		if err := t.attach(pid); err != nil {
			errs = append(errs, fmt.Errorf("pid %d: %w", pid, err))
		}
	}
	if len(t.links) == 0 && len(cfg.PIDs) > 0 {
		t.Close()
		return nil, fmt.Errorf("no allocator to probe: %w", errors.Join(errs...))
	}
	return t, nil
}

// Add attaches to a process that started after Start.
func (t *Tracer) Add(pid uint32) error {
	if err := t.objs.PxMaTgids.Put(pid, uint8(1)); err != nil {
		return err
	}
	return t.attach(pid)
}

// attach finds the process's libc and, for Go programs, runtime.mallocgc.
func (t *Tracer) attach(pid uint32) error {
	root := filepath.Join(t.cfg.ProcRoot, strconv.FormatUint(uint64(pid), 10))
	maps, err := os.ReadFile(filepath.Join(root, "maps"))
	if err != nil {
		return fmt.Errorf("reading maps: %w", err)
	}
	opts := &link.UprobeOptions{PID: int(pid)} // only this process takes the trap
	found := false
	if libc := findLibc(maps); libc != "" {
		path := filepath.Join(root, "root", libc)
		ex, err := link.OpenExecutable(path)
		if err != nil {
			return err
		}
		type probe struct {
			sym  string
			prog *ebpf.Program
			ret  bool
		}
		for _, p := range []probe{
			{"malloc", t.objs.PxMaMalloc, false}, {"malloc", t.objs.PxMaAllocRet, true},
			{"calloc", t.objs.PxMaCalloc, false}, {"calloc", t.objs.PxMaAllocRet, true},
			{"realloc", t.objs.PxMaRealloc, false}, {"realloc", t.objs.PxMaAllocRet, true},
			{"free", t.objs.PxMaFree, false},
		} {
			var l link.Link
			if p.ret {
				l, err = ex.Uretprobe(p.sym, p.prog, opts)
			} else {
				l, err = ex.Uprobe(p.sym, p.prog, opts)
			}
			if err != nil {
				return fmt.Errorf("attaching to %s in %s: %w", p.sym, libc, err)
			}
			t.links = append(t.links, l)
		}
		t.Attached = append(t.Attached, fmt.Sprintf("pid %d: libc %s", pid, libc))
		found = true
	}
	exe := filepath.Join(root, "exe")
	if hasSymbol(exe, "runtime.mallocgc") {
		ex, err := link.OpenExecutable(exe)
		if err != nil {
			return err
		}
		l, err := ex.Uprobe("runtime.mallocgc", t.objs.PxMaGomalloc, opts)
		if err != nil {
			return fmt.Errorf("attaching to runtime.mallocgc: %w", err)
		}
		t.links = append(t.links, l)
		t.Attached = append(t.Attached, fmt.Sprintf("pid %d: go runtime.mallocgc", pid))
		found = true
	}
	if !found {
		return errors.New("uses neither libc's malloc nor Go's runtime (static or custom allocator?)")
	}
	return nil
}

// findLibc returns the path of the mapped C library, if any.
func findLibc(maps []byte) string {
	sc := bufio.NewScanner(strings.NewReader(string(maps)))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 6 {
			continue
		}
		base := filepath.Base(f[5])
		if strings.HasPrefix(base, "libc.so") || (strings.HasPrefix(base, "libc-") && strings.HasSuffix(base, ".so")) {
			return f[5]
		}
	}
	return ""
}

func hasSymbol(path, name string) bool {
	f, err := elf.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	syms, err := f.Symbols()
	if err != nil {
		return false
	}
	for _, s := range syms {
		if s.Name == name {
			return true
		}
	}
	return false
}

type aggKey struct {
	tgid    uint32
	stackID int32
	source  uint8
}

type agg struct {
	outBytes, outAllocs float64
	allocBytes          uint64
}

// Stacks returns, per process, the top stacks: libc stacks by outstanding
// bytes (sampled and scaled), then Go stacks by bytes allocated in the
// window (the GC frees, so outstanding is not known for them).
func (t *Tracer) Stacks(now time.Time, top int) []api.AllocStack {
	aggs := map[aggKey]*agg{}
	get := func(k aggKey) *agg {
		a := aggs[k]
		if a == nil {
			a = &agg{}
			aggs[k] = a
		}
		return a
	}
	var addr uint64
	var a memallocMaAlloc
	it := t.objs.PxMaAllocs.Iterate()
	for it.Next(&addr, &a) {
		g := get(aggKey{a.Tgid, a.StackId, uint8(memallocMaSourceMA_SRC_LIBC)})
		g.outBytes += float64(a.Weight)
		if a.Size > 0 {
			g.outAllocs += float64(a.Weight) / float64(a.Size)
		}
	}
	var k memallocMaKey
	var tot memallocMaTotal
	it = t.objs.PxMaTotals.Iterate()
	for it.Next(&k, &tot) {
		get(aggKey{k.Tgid, k.StackId, k.Source}).allocBytes += tot.Bytes
	}
	keys := make([]aggKey, 0, len(aggs))
	for k, v := range aggs {
		if k.source == uint8(memallocMaSourceMA_SRC_LIBC) && v.outBytes == 0 {
			continue // all freed: not what --alloc reports
		}
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		a, b := keys[i], keys[j]
		if a.tgid != b.tgid {
			return a.tgid < b.tgid
		}
		if a.source != b.source {
			return a.source < b.source // libc (outstanding) first
		}
		if aggs[a].outBytes != aggs[b].outBytes {
			return aggs[a].outBytes > aggs[b].outBytes
		}
		return aggs[a].allocBytes > aggs[b].allocBytes
	})
	var out []api.AllocStack
	rank := map[uint32]int{}
	for _, k := range keys {
		if rank[k.tgid] >= top {
			continue
		}
		rank[k.tgid]++
		v := aggs[k]
		rec := api.AllocStack{
			Header:            api.Header{Table: api.TableAllocStacks},
			Time:              now.UnixNano(),
			PID:               k.tgid,
			Comm:              procs.Comm(t.cfg.ProcRoot, k.tgid),
			Rank:              rank[k.tgid],
			OutstandingBytes:  uint64(v.outBytes),
			OutstandingAllocs: uint64(v.outAllocs + 0.5),
			AllocatedBytes:    v.allocBytes,
			Source:            api.AllocSourceLibc,
		}
		if k.source == uint8(memallocMaSourceMA_SRC_GO) {
			rec.Source = api.AllocSourceGo
		}
		rec.Frames = t.frames(k.tgid, k.stackID, k.source == uint8(memallocMaSourceMA_SRC_GO))
		out = append(out, rec)
	}
	return out
}

// frames symbolizes a stack. A libc stack was taken at a return probe, so
// every address is a return address; a Go stack was taken at the entry of
// runtime.mallocgc, whose first address is the function itself.
func (t *Tracer) frames(pid uint32, id int32, entry bool) []string {
	if id < 0 {
		return []string{"[no stack]"}
	}
	var pcs [127]uint64
	if err := t.objs.PxMaStacks.Lookup(uint32(id), &pcs); err != nil {
		return []string{"[stack evicted]"}
	}
	var out []string
	for i, pc := range pcs {
		if pc == 0 {
			break
		}
		out = append(out, t.sym.User(pid, pc, entry && i == 0).Name())
	}
	return out
}

// Counters returns the BPF counters summed over CPUs.
func (t *Tracer) Counters() (calls, sampled, frees, lostFull, lostStack uint64) {
	return t.counter(memallocMaCounterMA_CALLS), t.counter(memallocMaCounterMA_SAMPLED), t.counter(memallocMaCounterMA_FREES),
		t.counter(memallocMaCounterMA_LOST_FULL), t.counter(memallocMaCounterMA_LOST_STACK)
}

// LostTotals is how many samples the per-stack totals map had no room for.
func (t *Tracer) LostTotals() uint64 { return t.counter(memallocMaCounterMA_LOST_TOTALS) }

func (t *Tracer) counter(c memallocMaCounter) uint64 {
	var per []uint64
	if err := t.objs.PxMaCounters.Lookup(uint32(c), &per); err != nil {
		return 0
	}
	var s uint64
	for _, v := range per {
		s += v
	}
	return s
}

// Stats returns the programs' total run time and run count (bpf_stats)
// and the sampled allocations lost to a full map (live allocations or
// per-stack totals).
func (t *Tracer) Stats() (runNs, runCount, lost uint64) {
	for _, p := range []*ebpf.Program{t.objs.PxMaMalloc, t.objs.PxMaCalloc, t.objs.PxMaRealloc, t.objs.PxMaAllocRet, t.objs.PxMaFree, t.objs.PxMaGomalloc} {
		if p == nil {
			continue
		}
		if s, err := p.Stats(); err == nil {
			runNs += uint64(s.Runtime)
			runCount += s.RunCount
		}
	}
	_, _, _, lost, _ = t.Counters()
	return runNs, runCount, lost + t.LostTotals()
}

// Close detaches and unloads everything.
func (t *Tracer) Close() error {
	for i := len(t.links) - 1; i >= 0; i-- {
		_ = t.links[i].Close()
	}
	t.links = nil
	if t.stats != nil {
		_ = t.stats.Close()
		t.stats = nil
	}
	return t.objs.Close()
}
