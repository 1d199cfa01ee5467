//go:build linux

package local

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
)

// TestDiffMemoryAndMap: diff on real recordings of memory and map.
// memory: the C leak growing 0 B/s, then 4 MiB/s: its growth rate and its
// verdict (stable -> leak) are marked. map: a Go client calling two
// servers, the second 20ms slower on its endpoint in the new run: that
// edge, and only it, is marked (p50 and p99). The memory runs and the map
// runs trace their own PIDs, so they run at once.
func TestDiffMemoryAndMap(t *testing.T) {
	requirePrivileged(t)
	dir := t.TempDir()
	leaks := [2]uint32{startC(t, "../../probes/memtrend/testdata/leak.c", "0"), startC(t, "../../probes/memtrend/testdata/leak.c", "4194304")}
	slowBin := copyExecutable(t, "pixie-slowsrv")
	var wg sync.WaitGroup
	mem := [2]string{filepath.Join(dir, "mem-base.pixie.gz"), filepath.Join(dir, "mem-new.pixie.gz")}
	for i := range mem {
		wg.Go(func() {
			cmd := exec.Command(pluginBin, "memory", "--local", "--pid", fmt.Sprint(leaks[i]), "--interval", "250ms", "--duration", "8s", "--no-stream", "--record", mem[i])
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Errorf("memory run %d: %v\n%s", i, err, out)
			}
		})
	}
	maps := [2]string{recordMapRun(t, dir, slowBin, "base"), recordMapRun(t, dir, slowBin, "new")}
	wg.Wait()
	if t.Failed() {
		return
	}
	checkMemoryDiff(t, mem)
	checkMapDiff(t, maps)
}

// copyExecutable copies the test binary under another name: a server
// whose process name differs from the client's and the other server's
// (diff joins map nodes by name, PIDs left out).
func copyExecutable(t *testing.T, name string) string {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	src, err := os.Open(self)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = src.Close() }()
	path := filepath.Join(t.TempDir(), name)
	dst, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

// recordMapRun records a 10s map of two clients making diffRequests
// requests each, to /cart of a diff server and to /checkout of another one
// (slowBin, in mode: "new" sleeps 20ms in /checkout), and returns the
// recording.
func recordMapRun(t *testing.T, dir, slowBin, mode string) string {
	t.Helper()
	fast := startRole(t, "diffserver", "base")
	cmd := exec.Command(slowBin, mode)
	cmd.Env = append(os.Environ(), roleEnv+"=diffserver")
	slow := startProc(t, cmd)
	// One client per server: a client makes its requests on one connection.
	var clis []*proc
	for _, addr := range []string{fast.line(t) + "/cart", slow.line(t) + "/checkout"} {
		cli := startRole(t, "client", planArg(clientPlan{URLs: slices.Repeat([]string{"http://" + addr}, diffRequests), Wait: true}))
		if cli.line(t) != "ready" {
			t.Fatal("client not ready")
		}
		clis = append(clis, cli)
	}
	file := filepath.Join(dir, "map-"+mode+".pixie.gz")
	// A fixed window, not Ctrl-C: both runs' rates share a denominator.
	m := startMap(t, append(pidArgs(clis[0].pid(), clis[1].pid(), fast.pid(), slow.pid()), "--duration", "10s", "--no-stream", "--record", file)...)
	for _, cli := range clis {
		fmt.Fprintln(cli.stdin)
	}
	for _, cli := range clis {
		if res := parseClient(t, cli.line(t)); len(res.Statuses) != diffRequests {
			t.Fatalf("%s: a client made %d requests, want %d", mode, len(res.Statuses), diffRequests)
		}
	}
	if err := m.cmd.Wait(); err != nil {
		t.Fatalf("%s map: %v\n%s", mode, err, m.errOut.String())
	}
	return file
}

// diffRows runs diff -o json on two recordings: its records by key.
func diffRows[R any](t *testing.T, files [2]string, key func(R) string) map[string]R {
	t.Helper()
	js, stderr, code := runDiff(t, files[0], files[1], "-o", "json", "--min-delta", "15ms")
	if code != 0 {
		t.Fatalf("diff -o json: status %d\n%s", code, stderr)
	}
	rows := map[string]R{}
	for _, l := range strings.Split(strings.TrimSpace(js), "\n") {
		var r R
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			t.Fatalf("%v: %s", err, l)
		}
		rows[key(r)] = r
	}
	t.Logf("diff -o json:\n%s", js)
	return rows
}

func checkMemoryDiff(t *testing.T, files [2]string) {
	type side struct {
		GrowthPerSec float64
		Verdict      string
	}
	type row struct {
		Process string   `json:"process"`
		B       *side    `json:"base"`
		N       *side    `json:"new"`
		Marked  []string `json:"marked"`
	}
	rows := diffRows(t, files, func(r row) string { return r.Process })
	r, ok := rows["leak"]
	if len(rows) != 1 || !ok || r.B == nil || r.N == nil {
		t.Fatalf("want one process, leak, in both runs: %+v", rows)
	}
	const mib = 1 << 20
	if math.Abs(r.B.GrowthPerSec) > 0.1*mib || math.Abs(r.N.GrowthPerSec-4*mib) > mib {
		t.Errorf("growth %.0f B/s -> %.0f B/s, want about 0 -> 4 MiB/s", r.B.GrowthPerSec, r.N.GrowthPerSec)
	}
	if r.B.Verdict != "stable" || r.N.Verdict != "leak" || !slices.Equal(r.Marked, []string{"rate", "verdict"}) {
		t.Errorf("verdict %s -> %s marked %v, want stable -> leak marked [rate verdict]", r.B.Verdict, r.N.Verdict, r.Marked)
	}
	table, _, _ := runDiff(t, files[0], files[1])
	if !strings.Contains(table, "stable → leak *") || !strings.Contains(table, "2 changes marked *") {
		t.Errorf("memory diff table:\n%s", table)
	}
}

func checkMapDiff(t *testing.T, files [2]string) {
	type side struct {
		Count uint64 `json:"count"`
	}
	type row struct {
		Edge     string   `json:"service"`
		Protocol string   `json:"endpoint"`
		Base     *side    `json:"base"`
		New      *side    `json:"new"`
		Marked   []string `json:"marked"`
	}
	rows := diffRows(t, files, func(r row) string { return r.Edge + " " + r.Protocol })
	want := map[string][]string{"local.test -> local.test http": {}, "local.test -> pixie-slowsrv http": {"p50", "p99"}}
	if len(rows) != len(want) {
		t.Errorf("edges %v, want %v", slices.Sorted(maps.Keys(rows)), slices.Sorted(maps.Keys(want)))
	}
	for k, m := range want {
		r, ok := rows[k]
		if !ok || r.Base == nil || r.New == nil || r.Base.Count != diffRequests || r.New.Count != diffRequests || !slices.Equal(r.Marked, m) {
			t.Errorf("edge %q: %+v, want %d requests in each run, marked %v", k, r, diffRequests, m)
		}
	}
	if table, _, _ := runDiff(t, files[0], files[1], "--min-delta", "15ms"); !strings.Contains(table, "2 changes marked *") {
		t.Errorf("map diff table:\n%s", table)
	}
}
