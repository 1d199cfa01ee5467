//go:build linux

package socktrace

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/kubectl-pixie/kubectl-pixie/probes/internal/probetest"
)

// Benchmarks of the kernel-side cost: nginx (targeted) serves a small file,
// and the BPF run time per captured event is reported as bpf-ns/event
// (from the kernel's bpf_stats). The clients are not targeted.
//
//	go test -run '^$' -bench NginxGoClient -benchtime 20000x ./probes/socktrace
//	go test -run '^$' -bench NginxWrk -benchtime 1x ./probes/socktrace   # PIXIE_BENCH_WRK_SECONDS (default 10)

func benchReport(b *testing.B, c *collector, requests float64) {
	b.Helper()
	st := c.tr.Stats()
	if st.Submitted > 0 {
		b.ReportMetric(float64(st.BPFRunNs)/float64(st.Submitted), "bpf-ns/event")
	}
	if st.BPFRunCount > 0 {
		b.ReportMetric(float64(st.BPFRunNs)/float64(st.BPFRunCount), "bpf-ns/run")
	}
	if requests > 0 {
		b.ReportMetric(float64(st.Submitted)/requests, "events/req")
		b.ReportMetric(float64(st.BPFRunNs)/requests, "bpf-ns/req")
	}
	b.Logf("stats: %+v", st)
	ps := c.tr.ProgramStats()
	names := make([]string, 0, len(ps))
	for n, s := range ps {
		if s.RunCount > 0 {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	for _, n := range names {
		b.Logf("%-16s runs=%8d avg=%6d ns", n, ps[n].RunCount, ps[n].RunNs/ps[n].RunCount)
	}
}

func BenchmarkNginxGoClient(b *testing.B) {
	probetest.RequirePrivileged(b)
	c := startTracer(b, Config{})
	port, _ := startNginx(b, c, map[string][]byte{"index.html": bytes.Repeat([]byte("x"), 612)})
	url := fmt.Sprintf("http://127.0.0.1:%d/index.html", port)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
	b.ResetTimer()
	for b.Loop() {
		resp, err := client.Get(url)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	b.StopTimer()
	time.Sleep(2 * FlushInterval)
	benchReport(b, c, float64(b.N))
}

func BenchmarkNginxWrk(b *testing.B) {
	probetest.RequirePrivileged(b)
	wrk := probetest.RequireCommand(b, "wrk")
	secs := 10
	if v, err := strconv.Atoi(os.Getenv("PIXIE_BENCH_WRK_SECONDS")); err == nil && v > 0 {
		secs = v
	}
	c := startTracer(b, Config{})
	port, _ := startNginx(b, c, map[string][]byte{"index.html": bytes.Repeat([]byte("x"), 612)})
	url := fmt.Sprintf("http://127.0.0.1:%d/index.html", port)
	var requests float64
	for b.Loop() {
		out, err := exec.Command(wrk, "-t1", "-c20", fmt.Sprintf("-d%ds", secs), url).CombinedOutput()
		if err != nil {
			b.Fatalf("wrk: %v\n%s", err, out)
		}
		b.Logf("wrk:\n%s", out)
		var n float64
		for _, line := range bytes.Split(out, []byte("\n")) {
			if _, err := fmt.Sscanf(string(bytes.TrimSpace(line)), "%g requests in", &n); err == nil {
				requests += n
			}
		}
	}
	time.Sleep(2 * FlushInterval)
	benchReport(b, c, requests)
}

// BenchmarkUntargetedSyscall: what the tracer costs a process it does not
// trace, per write(2)+read(2) pair on a pipe (both hooked; neither a socket).
//
//	go test -run '^$' -bench Untargeted -benchtime 200000x ./probes/socktrace
func BenchmarkUntargetedSyscall(b *testing.B) {
	probetest.RequirePrivileged(b)
	r, w, err := os.Pipe()
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	buf := make([]byte, 1)
	run := func(b *testing.B) {
		for b.Loop() {
			if _, err := w.Write(buf); err != nil {
				b.Fatal(err)
			}
			if _, err := r.Read(buf); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.Run("detached", run)
	b.Run("attached", func(b *testing.B) {
		tr, err := New(Config{PIDs: []uint32{1 << 30}}) // a pid that does not exist
		if err != nil {
			b.Fatal(err)
		}
		defer tr.Close()
		run(b)
		// Machine-wide: every process's read/write runs the hooks, so
		// this is the average cost of one (mostly untargeted) hook run.
		st := tr.Stats()
		if st.BPFRunCount > 0 {
			b.ReportMetric(float64(st.BPFRunNs)/float64(st.BPFRunCount), "bpf-ns/run")
		}
		// The filter alone: the enters of read and write (this loop's and
		// every other process's), then their exits.
		ps := tr.ProgramStats()
		for unit, progs := range map[string][]string{
			"enter-ns/run": {"px_en_read", "px_en_write"},
			"exit-ns/run":  {"px_ex_read", "px_ex_write"},
		} {
			var ns, runs uint64
			for _, p := range progs {
				ns += ps[p].RunNs
				runs += ps[p].RunCount
			}
			if runs > 0 {
				b.ReportMetric(float64(ns)/float64(runs), unit)
			}
		}
	})
}
