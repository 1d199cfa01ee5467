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
		m.DNSNamesEvicted += s.DNSNamesEvicted
		if k := s.KernelHTTP1; k != nil {
			if m.KernelHTTP1 == nil {
				m.KernelHTTP1 = &api.KernelSummaries{}
			}
			m.KernelHTTP1.Summaries += k.Summaries
			for r, v := range k.Fallbacks {
				if m.KernelHTTP1.Fallbacks == nil {
					m.KernelHTTP1.Fallbacks = map[string]uint64{}
				}
				m.KernelHTTP1.Fallbacks[r] += v
			}
		}
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
	if s.DNSNamesEvicted > 0 {
		// Not a loss: the requests are counted, some peers stay addresses.
		parts = append(parts, fmt.Sprintf("forgot %s DNS names", FormatCount(s.DNSNamesEvicted)))
	}

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
	if k := s.KernelHTTP1; k != nil {
		parts = append(parts, kernelSummaries(k))
	}
	if s.WindowNs > 0 {
		parts = append(parts, "window "+FormatWindow(time.Duration(s.WindowNs)))
	}
	return strings.Join(parts, " · ")
}

// kernelSummaries is the footer's account of HTTP/1 summarized in the
// kernel: "kernel http1 1,200 requests, 3 connections as payload
// (pipelined 2, split 1)".
func kernelSummaries(k *api.KernelSummaries) string {
	out := fmt.Sprintf("kernel http1 %s requests", FormatCount(k.Summaries))
	var n uint64
	for _, v := range k.Fallbacks {
		n += v
	}
	if n == 0 {
		return out
	}
	reasons := slices.SortedFunc(maps.Keys(k.Fallbacks), func(a, b string) int {
		return cmp.Or(cmp.Compare(k.Fallbacks[b], k.Fallbacks[a]), cmp.Compare(a, b))
	})
	var rs []string
	for _, r := range reasons {
		if k.Fallbacks[r] > 0 {
			rs = append(rs, Sanitize(r)+" "+FormatCount(k.Fallbacks[r]))
		}
	}
	return fmt.Sprintf("%s, %s connections as payload (%s)", out, FormatCount(n), strings.Join(rs, ", "))
}

// WorstNode picks, of several nodes' footers, the one a user should look
// at first: the largest share of events lost, then the most probe CPU,
// then the largest RSS (ties by name). ok is false for fewer than two.
func WorstNode(per map[string]api.ProbeStats) (node string, s api.ProbeStats, ok bool) {
	if len(per) < 2 {
		return "", api.ProbeStats{}, false
	}
	for _, n := range slices.Sorted(maps.Keys(per)) {
		c := per[n]
		if !ok || worse(c, s) {
			node, s, ok = n, c, true
		}
	}
	return node, s, ok
}

func lossShare(s api.ProbeStats) float64 {
	if s.EventsLost == 0 {
		return 0
	}
	return float64(s.EventsLost) / float64(s.EventsLost+s.EventsCaptured)
}

func cpuShare(s api.ProbeStats) float64 {
	if s.WindowNs <= 0 {
		return 0
	}
	return float64(s.UserCPUNs) / float64(s.WindowNs)
}

func worse(a, b api.ProbeStats) bool {
	if la, lb := lossShare(a), lossShare(b); la != lb {
		return la > lb
	}
	if ca, cb := cpuShare(a), cpuShare(b); ca != cb {
		return ca > cb
	}
	return a.PeakRSSBytes > b.PeakRSSBytes
}

// NodeFooter is the worst node's line under the merged footer:
//
//	worst node worker-3: lost 1,204 events (2.1%) · probe CPU 2.1% · probe RSS 48 MiB
func NodeFooter(node string, s api.ProbeStats, p *Palette) string {
	lost := "lost 0"
	if s.EventsLost > 0 {
		lost = p.Warn(fmt.Sprintf("lost %s events (%s%%)", FormatCount(s.EventsLost), FormatPercent(100*lossShare(s))))
	}
	parts := []string{"worst node " + Sanitize(node) + ": " + lost}
	if s.WindowNs > 0 {
		parts = append(parts, fmt.Sprintf("probe CPU %s%%", FormatPercent(100*cpuShare(s))))
	}
	if s.PeakRSSBytes > 0 {
		parts = append(parts, "probe RSS "+FormatBytes(s.PeakRSSBytes))
	}
	return strings.Join(parts, " · ")
}
