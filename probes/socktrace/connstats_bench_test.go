//go:build linux

package socktrace

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/kubectl-pixie/kubectl-pixie/probes/conn"
	"github.com/kubectl-pixie/kubectl-pixie/probes/internal/probetest"
)

// BenchmarkConnStatsWrk: the BPF cost of conn_stats's byte totals, with a
// connection per request (wrk -H "Connection: close" -> nginx), so every
// request opens and closes one. Rounds alternate the tracer with and
// without the totals (NoConnBytes), each with its own nginx; the metric is
// BPF run time per request (min / median / max over the rounds).
//
//	go test -run '^$' -bench ConnStatsWrk -benchtime 1x ./probes/socktrace   # PIXIE_BENCH_ROUNDS (default 5), PIXIE_BENCH_WRK_SECONDS (default 5)
func BenchmarkConnStatsWrk(b *testing.B) {
	probetest.RequirePrivileged(b)
	wrk := probetest.RequireCommand(b, "wrk")
	rounds, secs := envInt("PIXIE_BENCH_ROUNDS", 5), envInt("PIXIE_BENCH_WRK_SECONDS", 5)
	perReq := map[bool][]float64{}
	for b.Loop() {
		for i := range 2 * rounds {
			on := i%2 == 0
			if (i/2)%2 == 1 { // rotate which mode goes first
				on = !on
			}
			perReq[on] = append(perReq[on], connStatsRound(b, wrk, secs, on))
		}
	}
	for _, on := range []bool{false, true} {
		v := perReq[on]
		slices.Sort(v)
		b.Logf("conn bytes %-5v bpf-ns/req min %.0f median %.0f max %.0f (%d rounds)", on, v[0], v[len(v)/2], v[len(v)-1], len(v))
	}
	ratio := median(perReq[true]) / median(perReq[false])
	b.ReportMetric(median(perReq[false]), "bpf-ns/req-off")
	b.ReportMetric(median(perReq[true]), "bpf-ns/req-on")
	b.ReportMetric(ratio, "on/off")
}

// connStatsRound runs wrk for secs against a fresh nginx traced with or
// without byte totals; it returns the BPF run time per request.
func connStatsRound(b *testing.B, wrk string, secs int, bytesOn bool) float64 {
	tr, err := New(Config{NoConnBytes: !bytesOn})
	if err != nil {
		b.Fatalf("New: %+v", err)
	}
	defer tr.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- tr.Run(ctx, func(*conn.Event) {}) }()
	port, _ := startNginx(b, &collector{tr: tr}, map[string][]byte{"index.html": bytes.Repeat([]byte("x"), 612)})
	before := tr.Stats().BPFRunNs
	out, err := exec.Command(wrk, "-t1", "-c20", fmt.Sprintf("-d%ds", secs), "-H", "Connection: close",
		fmt.Sprintf("http://127.0.0.1:%d/index.html", port)).CombinedOutput()
	if err != nil {
		b.Fatalf("wrk: %v\n%s", err, out)
	}
	time.Sleep(2 * FlushInterval)
	st := tr.Stats()
	cancel()
	if err := <-done; err != nil {
		b.Fatal(err)
	}
	var requests float64
	for _, line := range bytes.Split(out, []byte("\n")) {
		if _, err := fmt.Sscanf(string(bytes.TrimSpace(line)), "%g requests in", &requests); err == nil {
			break
		}
	}
	if requests == 0 {
		b.Fatalf("no request count in wrk's output:\n%s", out)
	}
	if lost := st.LostBy[LostRingFull]; lost > 0 {
		b.Logf("round lost %d events (ring full): its cost is under-counted", lost)
	}
	return float64(st.BPFRunNs-before) / requests
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}
