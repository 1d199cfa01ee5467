//go:build linux

package profile

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kubectl-pixie/kubectl-pixie/plugin/flame"
	"github.com/kubectl-pixie/kubectl-pixie/probes/api"
	"github.com/kubectl-pixie/kubectl-pixie/probes/internal/probetest"
)

// workload is a real process under test.
type workload struct {
	name string // as the test refers to it
	cmd  *exec.Cmd
	out  bytes.Buffer
	hot  string // the function that should dominate
}

func (w *workload) pid() uint32 { return uint32(w.cmd.Process.Pid) }

// truth is the CPU split the workload measured itself (seconds).
func (w *workload) truth(t *testing.T) map[string]float64 {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(w.out.Bytes(), &m); err != nil {
		t.Fatalf("%s printed %q: %v", w.name, w.out.String(), err)
	}
	out := map[string]float64{}
	for k, v := range m {
		if f, ok := v.(float64); ok {
			out[k] = f
		}
	}
	return out
}

func start(t *testing.T, name, hot string, args ...string) *workload {
	t.Helper()
	w := &workload{name: name, hot: hot}
	w.cmd = exec.Command(args[0], args[1:]...)
	w.cmd.Dir = t.TempDir() // node writes its V8 logs to the working directory
	w.cmd.Stdout = &w.out
	w.cmd.Stderr = os.Stderr
	if err := w.cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", name, err)
	}
	t.Cleanup(func() { _ = w.cmd.Process.Kill(); _ = w.cmd.Wait() })
	return w
}

func build(t *testing.T, dir string) (goBin, goStripped, cBin string) {
	t.Helper()
	goBin, goStripped, cBin = filepath.Join(dir, "goburn"), filepath.Join(dir, "goburn-stripped"), filepath.Join(dir, "cburn")
	run := func(name string, args ...string) {
		cmd := exec.Command(name, args...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s %v: %v\n%s", name, args, err, out)
		}
	}
	run("go", "build", "-o", goBin, "./testdata/goburn")
	run("go", "build", "-ldflags=-s -w", "-o", goStripped, "./testdata/goburn")
	run("clang-19", "-O2", "-pthread", "-fno-omit-frame-pointer", "-mno-omit-leaf-frame-pointer", "-o", cBin, "testdata/cburn.c")
	// The stripped binary must really have no symbol table.
	if out, _ := exec.Command("file", goStripped).Output(); len(out) > 0 && !bytes.Contains(out, []byte("stripped")) {
		t.Fatalf("goburn-stripped is not stripped: %s", out)
	}
	return
}

// leafCounts is samples per leaf function of one process.
type leafCounts map[string]uint64

func (l leafCounts) total() uint64 {
	var n uint64
	for _, v := range l {
		n += v
	}
	return n
}

func (l leafCounts) share(name string) float64 {
	if l.total() == 0 {
		return 0
	}
	return float64(l[name]) / float64(l.total())
}

// kernelMark prefixes kernel leaves in leafCounts.
const kernelMark = "[k] "

// user returns the user-space leaves only.
func (l leafCounts) user() leafCounts {
	u := leafCounts{}
	for k, v := range l {
		if !strings.HasPrefix(k, kernelMark) {
			u[k] = v
		}
	}
	return u
}

// top lists the n leaves with the most samples.
func (l leafCounts) top(n int) []string {
	names := make([]string, 0, len(l))
	for k := range l {
		names = append(names, k)
	}
	sort.Slice(names, func(i, j int) bool {
		if l[names[i]] != l[names[j]] {
			return l[names[i]] > l[names[j]]
		}
		return names[i] < names[j]
	})
	if len(names) > n {
		names = names[:n]
	}
	return names
}

