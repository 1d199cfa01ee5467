package render

import (
	"maps"
	"slices"

	"github.com/kubectl-pixie/kubectl-pixie/probes/api"
	"github.com/kubectl-pixie/kubectl-pixie/probes/api/stats"
)

// TraceModel is the plugin-side state of a trace: the http_stats deltas of
// every node merged into one bounded aggregator, and the latest probe_stats
// of each node. Feed it records as they arrive, render View on each tick.
// Not safe for concurrent use.
type TraceModel struct {
	// Select narrows and orders what View and Summaries show.
	Select TraceSelect
	// NamePeer, when set, names a row's peer (a DNS name, a local
	// server's process); rows that then share a key merge.
	NamePeer func(stats.Endpoint) string
	agg      *stats.Aggregator
	probe    map[string]api.ProbeStats // node -> latest (cumulative) snapshot
}

// NewTraceModel returns an empty model; cfg bounds the merged endpoints
// (zero value: stats defaults).
func NewTraceModel(cfg stats.Config) *TraceModel {
	return &TraceModel{agg: stats.NewAggregator(cfg), probe: make(map[string]api.ProbeStats)}
}

// AddHTTPStats merges one interval's delta from a node.
func (m *TraceModel) AddHTTPStats(r api.HTTPStats) { m.agg.Merge(r.Rows) }

// AddProbeStats records a node's footer. Snapshots are cumulative, so the
// latest of each node (by Header.Node) replaces the one before.
func (m *TraceModel) AddProbeStats(s api.ProbeStats) { m.probe[s.Node] = s }

// Rows are the merged endpoints, most requests first.
func (m *TraceModel) Rows() []stats.Endpoint {
	rows := m.agg.Rows()
	if m.NamePeer == nil {
		return rows
	}
	changed := false
	for i := range rows {
		// Named, the DNS name no longer tells rows apart.
		name := m.NamePeer(rows[i])
		changed = changed || name != rows[i].Peer || rows[i].PeerDNS != ""
		rows[i].Peer, rows[i].PeerDNS = name, ""
	}
	if !changed { // every frame of a cluster run asks: merge only when a name moved
		return rows
	}
	named := stats.NewAggregator(stats.Config{MaxKeys: len(rows) + 1})
	named.Merge(rows)
	return named.Rows()
}

// ProbeStats merges the latest footer of every node; ok is false before
// any arrived.
func (m *TraceModel) ProbeStats() (s api.ProbeStats, nodes int, ok bool) {
	if len(m.probe) == 0 {
		return api.ProbeStats{}, 0, false
	}
	nodesSorted := slices.Sorted(maps.Keys(m.probe))
	all := make([]api.ProbeStats, 0, len(nodesSorted))
	for _, n := range nodesSorted {
		all = append(all, m.probe[n])
	}
	return MergeProbeStats(all...), len(all), true
}

// View fills base's Rows and Stats from the model; base carries the
// session facts (protocol, elapsed, window, nodes, targets).
func (m *TraceModel) View(base TraceView) TraceView {
	base.Rows = m.Rows()
	base.Select = m.Select
	if s, _, ok := m.ProbeStats(); ok {
		base.Stats = &s
	}
	base.WorstNode, base.Worst, _ = WorstNode(m.probe)
	return base
}

// NodeStats are the latest footers of the nodes, in node order, each with
// its node (for -o json: loss, CPU and RSS per node).
func (m *TraceModel) NodeStats() []api.ProbeStats {
	out := make([]api.ProbeStats, 0, len(m.probe))
	for _, n := range slices.Sorted(maps.Keys(m.probe)) {
		s := m.probe[n]
		s.Node = n
		out = append(out, s)
	}
	return out
}

// WorstNode is the node of WorstNode over the nodes' footers, "" for
// fewer than two nodes.
func (m *TraceModel) WorstNode() string {
	n, _, _ := WorstNode(m.probe)
	return n
}

// Summaries are the http_summary records of the window, one per endpoint
// and status class of the endpoints Select keeps, in its order. windowNs
// is the rate's denominator.
func (m *TraceModel) Summaries(timeNs, windowNs int64) []api.HTTPSummary {
	rows := SelectRows(m.Rows(), m.Select)
	out := make([]api.HTTPSummary, 0, len(rows))
	for _, r := range rows {
		out = append(out, api.NewHTTPSummary(r, timeNs, windowNs))
	}
	return out
}
