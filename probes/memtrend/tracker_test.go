package memtrend

import (
	"fmt"
	"testing"

	"github.com/kubectl-pixie/kubectl-pixie/probes/api"
	"github.com/kubectl-pixie/kubectl-pixie/probes/api/trend"
	"github.com/kubectl-pixie/kubectl-pixie/probes/api/vocab"
)

// addHour adds an hour of 1 s samples of procs processes leaking 1 MiB/min.
func addHour(tr *Tracker, procs int) {
	for i := range 3600 {
		for k := range procs {
			tr.Add(api.ProcessStats{Time: int64(i) * 1e9, PID: uint32(100 + k), UPID: fmt.Sprintf("%d:1", 100+k), Comm: "leak",
				RSSBytes: uint64(50<<20 + i*(1<<20)/60 + (i%7)*4096)})
		}
	}
}

// The agent keeps a bounded series per process whatever the window, and
// the summary still counts every sample and finds the leak.
func TestTrackerHourIsBounded(t *testing.T) {
	var tr Tracker
	addHour(&tr, 3)
	for key, s := range tr.procs {
		if n := len(s.pts.Points()); n > trend.MaxSeriesPoints+1 {
			t.Fatalf("%s keeps %d points", key, n)
		}
	}
	for _, m := range tr.Summaries(0, Host{}) {
		if m.Samples != 3600 || m.Verdict != vocab.VerdictLeak || m.GrowthBytesPerSec < 17000 || m.GrowthBytesPerSec > 18000 {
			t.Fatalf("summary: %d samples, %s at %.0f B/s", m.Samples, m.Verdict, m.GrowthBytesPerSec)
		}
	}
}

// BenchmarkTrackerHour500 is an hour of 500 processes sampled every
// second, then summarised, as the agent does at the end of a window.
func BenchmarkTrackerHour500(b *testing.B) {
	for b.Loop() {
		var tr Tracker
		addHour(&tr, 500)
		tr.Summaries(0, Host{})
	}
}