// perfRecord runs Debian's `perf record -F 99 -g` on pids for d and returns
// leaf counts per PID from `perf script`.
func perfRecord(dir string, pids []uint32, d time.Duration) (map[uint32]leafCounts, error) {
	data := filepath.Join(dir, "perf.data")
	var list []string
	for _, p := range pids {
		list = append(list, strconv.Itoa(int(p)))
	}
	rec := exec.Command("perf", "record", "-F", "99", "-g", "-o", data, "-p", strings.Join(list, ","),
		"--", "sleep", strconv.Itoa(int(d/time.Second)))
	if out, err := rec.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("perf record: %w\n%s", err, out)
	}
	out, err := exec.Command("perf", "script", "-i", data, "-F", "pid,ip,sym,dso").Output()
	if err != nil {
		return nil, fmt.Errorf("perf script: %w", err)
	}
	res := map[uint32]leafCounts{}
	var pid uint32
	leafNext := false
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.TrimSpace(line) == "" {
			continue
		}
		if !strings.HasPrefix(line, "\t") && !strings.HasPrefix(line, " \t") {
			v, err := strconv.Atoi(strings.TrimSpace(line))
			if err == nil {
				pid, leafNext = uint32(v), true
			}
			continue
		}
		if !leafNext {
			continue
		}
		leafNext = false
		kernel := strings.HasSuffix(strings.TrimSpace(line), "([kernel.kallsyms])")
		if i := strings.LastIndex(line, " ("); i > 0 {
			line = line[:i] // the dso
		}
		f := strings.Fields(line)
		sym := "[unknown]"
		if len(f) >= 2 {
			sym = strings.Join(f[1:], " ")
		}
		if kernel {
			sym = kernelMark + sym
		}
		if res[pid] == nil {
			res[pid] = leafCounts{}
		}
		res[pid][sym]++
	}
	return res, sc.Err()
}

// tolerance is 5 percentage points, widened to 3 standard deviations of
// the sampling noise when a loaded machine gave few samples (logged).
func tolerance(t *testing.T, what string, p float64, n1, n2 uint64) float64 {
	v := p * (1 - p) / float64(max(n1, 1))
	if n2 > 0 {
		v += p * (1 - p) / float64(n2)
	}
	tol := math.Max(0.05, 3*math.Sqrt(v))
	if tol > 0.05 {
		t.Logf("%s: only %d/%d samples (machine busy): tolerance widened to %.1f points (3 sigma)", what, n1, n2, tol*100)
	}
	return tol
}

