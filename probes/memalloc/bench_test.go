//go:build linux

package memalloc

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kubectl-pixie/kubectl-pixie/probes/api"
	"github.com/kubectl-pixie/kubectl-pixie/probes/internal/probetest"
)

// TestBenchOverhead is `make bench-memory`: the throughput of two C loops
// while nothing, `memory`, and `memory --alloc` (each engine) watch them,
// phases interleaved in the same run of each loop, and the agent's own CPU
// and RSS. The loops: allocbench, malloc-bound (the uprobe engine's worst
// case), and faultbench, page-fault-bound (the fault engine's worst case).
// It needs PIXIE_BENCH=1 and PIXIE_BIN (the plugin binary; the agent runs
// as `PIXIE_BIN __agent memory`), and prints Markdown.
func TestBenchOverhead(t *testing.T) {
	if os.Getenv("PIXIE_BENCH") != "1" {
		t.Skip("benchmark: run with PIXIE_BENCH=1 PIXIE_BIN=bin/kubectl-pixie (make bench-memory)")
	}
	probetest.RequirePrivileged(t)
	bin := os.Getenv("PIXIE_BIN")
	if bin == "" {
		t.Fatal("PIXIE_BIN is not set")
	}
	rounds := envInt("PIXIE_BENCH_ROUNDS", 3)
	phase := time.Duration(envInt("PIXIE_BENCH_PHASE_S", 5)) * time.Second
	var md strings.Builder
	fmt.Fprintf(&md, "| %d rounds × %s phases | min | median | max |\n|---|---|---|---|\n", rounds, phase)
	benchLoop(t, &md, bin, "malloc loop (malloc+free pairs/s)", "testdata/allocbench.c", rounds, phase,
		[]string{"memory", "memory --alloc", "memory --alloc-mode uprobes"})
	benchLoop(t, &md, bin, "page-fault loop (pages/s)", "testdata/faultbench.c", rounds, phase,
		[]string{"memory", "memory --alloc"})
	fmt.Println(md.String())
}

func benchLoop(t *testing.T, md *strings.Builder, bin, name, src string, rounds int, phase time.Duration, modes []string) {
	prog := build(t, src)
	cmd := exec.Command(prog)
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	pid := cmd.Process.Pid

	type sample struct{ ns, ops uint64 }
	var mu sync.Mutex
	var samples []sample
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			f := strings.Fields(sc.Text())
			if len(f) != 2 {
				continue
			}
			ns, _ := strconv.ParseUint(f[0], 10, 64)
			ops, _ := strconv.ParseUint(f[1], 10, 64)
			mu.Lock()
			samples = append(samples, sample{ns, ops})
			mu.Unlock()
		}
	}()
	// throughput over the samples whose time falls in [from, to) (CLOCK_MONOTONIC ns).
	rate := func(from, to uint64) float64 {
		mu.Lock()
		defer mu.Unlock()
		var first, last *sample
		for i := range samples {
			if samples[i].ns >= from && samples[i].ns < to {
				if first == nil {
					first = &samples[i]
				}
				last = &samples[i]
			}
		}
		if first == nil || last == first {
			return 0
		}
		return float64(last.ops-first.ops) / (float64(last.ns-first.ns) / 1e9)
	}
	mono := func() uint64 { return uint64(monoNow()) }
	time.Sleep(time.Second) // warm up

	type result struct {
		ratio        []float64
		cpu, rss     []float64
		bpfNsPerCall []float64
	}
	res := map[string]*result{}
	var base []float64
	for r := 0; r < rounds; r++ {
		t0 := mono()
		time.Sleep(phase)
		b := rate(t0, mono())
		base = append(base, b)
		for _, mode := range modes {
			cfg := api.MemoryConfig{PIDs: []uint32{uint32(pid)}, DurationNs: int64(phase + time.Second), IntervalNs: int64(time.Second),
				Alloc: mode != "memory"}
			if strings.Contains(mode, "uprobes") {
				cfg.AllocMode = api.AllocModeUprobes
			}
			cj, _ := json.Marshal(cfg)
			agent := exec.Command(bin, "__agent", "memory", "--config", string(cj))
			var out bytes.Buffer
			agent.Stdout = &out
			agent.Stderr = os.Stderr
			if err := agent.Start(); err != nil {
				t.Fatal(err)
			}
			time.Sleep(time.Second) // attach
			p0 := mono()
			time.Sleep(phase - 500*time.Millisecond)
			got := rate(p0, mono())
			if err := agent.Wait(); err != nil {
				t.Fatalf("agent: %v\n%s", err, out.String())
			}
			var ps api.ProbeStats
			var note string
			for _, l := range bytes.Split(out.Bytes(), []byte("\n")) {
				if bytes.Contains(l, []byte(`"table":"probe_stats"`)) {
					_ = json.Unmarshal(l, &ps)
				}
				if bytes.Contains(l, []byte(`"table":"probe_log"`)) && bytes.Contains(l, []byte("--alloc:")) {
					var pl api.ProbeLog
					_ = json.Unmarshal(l, &pl)
					note = pl.Msg
				}
			}
			rr := res[mode]
			if rr == nil {
				rr = &result{}
				res[mode] = rr
			}
			rr.ratio = append(rr.ratio, got/b)
			rr.cpu = append(rr.cpu, 100*float64(ps.UserCPUNs)/float64(ps.WindowNs))
			rr.rss = append(rr.rss, float64(ps.PeakRSSBytes)/(1<<20))
			if ps.BPFRunCount > 0 {
				rr.bpfNsPerCall = append(rr.bpfNsPerCall, float64(ps.BPFRunNs)/float64(ps.BPFRunCount))
			}
			t.Logf("%s round %d %-28s %.0f/s vs base %.0f (ratio %.3f), agent CPU %.2f%% RSS %.0f MiB, bpf runs %d; %s",
				filepath.Base(src), r+1, mode, got, b, got/b, rr.cpu[len(rr.cpu)-1], rr.rss[len(rr.rss)-1], ps.BPFRunCount, note)
		}
	}
	fmt.Fprintf(md, "| **%s**: baseline | %s |\n", name, mmm(base, "%.0f"))
	for _, mode := range modes {
		rr := res[mode]
		fmt.Fprintf(md, "| `%s`: throughput / baseline | %s |\n", mode, mmm(rr.ratio, "%.3f"))
		fmt.Fprintf(md, "| `%s`: agent CPU (%% of one core) | %s |\n", mode, mmm(rr.cpu, "%.2f"))
		fmt.Fprintf(md, "| `%s`: agent peak RSS (MiB) | %s |\n", mode, mmm(rr.rss, "%.0f"))
		if len(rr.bpfNsPerCall) > 0 {
			fmt.Fprintf(md, "| `%s`: BPF ns per program run | %s |\n", mode, mmm(rr.bpfNsPerCall, "%.0f"))
		}
	}
}

func mmm(xs []float64, f string) string {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	if len(s) == 0 {
		return "- | - | -"
	}
	return fmt.Sprintf(f+" | "+f+" | "+f, s[0], s[len(s)/2], s[len(s)-1])
}

func envInt(k string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(k)); err == nil && v > 0 {
		return v
	}
	return def
}
