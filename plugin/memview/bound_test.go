package memview

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kubectl-pixie/kubectl-pixie/probes/api"
	"github.com/kubectl-pixie/kubectl-pixie/probes/api/trend"
)

// recorded reads testdata/rss-62s.csv: RSS series (KiB, one sample a
// second) of 50 real processes.
func recorded(tb testing.TB) (comms []string, series [][]uint64) {
	f, err := os.Open("testdata/rss-62s.csv")
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "#") {
			continue
		}
		fields := strings.Split(sc.Text(), ",")
		var s []uint64
		for _, x := range fields[1:] {
			kib, err := strconv.ParseUint(x, 10, 64)
			if err != nil {
				tb.Fatalf("%q: %v", x, err)
			}
			s = append(s, kib<<10)
		}
		comms, series = append(comms, fields[0]), append(series, s)
	}
	if len(series) == 0 {
		tb.Fatal("no recorded series")
	}
	return comms, series
}

// simulate plays procs processes for secs seconds, a sample per process
// and a live frame per second, as the plugin sees a window. Process k
// replays recorded series k%50 from offset k; past its end the series
// goes on with the trend it had (a leak keeps leaking). It returns the
// slowest frame, and fails when a frame's fitting work exceeds its budget.
func simulate(tb testing.TB, v *View, procs, secs int) time.Duration {
	comms, series := recorded(tb)
	var slowest time.Duration
	maxCost := 0
	for i := range secs {
		for k := range procs {
			s := series[k%len(series)]
			j := i + k
			lap, at := j/len(s), j%len(s)
			rss := int64(s[at]) + int64(lap)*(int64(s[len(s)-1])-int64(s[0]))
			v.AddStats(api.ProcessStats{Time: int64(i) * 1e9, PID: uint32(1000 + k), UPID: fmt.Sprintf("%d:1", 1000+k),
				Comm: comms[k%len(comms)], RSSBytes: uint64(max(rss, 4096))})
		}
		t0 := time.Now()
		_ = v.Frame(false)
		slowest = max(slowest, time.Since(t0))
		maxCost = max(maxCost, v.frameCost)
	}
	tb.Logf("most fitting in a frame: %d pairwise slopes (budget %d)", maxCost, fitBudget)
	if maxCost > fitBudget+trend.MaxFitPoints*trend.MaxFitPoints/2 {
		tb.Fatalf("a frame did %d pairwise slopes of fitting, over the %d budget", maxCost, fitBudget)
	}
	return slowest
}

// An hour of samples keeps a bounded series per process, and the live
// view refits a process's trend O(log samples) times, not every second.
func TestHourOfSamplesIsBounded(t *testing.T) {
	procs, secs := 8, 3600
	if raceOn {
		procs = 2
	}
	v := New(Options{Duration: time.Hour})
	simulate(t, v, procs, secs)
	for _, k := range v.order {
		if n := len(v.procs[k].pts.Points()); n > trend.MaxSeriesPoints+1 {
			t.Fatalf("%s keeps %d points", k, n)
		}
		if n := v.procs[k].pts.Samples(); n != secs {
			t.Fatalf("%s counted %d samples", k, n)
		}
	}
	// 32 early fits, then one per 1/32 growth: 32+32*ln(3600/32) ≈ 183.
	if perProc := v.fits / procs; perProc > 200 {
		t.Fatalf("%d live fits per process over %d ticks", perProc, secs)
	}
	_ = v.Frame(true)
	v.Frame(true)
	if err := v.Finish(io.Discard, nil); err != nil {
		t.Fatal(err)
	}
}

// BenchmarkLiveHour500 is an hour's window of 500 processes, sampled and
// drawn every second (3600 frames). Reports the mean and slowest frame.
func BenchmarkLiveHour500(b *testing.B) {
	for b.Loop() {
		v := New(Options{Duration: time.Hour})
		t0 := time.Now()
		slowest := simulate(b, v, 500, 3600)
		b.ReportMetric(float64(time.Since(t0).Milliseconds())/3600, "ms/frame")
		b.ReportMetric(float64(slowest.Milliseconds()), "ms/slowest-frame")
		b.ReportMetric(float64(v.fits)/500, "fits/process")
	}
}

// Many processes that started together fall due for a refit together: a
// frame still does at most fitBudget of fitting (checked by simulate),
// and no process's live trend falls far behind its samples.
func TestFrameFittingIsBudgeted(t *testing.T) {
	procs, secs := 200, 300
	if raceOn {
		procs, secs = 60, 120
	}
	v := New(Options{Duration: time.Hour})
	simulate(t, v, procs, secs)
	for _, k := range v.order {
		if s := v.procs[k].staleness(); s > 0.25 {
			t.Fatalf("%s: its live fit misses %.0f%% of its samples", k, 100*s)
		}
	}
}
