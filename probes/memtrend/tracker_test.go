package memtrend

import (
	"fmt"
	"os"
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

// What a process released between two samples: the unmapped bytes, or
// the pages it faulted in beyond its growth, whichever is more.
func TestReleased(t *testing.T) {
	page := uint64(os.Getpagesize())
	first := api.ProcessStats{MinorFaults: 100, RSSBytes: 10 << 20, MunmapBytes: 0}
	for _, c := range []struct {
		name string
		last api.ProcessStats
		want uint64
	}{
		{"unmapped", api.ProcessStats{MinorFaults: 100, RSSBytes: 10 << 20, MunmapBytes: 640 << 20}, 640 << 20},
		{"faulted and gone", api.ProcessStats{MinorFaults: 100 + 1000, RSSBytes: 10 << 20}, 1000 * page},
		{"faulted and kept", api.ProcessStats{MinorFaults: 100 + 1000, RSSBytes: 10<<20 + 1000*page}, 0},
		{"grew more than it faulted", api.ProcessStats{MinorFaults: 100 + 10, RSSBytes: 20 << 20}, 0},
		{"both: the larger", api.ProcessStats{MinorFaults: 100 + 1000, RSSBytes: 10 << 20, MunmapBytes: page}, 1000 * page},
	} {
		if got := Released(first, c.last); got != c.want {
			t.Errorf("%s: %d, want %d", c.name, got, c.want)
		}
	}
}