// TestProfileRealWorkloads profiles a Go program, the same program
// stripped, a C program (clang, frame pointers) and Node.js with
// --perf-basic-prof, side by side with `perf record -F 99 -g`, and checks
// names and shares against the truth each program measured and against perf.
func TestProfileRealWorkloads(t *testing.T) {
	probetest.RequirePrivileged(t)
	probetest.RequireCommand(t, "clang-19")
	probetest.RequireCommand(t, "perf")
	probetest.RequireCommand(t, "go")
	dir := t.TempDir()
	goBin, goStripped, cBin := build(t, dir)

	const window = 10 * time.Second
	life := fmt.Sprint((window + 4*time.Second).Seconds())
	ws := []*workload{
		start(t, "go", "main.hotAlpha", goBin, life),
		start(t, "go-stripped", "main.hotAlpha", goStripped, life),
		start(t, "c", "burn_gamma", cBin, life),
	}
	if node, err := exec.LookPath("node"); err == nil {
		js, _ := filepath.Abs("testdata/hot.js")
		ws = append(ws, start(t, "node", "JS:*hotLoop", node, "--perf-basic-prof", js, life))
	} else if os.Getenv(probetest.RequireEnv) == "1" {
		t.Fatalf("node not found (%s=1): the JIT (perf map) case must run; make deps installs nodejs", probetest.RequireEnv)
	} else {
		t.Log("node not found: the JIT (perf map) case is not run; make deps installs nodejs")
	}
	time.Sleep(1500 * time.Millisecond) // let Node's JIT compile the hot function
	var pids []uint32
	for _, w := range ws {
		pids = append(pids, w.pid())
	}

	var (
		wg       sync.WaitGroup
		perfLeaf map[uint32]leafCounts
		perfErr  error
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		perfLeaf, perfErr = perfRecord(dir, pids, window)
	}()
	recs, stats := runProbe(t, api.ProfileConfig{PIDs: pids, DurationNs: int64(window), Kernel: true})
	wg.Wait()
	if perfErr != nil {
		t.Fatal(perfErr)
	}
	for _, w := range ws {
		if err := w.cmd.Wait(); err != nil {
			t.Fatalf("%s: %v", w.name, err)
		}
	}

	ours := map[uint32]leafCounts{}
	prof := flame.New(99)
	var recTotal uint64
	for _, r := range recs {
		if ours[r.PID] == nil {
			ours[r.PID] = leafCounts{}
		}
		frames := strings.Split(r.Stack, ";")
		leaf := frames[len(frames)-1]
		if k, ok := strings.CutSuffix(leaf, "_[k]"); ok {
			leaf = kernelMark + k
		}
		ours[r.PID][leaf] += r.Count
		if r.Stack == "" || strings.Contains(r.Stack, ";;") {
			t.Errorf("blank frame in %q", r.Stack)
		}
		prof.AddRecord(r)
		recTotal += r.Count
	}
	if recTotal != stats.EventsCaptured {
		t.Errorf("records carry %d samples, probe_stats says %d captured", recTotal, stats.EventsCaptured)
	}

	for _, w := range ws {
		o, p := ours[w.pid()], perfLeaf[w.pid()]
		t.Logf("%s (pid %d): ours %d samples, perf %d samples", w.name, w.pid(), o.total(), p.total())
		for _, name := range o.top(5) {
			t.Logf("   ours %5.1f%%  perf %5.1f%%  %s", 100*o.share(name), 100*p.share(name), name)
		}
		if o.total() < 20 {
			t.Fatalf("%s: only %d samples", w.name, o.total())
		}
		if top := o.top(1)[0]; !strings.HasPrefix(top, w.hot) {
			t.Errorf("%s: hottest function is %q, want %q", w.name, top, w.hot)
		}
		// Against the truth the program measured itself.
		truth := map[string]float64{}
		if tr := w.truth(t); tr["total"] > 0 {
			for fn, secs := range tr {
				if fn == "total" || fn == "sink" {
					continue
				}
				want := secs / tr["total"]
				truth[fn] = want
				t.Logf("   truth %5.1f%%  %s", 100*want, fn)
				tol := tolerance(t, w.name+" "+fn+" vs truth", want, o.total(), 0)
				if got := o.share(fn); math.Abs(got-want) > tol {
					t.Errorf("%s: %s has %.1f%% of samples, the program measured %.1f%% of its CPU", w.name, fn, 100*got, 100*want)
				}
			}
		}
		// Against perf: top-5 self shares, ours and perf's, within 5 points.
		// perf cannot name a stripped Go binary's functions; pclntab can.
		if w.name == "go-stripped" {
			continue
		}
		// User-space leaves only: `perf record -p` counts with per-task
		// events, enabled at every switch-in, so it puts extra samples in
		// the scheduler (finish_task_switch) that per-CPU sampling like ours
		// spreads over the code that really ran.
		ou, pu := o.user(), p.user()
		names := map[string]bool{}
		for _, n := range append(ou.top(5), pu.top(5)...) {
			names[n] = true
		}
		for n := range names {
			a, b := ou.share(n), pu.share(n)
			tol := tolerance(t, w.name+" "+n+" vs perf", math.Max(a, b), ou.total(), pu.total())
			// Both are samples of the same truth, and a program that
			// switches functions in long runs makes each noisier than a
			// binomial: where the program measured the truth, being no
			// further from it than perf is as good as perf.
			if want, ok := truth[n]; ok && math.Abs(a-want) <= math.Abs(b-want) {
				continue
			}
			if math.Abs(a-b) > tol {
				t.Errorf("%s: %s self share %.1f%% here, %.1f%% in perf record", w.name, n, 100*a, 100*b)
			}
		}
	}

	checkOutputs(t, dir, prof, recTotal)
}

