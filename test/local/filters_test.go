//go:build linux

package local

import (
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kubectl-pixie/kubectl-pixie/probes/api"
)

// TestTraceFilters: real curl traffic against a real nginx with known
// paths and statuses, traced by several runs at once, each with other
// filter flags. Each run must keep exactly the expected requests (events)
// and endpoints (summaries, with their counts), in the asked order.
func TestTraceFilters(t *testing.T) {
	requirePrivileged(t)
	curl := requireCmd(t, "curl")
	ng := startNginx(t, false,
		`location = /ok { return 200 "ok\n"; }`,
		`location = /boom { return 500; }`,
		`location = /gone { return 503; }`)
	traffic := map[string]int{"/ok": 6, "/boom": 3, "/missing": 2, "/gone": 1} // /missing: nginx's 404
	type row struct {
		path, class string
		count       uint64
	}
	runs := []struct {
		name   string
		args   []string
		events map[string]int // path -> requests
		rows   []row          // summaries, in order
	}{
		{"no filter, top 3 by requests", []string{"--sort-by", "req", "--top", "3"},
			traffic, []row{{"/ok", "2xx", 6}, {"/boom", "5xx", 3}, {"/missing", "4xx", 2}}},
		{"5xx", []string{"--status", "5xx"},
			map[string]int{"/boom": 3, "/gone": 1}, []row{{"/boom", "5xx", 3}, {"/gone", "5xx", 1}}},
		{"endpoint, most errors first", []string{"--endpoint", "^GET /(ok|missing|boom)$", "--sort-by", "err", "--top", "2"},
			map[string]int{"/ok": 6, "/boom": 3, "/missing": 2}, []row{{"/boom", "5xx", 3}, {"/ok", "2xx", 6}}},
		{"protocol and codes", []string{"--protocol", "http,grpc", "--status", "404,503"},
			map[string]int{"/missing": 2, "/gone": 1}, []row{{"/missing", "4xx", 2}, {"/gone", "5xx", 1}}},
		{"other protocol", []string{"--protocol", "dns"}, nil, nil},
		{"slower than the window", []string{"--min-latency", "1h"}, nil, nil},
	}
	traces := make([]*trace, len(runs))
	for i, r := range runs {
		traces[i] = startTrace(t, append(pidArgs(ng.worker), append([]string{"--duration", "60s"}, r.args...)...)...)
	}
	// The table: the endpoints with the largest error share, two of them.
	table := startTable(t, append(pidArgs(ng.worker), "-o", "wide", "--duration", "60s", "--sort-by", "err", "--top", "2")...)
	base := "http://" + ng.addr
	args := []string{"-s"}
	for _, p := range []string{"/ok", "/boom", "/ok", "/missing", "/ok", "/boom", "/gone", "/ok", "/missing", "/ok", "/boom", "/ok"} {
		args = append(args, "-o", "/dev/null", base+p)
	}
	if out, err := exec.Command(curl, args...).CombinedOutput(); err != nil {
		t.Fatalf("curl: %v %s", err, out)
	}
	if got := ng.accessCount(t); got != 12 {
		t.Fatalf("nginx logged %d requests, want 12", got)
	}
	if got, want := table.stop(t), []string{"GET /boom 5xx:3", "GET /gone 5xx:1"}; !slices.Equal(got, want) {
		t.Errorf("table rows %q, want %q", got, want)
	}
	for i, r := range runs {
		recs := traces[i].stop(t)
		events := map[string]int{}
		for _, e := range recs.byRole("server", ng.worker) {
			events[e.ReqPath]++
		}
		if len(recs.events) != len(recs.byRole("server", ng.worker)) || fmt.Sprint(events) != fmt.Sprint(nonNil(r.events)) {
			t.Errorf("%s: events %v (%d in all), want %v", r.name, events, len(recs.events), r.events)
		}
		var rows []row
		for _, s := range tableLines[api.HTTPSummary](t, traces[i].out.Bytes(), api.TableHTTPSummary) {
			rows = append(rows, row{s.ReqPath, s.StatusClass, s.Count})
		}
		if !slices.Equal(rows, r.rows) {
			t.Errorf("%s: summaries %v, want %v\nstderr:\n%s", r.name, rows, r.rows, traces[i].errOut.String())
		}
		if strings.Contains(traces[i].errOut.String(), "warning") {
			t.Errorf("%s: warnings:\n%s", r.name, traces[i].errOut.String())
		}
	}
}

// tableTrace is a `trace --local` printing its table (not -o json).
type tableTrace struct {
	cmd         *exec.Cmd
	out, errOut syncBuffer
}

// startTable runs the plugin with args and waits until its probe says
// which data access it runs with (the agent logs it once attached).
func startTable(t *testing.T, args ...string) *tableTrace {
	t.Helper()
	tt := &tableTrace{}
	tt.cmd = exec.Command(pluginBin, append([]string{"trace", "--local"}, withDataAccess(args)...)...)
	tt.cmd.Stdout, tt.cmd.Stderr = &tt.out, &tt.errOut
	if err := tt.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tt.cmd.Process.Kill() })
	for deadline := time.Now().Add(30 * time.Second); !strings.Contains(tt.errOut.String(), "data access:"); {
		if time.Now().After(deadline) {
			t.Fatalf("probes not attached after 30s:\n%s", tt.errOut.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	return tt
}

// stop ends the trace like Ctrl-C and returns the final table's rows as
// "METHOD PATH STATUS".
func (tt *tableTrace) stop(t *testing.T) []string {
	t.Helper()
	out := tt.end(t)
	if i := strings.LastIndex(out, "SERVICE"); i >= 0 {
		out = out[i:] // the final frame
	}
	var rows []string
	for _, l := range strings.Split(out, "\n") {
		// SERVICE ROLE PEER METHOD PATH STATUS ...
		if f := strings.Fields(l); len(f) > 5 && strings.HasPrefix(f[4], "/") {
			rows = append(rows, strings.Join(f[3:6], " "))
		}
	}
	if len(rows) == 0 {
		t.Errorf("no table rows in:\n%s", tt.out.String())
	}
	return rows
}

// end ends the trace like Ctrl-C and returns all it printed.
func (tt *tableTrace) end(t *testing.T) string {
	t.Helper()
	time.Sleep(300 * time.Millisecond)
	_ = tt.cmd.Process.Signal(syscall.SIGINT)
	if err := tt.cmd.Wait(); err != nil {
		t.Fatalf("trace failed: %v\n%s", err, tt.errOut.String())
	}
	return tt.out.String()
}

func nonNil(m map[string]int) map[string]int {
	if m == nil {
		return map[string]int{}
	}
	return m
}
