//go:build linux

package profile

import (
	"bufio"
	"bytes"
	"debug/elf"
	"debug/gosym"
	"encoding/json"
	"fmt"
	"io"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kubectl-pixie/kubectl-pixie/plugin/flame"
	"github.com/kubectl-pixie/kubectl-pixie/probes/api"
	"github.com/kubectl-pixie/kubectl-pixie/probes/internal/attach"
	"github.com/kubectl-pixie/kubectl-pixie/probes/internal/probetest"
)

// BenchmarkProfileOverhead measures the probe's cost at 99 Hz on every CPU
// (--all, as on a node): BPF run time (bpf_stats) plus the agent's user and
// system time, as a share of one CPU, next to `perf record -F 99 -g -a` in
// the same run. Once with the machine as it is ("idle": no load of ours),
// once with one busy process per CPU ("busy").
// Run: make bench-profile (root).
func BenchmarkProfileOverhead(b *testing.B) {
	probetest.RequirePrivileged(b)
	probetest.RequireCommand(b, "perf")
	secs := envInt("PIXIE_BENCH_PROFILE_SECONDS", 20)
	dir := b.TempDir()
	agent := filepath.Join(dir, "pixie-agent")
	if out, err := exec.Command("go", "build", "-o", agent, "../../cmd/pixie-agent").CombinedOutput(); err != nil {
		b.Fatalf("building the agent: %v\n%s", err, out)
	}
	burn := filepath.Join(dir, "goburn")
	if out, err := exec.Command("go", "build", "-o", burn, "./testdata/goburn").CombinedOutput(); err != nil {
		b.Fatalf("building goburn: %v\n%s", err, out)
	}
	cburn := filepath.Join(dir, "cnofp")
	if out, err := exec.Command("gcc", "-O2", "-fomit-frame-pointer", "-o", cburn, "testdata/cnofp.c").CombinedOutput(); err != nil {
		b.Fatalf("building cnofp: %v\n%s", err, out)
	}
	cpus, _ := attach.OnlineCPUs()
	// idle and busy profile the whole machine (--all, what a node profile
	// costs); busy-pid profiles one busy process (a pod) by PID;
	// busy-c-pid a C program without frame pointers, unwound with CFI.
	// A -fp suffix forces frame pointers, the cost of CFI side by side.
	for _, name := range []string{"idle", "idle-fp", "busy", "busy-fp", "busy-pid", "busy-c-pid"} {
		scenario, fp := strings.CutSuffix(name, "-fp")
		b.Run(name, func(b *testing.B) {
			cfg := api.ProfileConfig{All: true, Hz: 99, DurationNs: int64(secs) * int64(time.Second)}
			if fp {
				cfg.Unwind = api.ProfileUnwindFP
			}
			perfTarget := []string{"-a"}
			if scenario != "idle" {
				for range cpus {
					bin := burn
					if scenario == "busy-c-pid" {
						bin = cburn
					}
					c := exec.Command(bin, fmt.Sprint(secs+5))
					if err := c.Start(); err != nil {
						b.Fatal(err)
					}
					defer func() { _ = c.Process.Kill(); _ = c.Wait() }()
					if strings.HasSuffix(scenario, "-pid") && cfg.All {
						cfg.All, cfg.PIDs = false, []uint32{uint32(c.Process.Pid)}
						perfTarget = []string{"-p", fmt.Sprint(c.Process.Pid)}
					}
				}
				time.Sleep(500 * time.Millisecond)
			}
			cfgJSON, _ := json.Marshal(cfg)
			ag := exec.Command(agent, "profile", "--config", string(cfgJSON))
			var out bytes.Buffer
			ag.Stdout = &out
			perfData := filepath.Join(dir, "perf-"+name+".data")
			pf := exec.Command("perf", append(append([]string{"record", "-F", "99", "-g", "-q", "-o", perfData}, perfTarget...), "--", "sleep", fmt.Sprint(secs))...)
			wall := time.Now()
			if err := ag.Start(); err != nil {
				b.Fatal(err)
			}
			if err := pf.Start(); err != nil {
				b.Fatal(err)
			}
			if err := pf.Wait(); err != nil {
				b.Fatalf("perf record: %v", err)
			}
			if err := ag.Wait(); err != nil {
				b.Fatalf("agent: %v", err)
			}
			elapsed := time.Since(wall)
			var first, final *api.ProbeStats
			var samples uint64
			sc := bufio.NewScanner(&out)
			sc.Buffer(make([]byte, 1<<20), 16<<20)
			for sc.Scan() {
				var h api.Header
				_ = json.Unmarshal(sc.Bytes(), &h)
				switch h.Table {
				case api.TableProbeStats:
					var s api.ProbeStats
					_ = json.Unmarshal(sc.Bytes(), &s)
					if first == nil {
						first = &s
					}
					if s.Final {
						final = &s
					}
				case api.TableStackTraces:
					var r api.StackTrace
					_ = json.Unmarshal(sc.Bytes(), &r)
					samples += r.Count
				}
			}
			if final == nil || first == nil {
				b.Fatal("no probe_stats from the agent")
			}
			win := float64(final.WindowNs)
			total := 100 * float64(final.BPFRunNs+final.UserCPUNs) / win
			bpf := 100 * float64(final.BPFRunNs) / win
			// Steady state: from the first interval snapshot to the end,
			// without start-up (BPF load, first ELF parses).
			steady := 100 * float64(final.BPFRunNs-first.BPFRunNs+final.UserCPUNs-first.UserCPUNs) / float64(final.WindowNs-first.WindowNs)
			perfCPU := 100 * float64(pf.ProcessState.UserTime()+pf.ProcessState.SystemTime()) / float64(elapsed)
			b.ReportMetric(total, "%cpu-probe")
			b.ReportMetric(steady, "%cpu-probe-steady")
			b.ReportMetric(bpf, "%cpu-bpf")
			b.ReportMetric(perfCPU, "%cpu-perf-record")
			b.ReportMetric(float64(final.BPFRunNs)/float64(max(final.BPFRunCount, 1)), "ns/bpf-run")
			b.ReportMetric(float64(samples), "samples")
			fmt.Printf("PROFILE-BENCH %s cpus=%d secs=%d samples=%d bpf_runs=%d probe=%.3f%% steady=%.3f%% bpf=%.3f%% bpf_ns_per_run=%.0f agent_rss=%dMiB perf_record=%.3f%%\n",
				name, len(cpus), secs, samples, final.BPFRunCount, total, steady, bpf,
				float64(final.BPFRunNs)/float64(max(final.BPFRunCount, 1)), final.PeakRSSBytes>>20, perfCPU)
		})
	}
}

