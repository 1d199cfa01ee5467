package render

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/kubectl-pixie/kubectl-pixie/probes/api"
)

// MergeProbeStats combines the footers of several nodes: counters and CPU
// add up, peak RSS and the window take the maximum, Final holds if all are
// final. Merging none returns the zero value.
func MergeProbeStats(all ...api.ProbeStats) api.ProbeStats {
	var m api.ProbeStats
	for i, s := range all {
		if i == 0 {
			m.Header = api.Header{Table: api.TableProbeStats, V: api.Version}
			m.Probe = s.Probe
			m.Final = true
		}
		m.WindowNs = max(m.WindowNs, s.WindowNs)
		m.EventsCaptured += s.EventsCaptured
		m.EventsLost += s.EventsLost
		for k, v := range s.LostBy {
			if m.LostBy == nil {
				m.LostBy = make(map[string]uint64)
			}
			m.LostBy[k] += v
		}
		m.Records += s.Records
		m.BPFRunNs += s.BPFRunNs
		m.BPFRunCount += s.BPFRunCount
		m.UserCPUNs += s.UserCPUNs
		m.PeakRSSBytes = max(m.PeakRSSBytes, s.PeakRSSBytes)
		m.AttachNs = max(m.AttachNs, s.AttachNs)
		m.Final = m.Final && s.Final
	}
	return m
}

// Footer is the one-line account of a run:
//
//	captured 2,328 requests · lost 12 events (ring_full 10, parse_error 2) · probe CPU 0.6% · probe RSS 31 MiB · bpf 0.4 µs/event · window 30s
//
// nodes is how many nodes s merges (CPU is then shown per node); noun
// names what Records counts ("requests", "samples").
func Footer(s api.ProbeStats, nodes int, noun string, p *Palette) string {
	nodes = max(nodes, 1)
	if noun == "" {
		noun = "records"
	}
	parts := []string{fmt.Sprintf("captured %s %s", FormatCount(s.Records), noun)}

	lost := "lost 0"
	if s.EventsLost > 0 {
		lost = fmt.Sprintf("lost %s events", FormatCount(s.EventsLost))
		if len(s.LostBy) > 0 {
			reasons := slices.SortedFunc(maps.Keys(s.LostBy), func(a, b string) int {
				return cmp.Or(cmp.Compare(s.LostBy[b], s.LostBy[a]), cmp.Compare(a, b))
			})
			var rs []string
			for _, r := range reasons {
				rs = append(rs, Sanitize(r)+" "+FormatCount(s.LostBy[r]))
			}
			lost += " (" + strings.Join(rs, ", ") + ")"
		}
		lost = p.Warn(lost)
	}
	parts = append(parts, lost)

	if s.WindowNs > 0 {
		pct := 100 * float64(s.UserCPUNs) / float64(s.WindowNs) / float64(nodes)
		cpu := fmt.Sprintf("probe CPU %s%%", FormatPercent(pct))
		if nodes > 1 {
			cpu += "/node"
		}
		parts = append(parts, cpu)
	}
	if s.PeakRSSBytes > 0 {
		rss := "probe RSS " + FormatBytes(s.PeakRSSBytes)
		if nodes > 1 {
			rss += " max"
		}
		parts = append(parts, rss)
	}
	// BPF time per captured event: it includes every program run it took to
	// get there (entry hooks, filtered-out calls of untargeted processes).
	switch {
	case s.BPFRunNs > 0 && s.EventsCaptured > 0:
		parts = append(parts, fmt.Sprintf("bpf %s/event", FormatLatency(float64(s.BPFRunNs)/float64(s.EventsCaptured))))
	case s.BPFRunCount > 0:
		parts = append(parts, fmt.Sprintf("bpf %s/run", FormatLatency(float64(s.BPFRunNs)/float64(s.BPFRunCount))))
	default:
		parts = append(parts, "bpf n/a")
	}
	if s.WindowNs > 0 {
		parts = append(parts, "window "+FormatWindow(time.Duration(s.WindowNs)))
	}
	return strings.Join(parts, " · ")
}
