//go:build linux && amd64

// uprobe measures what one uprobe hit costs on this host, by the first
// instruction of the probed function: the kernel traps on a breakpoint
// there, then single-steps that instruction out of line (a second trap)
// unless it can emulate it, and kernels from 6.18 turn a 5-byte nop into a
// call with no trap. The TLS probes pay this on every SSL_read, SSL_write
// and Go crypto/tls call of a traced process (docs/benchmarks.md). Root.
//
//	make bench-uprobe   # go build, then run it: go run strips the symbols it probes
package main

import (
	"debug/elf"
	"flag"
	"fmt"
	"os"
	"runtime"
	"slices"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/rlimit"
	"golang.org/x/sys/unix"

	"github.com/kubectl-pixie/kubectl-pixie/probes/socktrace"
)

var (
	rounds = flag.Int("rounds", 5, "interleaved rounds")
	calls  = flag.Int("n", 20000, "calls per measurement")
)

func main() {
	flag.Parse()
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "uprobe:", err)
		os.Exit(1)
	}
}

// modes: how each target is probed in a measurement.
var modes = []string{"none", "uprobe", "uprobe + uretprobe"}

func run() error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("run as root: it attaches uprobes (sudo make bench-uprobe)")
	}
	if *rounds < 1 || *calls < 1 {
		return fmt.Errorf("-rounds and -n must be positive")
	}
	if err := rlimit.RemoveMemlock(); err != nil {
		return err
	}
	// The least a uprobe program can do: the cost measured is the kernel's.
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{Type: ebpf.Kprobe, License: "GPL",
		Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, 0), asm.Return()}})
	if err != nil {
		return fmt.Errorf("loading the empty program: %w", err)
	}
	defer prog.Close()
	// Run counts prove each call hit the probes (and nothing else did).
	stats, err := ebpf.EnableStats(uint32(unix.BPF_STATS_RUN_TIME))
	if err != nil {
		return fmt.Errorf("enabling BPF run counts: %w", err)
	}
	defer stats.Close()
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	ex, err := link.OpenExecutable(exe)
	if err != nil {
		return err
	}
	runtime.LockOSThread()
	ns := map[string][]float64{} // target/mode -> ns per call, one per round
	for r := range *rounds {
		for _, tg := range targets {
			for i := range modes {
				m := modes[(i+r)%len(modes)] // rotate: no mode always first
				if m == "uprobe + uretprobe" && tg.atJump {
					continue // a uretprobe sits on the entry
				}
				off := uint64(0)
				if tg.atJump {
					if off, err = jumpOffset(exe, symbol(tg.name, true)); err != nil {
						return err
					}
				}
				v, err := measure(ex, prog, symbol(tg.name, tg.atJump), tg.fn, m, off)
				if err != nil {
					return err
				}
				ns[tg.name+"/"+m] = append(ns[tg.name+"/"+m], v)
			}
		}
	}
	kernel, _ := os.ReadFile("/proc/sys/kernel/osrelease")
	fmt.Printf("## uprobe: the cost of one hit by the probed function's first instruction\n\n")
	fmt.Printf("Kernel %s, %d rounds of %d calls, an empty BPF program; ns per call, min / median / max (extra: median minus the unprobed median).\n\n", trim(kernel), *rounds, *calls)
	fmt.Println("| function | its first instruction | mode | ns per call min | median | max | extra per call (median) |")
	fmt.Println("|---|---|---|---:|---:|---:|---:|")
	for _, tg := range targets {
		base := median(ns[tg.name+"/none"])
		for _, m := range modes {
			v := ns[tg.name+"/"+m]
			if len(v) == 0 {
				continue
			}
			extra := "-"
			if m != "none" {
				extra = fmt.Sprintf("%.0f", median(v)-base)
			}
			fmt.Printf("| %s | %s | %s | %.0f | %.0f | %.0f | %s |\n", tg.name, tg.what, m, slices.Min(v), median(v), slices.Max(v), extra)
		}
	}
	return nil
}

// measure times n calls of fn, symbol sym, with the probes of mode
// attached, the uprobe off bytes into it.
func measure(ex *link.Executable, prog *ebpf.Program, sym string, fn func(int) int, mode string, off uint64) (float64, error) {
	opts := &link.UprobeOptions{PID: os.Getpid(), Offset: off}
	var ls []link.Link
	defer func() {
		for _, l := range ls {
			_ = l.Close()
		}
	}()
	if mode != "none" {
		l, err := ex.Uprobe(sym, prog, opts)
		if err != nil {
			return 0, fmt.Errorf("uprobe on %s: %w", sym, err)
		}
		ls = append(ls, l)
	}
	if mode == "uprobe + uretprobe" {
		l, err := ex.Uretprobe(sym, prog, &link.UprobeOptions{PID: os.Getpid()})
		if err != nil {
			return 0, fmt.Errorf("uretprobe on %s: %w", sym, err)
		}
		ls = append(ls, l)
	}
	before, err := runs(prog)
	if err != nil {
		return 0, err
	}
	x := 0
	start := time.Now()
	for range *calls {
		x = fn(x)
	}
	d := time.Since(start)
	if x != *calls {
		return 0, fmt.Errorf("%s counted %d of %d calls", sym, x, *calls)
	}
	after, err := runs(prog)
	if err != nil {
		return 0, err
	}
	// A stack check's jump runs again when a preemption request (sysmon,
	// every 10 ms of running) or a stack growth sends the call through
	// morestack: a few runs more than calls, up to one per 10 ms here.
	want, extra := uint64(len(ls)**calls), uint64(0)
	if off != 0 {
		extra = uint64(d/(10*time.Millisecond)) + 1
	}
	if after-before < want || after-before > want+extra {
		return 0, fmt.Errorf("%s, %s: the program ran %d times in %d calls, want %d (up to %d more at a stack check)", sym, mode, after-before, *calls, want, extra)
	}
	return float64(d.Nanoseconds()) / float64(*calls), nil
}

// jumpOffset is the offset in function sym of exe of the conditional jump
// that ends Go's stack check, where the Go TLS probes go (the same search).
func jumpOffset(exe, sym string) (uint64, error) {
	f, err := elf.Open(exe)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	syms, err := f.Symbols()
	if err != nil {
		return 0, fmt.Errorf("%s: %w (make bench-uprobe builds it unstripped)", exe, err)
	}
	for _, s := range syms {
		if s.Name != sym {
			continue
		}
		code := make([]byte, 32)
		if _, err := f.Section(".text").ReadAt(code, int64(s.Value-f.Section(".text").Addr)); err != nil {
			return 0, err
		}
		off := socktrace.StackCheckJump(code)
		if off == 0 {
			return 0, fmt.Errorf("%s does not start with Go's stack check (% x)", sym, code)
		}
		return off, nil
	}
	return 0, fmt.Errorf("%s: no symbol %s", exe, sym)
}

func runs(p *ebpf.Program) (uint64, error) {
	s, err := p.Stats()
	if err != nil {
		return 0, fmt.Errorf("reading the program's run count: %w", err)
	}
	return s.RunCount, nil
}

func median(v []float64) float64 {
	s := slices.Sorted(slices.Values(v))
	return s[len(s)/2]
}

func trim(b []byte) string {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == ' ') {
		b = b[:len(b)-1]
	}
	return string(b)
}