func envInt(name string, def int) int {
	var v int
	if _, err := fmt.Sscan(os.Getenv(name), &v); err == nil && v > 0 {
		return v
	}
	return def
}

// BenchmarkProfile1M times a profile of one million samples from the
// probe's symbolization to a written result: 50,000 distinct stacks of 20
// frames in a real Go binary (this test binary, parsed cold) are folded and
// symbolized (1M addresses), sent as NDJSON stack_traces records, decoded
// and merged as the plugin does, and written as pprof, folded and SVG.
func BenchmarkProfile1M(b *testing.B) {
	for _, stacks := range []int{10_000, 50_000} {
		b.Run(fmt.Sprintf("stacks=%d", stacks), func(b *testing.B) { bench1M(b, stacks) })
	}
}

func cpuNow() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func bench1M(b *testing.B, stacks int) {
	exe, err := os.Executable()
	if err != nil {
		b.Fatal(err)
	}
	pcs := textPCs(b, exe)
	const depth, samples = 20, 1_000_000
	rng := rand.New(rand.NewSource(1))
	// Stacks are walks down a call graph where each function calls one of
	// 4 others, so stacks share prefixes as real ones do (random frames at
	// every level would give a tree no real program has).
	callee := func(parent uint64, k int) uint64 { return pcs[(parent*2654435761+uint64(k)*40503)%uint64(len(pcs))] }
	type st struct {
		addrs []uint64
		n     uint64
	}
	in := make([]st, 0, stacks)
	seen := map[string]bool{}
	left := uint64(samples)
	for len(in) < stacks {
		addrs := make([]uint64, depth) // leaf first, as the kernel gives them
		cur := pcs[rng.Intn(8)]
		for j := depth - 1; j >= 0; j-- {
			addrs[j] = cur
			cur = callee(cur, rng.Intn(4))
		}
		k := fmt.Sprint(addrs)
		if seen[k] {
			continue
		}
		seen[k] = true
		in = append(in, st{addrs: addrs, n: uint64(samples / stacks)})
		left -= uint64(samples / stacks)
	}
	in[0].n += left
	for b.Loop() {
		runtime.GC()
		start, cpu0 := time.Now(), cpuNow()
		p := &Probe{sym: NewSymbolizer(""), procs: map[uint32]procInfo{}}
		var wire bytes.Buffer
		enc := json.NewEncoder(&wire)
		pid := uint32(os.Getpid())
		for _, s := range in {
			f := p.fold(pid, s.addrs, nil)
			if err := enc.Encode(&api.StackTrace{Header: api.Header{Table: api.TableStackTraces}, PID: pid, Comm: "bench", Stack: f.stack, Count: s.n, Modules: f.modules, Lines: f.lines}); err != nil {
				b.Fatal(err)
			}
		}
		symbolized := time.Since(start)
		prof := flame.New(99)
		dec := json.NewDecoder(&wire)
		for {
			var r api.StackTrace
			if err := dec.Decode(&r); err == io.EOF {
				break
			} else if err != nil {
				b.Fatal(err)
			}
			prof.AddRecord(&r)
		}
		if prof.Total() != samples {
			b.Fatalf("merged %d samples", prof.Total())
		}
		merged := time.Since(start)
		var pprofOut, folded, svg countWriter
		if err := prof.WritePprof(&pprofOut); err != nil {
			b.Fatal(err)
		}
		pprofAt := time.Since(start)
		_ = prof.WriteFolded(&folded)
		_ = prof.WriteSVG(&svg, "bench")
		all := time.Since(start)
		cpu := cpuNow() - cpu0
		b.ReportMetric(cpu.Seconds(), "s-cpu")
		b.ReportMetric(symbolized.Seconds(), "s-symbolize+encode")
		b.ReportMetric(merged.Seconds(), "s-to-merged")
		b.ReportMetric(pprofAt.Seconds(), "s-to-pprof")
		b.ReportMetric(all.Seconds(), "s-all-formats")
		fmt.Printf("PROFILE-BENCH 1M samples=%d stacks=%d frames=%d cpu=%.2fs wall: symbolize+encode=%.2fs decode+merge=%.2fs pprof=%.2fs (%d KiB) folded+svg=%.2fs (%d KiB, %d KiB) total=%.2fs\n",
			samples, stacks, stacks*depth, cpu.Seconds(), symbolized.Seconds(), (merged - symbolized).Seconds(), (pprofAt - merged).Seconds(), pprofOut.n>>10,
			(all - pprofAt).Seconds(), folded.n>>10, svg.n>>10, all.Seconds())
	}
}

type countWriter struct{ n int }

func (c *countWriter) Write(p []byte) (int, error) { c.n += len(p); return len(p), nil }

// textPCs lists code addresses inside the Go functions of a binary.
func textPCs(b *testing.B, path string) []uint64 {
	f, err := elf.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	data, err := f.Section(".gopclntab").Data()
	if err != nil {
		b.Fatal(err)
	}
	tab, err := gosym.NewTable(nil, gosym.NewLineTable(data, f.Section(".text").Addr))
	if err != nil {
		b.Fatal(err)
	}
	var pcs []uint64
	for _, fn := range tab.Funcs {
		if fn.End > fn.Entry+8 && !strings.HasPrefix(fn.Name, "type:") {
			pcs = append(pcs, fn.Entry+4)
		}
	}
	return pcs
}