// checkOutputs writes the real profile in every format and reads it back
// with other tools.
func checkOutputs(t *testing.T, dir string, prof *flame.Profile, total uint64) {
	// pprof: go tool pprof -top opens it and its total is the sample count.
	pb := filepath.Join(dir, "cpu.pb.gz")
	f, err := os.Create(pb)
	if err != nil {
		t.Fatal(err)
	}
	if err := prof.WritePprof(f); err != nil {
		t.Fatal(err)
	}
	f.Close()
	out, err := exec.Command("go", "tool", "pprof", "-top", "-sample_index=samples", pb).CombinedOutput()
	if err != nil {
		t.Fatalf("go tool pprof: %v\n%s", err, out)
	}
	m := regexp.MustCompile(`of (\d+) total`).FindSubmatch(out)
	if m == nil || string(m[1]) != strconv.FormatUint(total, 10) {
		t.Fatalf("go tool pprof -top total: want %d\n%s", total, out)
	}
	if !bytes.Contains(out, []byte("main.hotAlpha")) {
		t.Errorf("pprof -top lacks main.hotAlpha:\n%s", out)
	}

	// folded round-trips.
	var a, b bytes.Buffer
	if err := prof.WriteFolded(&a); err != nil {
		t.Fatal(err)
	}
	q, err := flame.ParseFolded(bytes.NewReader(a.Bytes()), 99)
	if err != nil {
		t.Fatal(err)
	}
	_ = q.WriteFolded(&b)
	if a.String() != b.String() || q.Total() != total {
		t.Errorf("folded does not round-trip (%d vs %d samples)", q.Total(), total)
	}

	// SVG parses as XML and names the hot functions.
	var svg bytes.Buffer
	if err := prof.WriteSVG(&svg, "test"); err != nil {
		t.Fatal(err)
	}
	dec := xml.NewDecoder(bytes.NewReader(svg.Bytes()))
	for {
		if _, err := dec.Token(); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("SVG is not XML: %v", err)
		}
	}
	for _, fn := range []string{"main.hotAlpha", "burn_gamma"} {
		if !bytes.Contains(svg.Bytes(), []byte(fn)) {
			t.Errorf("SVG lacks %s", fn)
		}
	}
}

// runProbe runs the probe in this process and collects its records.
func runProbe(t *testing.T, cfg api.ProfileConfig) ([]*api.StackTrace, *api.ProbeStats) {
	t.Helper()
	return runProbeWith(t, context.Background(), cfg, func() {})
}

// runProbeWith is runProbe calling sampling() once the probe samples; ctx
// can end the run early.
func runProbeWith(t *testing.T, ctx context.Context, cfg api.ProfileConfig, sampling func()) ([]*api.StackTrace, *api.ProbeStats) {
	t.Helper()
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	sampling()
	var recs []*api.StackTrace
	var final *api.ProbeStats
	intervals := 0
	err = p.Run(ctx, func(rec any) error {
		switch r := rec.(type) {
		case *api.StackTrace:
			c := *r
			recs = append(recs, &c)
		case *api.ProbeStats:
			if r.Final {
				final = r
			} else {
				intervals++
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if final == nil {
		t.Fatal("no final probe_stats")
	}
	// A stalled machine drops ticker ticks; half the intervals is the floor.
	if want := int(time.Duration(cfg.DurationNs)/time.Second) / 2; intervals < want {
		t.Errorf("%d interval snapshots, want at least %d (deltas every second)", intervals, want)
	}
	if final.EventsLost > 0 || len(final.LostBy) > 0 {
		t.Logf("lost: %d %v", final.EventsLost, final.LostBy)
	}
	return recs, final
}
