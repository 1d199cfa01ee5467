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

// The tracker hands each sample's low (the RSS read at the process's
// releases) to the verdict: the same samples of a 64 MiB cycle that
// unmaps 200 MiB per interval are a leak at the lows' 2 MiB/s, and
// undecided without them (the samples alone sit at random phases).
func TestTrackerJudgesByLows(t *testing.T) {
	for _, withLows := range []bool{true, false} {
		var tr Tracker
		for i := range 11 {
			st := api.ProcessStats{Time: int64(i) * 5e8, PID: 7, UPID: "7:1", Comm: "churn",
				RSSBytes: uint64(4<<20 + i*(1<<20) + (i*37%11)*(6<<20)), MunmapBytes: uint64(i) * 200 << 20}
			if withLows && i > 0 {
				st.LowRSSBytes = uint64(4<<20 + i*(1<<20))
			}
			tr.Add(st)
		}
		m := tr.Summaries(0, Host{})[0]
		t.Logf("lows %v: %s at %.0f B/s: %s", withLows, m.Verdict, m.GrowthBytesPerSec, m.Reason)
		if found := m.Verdict == vocab.VerdictLeak && m.GrowthBytesPerSec == 2<<20; found != withLows || !m.Undersampled {
			t.Errorf("lows %v: %s at %.0f B/s, undersampled %v (%s)", withLows, m.Verdict, m.GrowthBytesPerSec, m.Undersampled, m.Reason)
		}
	}
}
