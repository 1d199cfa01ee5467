package conn

// Stats counts what the Tracker and its parsers saw, produced and dropped.
// Field names in Map are the keys used in probe_stats.lost_by.
type Stats struct {
	Events     uint64 // events handled
	DataEvents uint64 // data events handled
	Records    uint64 // records emitted to the sink

	ConnsOpened  uint64 // connections created (open event or first data)
	ConnsClosed  uint64 // connections ended by a close event
	EvictedConns uint64 // connections dropped because MaxConns was reached
	IdleConns    uint64 // connections dropped after IdleTimeout without events
	BudgetConns  uint64 // connections dropped, oldest first, to keep all within MemoryBudget
	UnknownConns uint64 // connections ended without a recognised protocol

	Gaps         uint64 // times a direction's stream jumped ahead (lost events)
	GapBytes     uint64 // bytes in those jumps
	Uncaptured   uint64 // bytes moved by calls but not captured (truncation, sendfile)
	DroppedBytes uint64 // captured bytes discarded: over a buffer bound, or overlapping
	ParseErrors  uint64 // malformed or incomplete messages (a gap inside headers, bad framing)
	Resyncs      uint64 // times a parser skipped to the next message boundary

	UnmatchedRequests  uint64 // requests never answered (or whose answer was lost)
	UnmatchedResponses uint64 // responses without a request (the request was lost or predates tracing)
	Pushes             uint64 // server pushes (Redis pub/sub messages, RESP3 pushes): no request, no latency

	Summaries        uint64 // exchanges summarized in the kernel, fed to a parser
	DroppedSummaries uint64 // summaries no parser could take (a bug, or Options.Summaries unset)
}

// Map returns the counters by name (snake_case), for probe_stats.
func (s *Stats) Map() map[string]uint64 {
	return map[string]uint64{
		"events":               s.Events,
		"data_events":          s.DataEvents,
		"records":              s.Records,
		"conns_opened":         s.ConnsOpened,
		"conns_closed":         s.ConnsClosed,
		"evicted_conns":        s.EvictedConns,
		"idle_conns":           s.IdleConns,
		"budget_evicted_conns": s.BudgetConns,
		"unknown_conns":        s.UnknownConns,
		"gaps":                 s.Gaps,
		"gap_bytes":            s.GapBytes,
		"uncaptured_bytes":     s.Uncaptured,
		"dropped_bytes":        s.DroppedBytes,
		"parse_errors":         s.ParseErrors,
		"resyncs":              s.Resyncs,
		"unmatched_requests":   s.UnmatchedRequests,
		"unmatched_responses":  s.UnmatchedResponses,
		"pushes":               s.Pushes,
		"summaries":            s.Summaries,
		"dropped_summaries":    s.DroppedSummaries,
	}
}
