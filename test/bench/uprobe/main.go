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
				v, err := measure(ex, prog, tg.name, tg.fn, m)
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
			extra := "-"
			if m != "none" {
				extra = fmt.Sprintf("%.0f", median(v)-base)
			}
			fmt.Printf("| %s | %s | %s | %.0f | %.0f | %.0f | %s |\n", tg.name, tg.what, m, slices.Min(v), median(v), slices.Max(v), extra)
		}
	}
	return nil
}

// measure times n calls of fn with the probes of mode attached. The asm
// body is main.NAME.abi0 (main.NAME is Go's ABI wrapper that calls it).
func measure(ex *link.Executable, prog *ebpf.Program, name string, fn func(int) int, mode string) (float64, error) {
	opts := &link.UprobeOptions{PID: os.Getpid()}
	var ls []link.Link
	defer func() {
		for _, l := range ls {
			_ = l.Close()
		}
	}()
	if mode != "none" {
		l, err := ex.Uprobe("main."+name+".abi0", prog, opts)
		if err != nil {
			return 0, fmt.Errorf("uprobe on main.%s: %w", name, err)
		}
		ls = append(ls, l)
	}
	if mode == "uprobe + uretprobe" {
		l, err := ex.Uretprobe("main."+name+".abi0", prog, opts)
		if err != nil {
			return 0, fmt.Errorf("uretprobe on main.%s: %w", name, err)
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
		return 0, fmt.Errorf("main.%s counted %d of %d calls", name, x, *calls)
	}
	after, err := runs(prog)
	if err != nil {
		return 0, err
	}
	if want := uint64(len(ls) * *calls); after-before != want {
		return 0, fmt.Errorf("main.%s, %s: the program ran %d times in %d calls, want %d", name, mode, after-before, *calls, want)
	}
	return float64(d.Nanoseconds()) / float64(*calls), nil
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
