package memtrend

import (
	"os"
	"sort"
	"strconv"

	"github.com/kubectl-pixie/kubectl-pixie/probes/api"
	"github.com/kubectl-pixie/kubectl-pixie/probes/api/trend"
)

// Tracker keeps the RSS series of each process (by UPID, so a reused PID
// starts a new series) and summarises them. Each series is bounded
// (trend.Series): an hour or a day costs the same.
type Tracker struct {
	procs map[string]*series
	order []string
}

type series struct {
	first, last api.ProcessStats
	pts         trend.Series
	lows        trend.Series // per interval, the lowest RSS seen (LowRSSBytes)
	peak        uint64
	exited      bool
}

// Add records one sample.
func (t *Tracker) Add(st api.ProcessStats) {
	if t.procs == nil {
		t.procs = map[string]*series{}
	}
	key := st.UPID
	if key == "" {
		key = strconv.FormatUint(uint64(st.PID), 10)
	}
	s, ok := t.procs[key]
	if !ok {
		s = &series{first: st}
		t.procs[key] = s
		t.order = append(t.order, key)
	}
	s.last = st
	at := float64(st.Time-s.first.Time) / 1e9
	s.pts.Add(trend.Point{T: at, V: float64(st.RSSBytes)})
	if st.LowRSSBytes > 0 {
		lowAt := at // at its own time when known: a slow cycle may sit anywhere in the interval
		if st.LowRSSTime > s.first.Time {
			lowAt = float64(st.LowRSSTime-s.first.Time) / 1e9
		}
		s.lows.Add(trend.Point{T: lowAt, V: float64(min(st.LowRSSBytes, st.RSSBytes))})
	}
	if st.RSSBytes > s.peak {
		s.peak = st.RSSBytes
	}
}

// Exited marks a process gone; its series is kept and summarised.
func (t *Tracker) Exited(upid string) {
	if s, ok := t.procs[upid]; ok {
		s.exited = true
	}
}

// Len is the number of processes seen.
func (t *Tracker) Len() int { return len(t.order) }

// Host is the node's memory, the fallback limit of processes without a
// cgroup limit.
type Host struct {
	TotalBytes, AvailableBytes uint64
}

// Summaries returns one record per process, biggest growth first.
func (t *Tracker) Summaries(now int64, host Host) []api.MemorySummary {
	out := make([]api.MemorySummary, 0, len(t.order))
	for _, key := range t.order {
		s := t.procs[key]
		out = append(out, s.summarize(host, now))
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].GrowthBytesPerSec > out[j].GrowthBytesPerSec })
	return out
}

// summarize judges one series. The limit is the cgroup's when it has one
// (checked against the cgroup's usage, as the kernel does), else the host's
// memory (checked against what is in use on the host).
func (s *series) summarize(host Host, now int64) api.MemorySummary {
	first, last, peak, samples := s.first, s.last, s.peak, s.pts.Samples()
	lim := trend.Limits{}
	src := ""
	switch {
	case last.CgroupLimitBytes > 0:
		lim = trend.Limits{Limit: float64(last.CgroupLimitBytes), Usage: float64(last.CgroupUsageBytes)}
		src = "cgroup"
	case host.TotalBytes > 0:
		lim = trend.Limits{Limit: float64(host.TotalBytes), Usage: float64(host.TotalBytes - min(host.AvailableBytes, host.TotalBytes))}
		src = "host"
	}
	released := Released(first, last)
	r := trend.AnalyzeChurn(s.pts.Points(), lim, trend.Churn{Released: float64(released), Samples: samples, Lows: s.lows.Points()})
	// A high-water mark that rose during the window is a peak the samples
	// may have missed (a spike between two of them).
	if last.HWMBytes > first.HWMBytes && last.HWMBytes > peak {
		peak = last.HWMBytes
	}
	m := api.MemorySummary{
		Header:                api.Header{Table: api.TableMemorySummary},
		Time:                  now,
		PID:                   last.PID,
		Comm:                  last.Comm,
		UPID:                  last.UPID,
		Samples:               samples,
		WindowNs:              last.Time - first.Time,
		Series:                "rss_bytes",
		GrowthBytesPerSec:     r.Slope,
		GrowthLowBytesPerSec:  r.Low,
		GrowthHighBytesPerSec: r.High,
		Verdict:               r.Verdict,
		Reason:                r.Reason,
		Confidence:            r.Confidence,
		RSquared:              r.Fit.R2,
		Sawtooth:              r.Sawtooth,
		StartRSSBytes:         first.RSSBytes,
		EndRSSBytes:           last.RSSBytes,
		PeakRSSBytes:          peak,
		ContainerID:           last.ContainerID,
		PodUID:                last.PodUID,
		Exited:                s.exited,
		ReleasedBytes:         released,
		Undersampled:          r.Undersampled,
		DecideSamples:         r.DecideSamples,
	}
	if lim.Limit > 0 {
		m.LimitBytes = uint64(lim.Limit)
		m.UsageBytes = uint64(lim.Usage)
		m.LimitSource = src
		m.PercentOfLimit = r.PercentOfLimit
		if src == "host" { // a share of the node, not the node's fill level
			m.UsageBytes = last.RSSBytes
			m.PercentOfLimit = 100 * float64(last.RSSBytes) / lim.Limit
		}
		m.TimeToOOMNs = int64(r.TimeToOOM * 1e9)
	}
	return m
}

// Released is what a process released between two of its samples: the
// bytes it unmapped (eBPF counters, when they run) or the pages it faulted
// in beyond its growth (/proc, always), whichever is more. Memory freed
// with madvise shows only in the faults when it is touched again.
func Released(first, last api.ProcessStats) uint64 {
	var unmapped, faulted uint64
	if last.MunmapBytes > first.MunmapBytes {
		unmapped = last.MunmapBytes - first.MunmapBytes
	}
	if last.MinorFaults > first.MinorFaults {
		faulted = (last.MinorFaults - first.MinorFaults) * uint64(os.Getpagesize())
	}
	if last.RSSBytes > first.RSSBytes {
		faulted -= min(faulted, last.RSSBytes-first.RSSBytes)
	}
	return max(unmapped, faulted)
}
