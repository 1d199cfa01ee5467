// Package api is the wire format between the node-side agent and the plugin.
//
// The agent writes NDJSON to stdout: one JSON object per line, each with a
// "table" field naming its kind so readers can dispatch on it. Table and
// column names follow Pixie's (http_events, probe_stats, ...), so Pixie
// users read them at once. This package imports only the standard library
// and its own pure subpackages: it is the one probes package the plugin may
// import.
package api

import "github.com/kubectl-pixie/kubectl-pixie/probes/api/stats"

// Version of the record schema, carried by every record in "v".
const Version = 1

// Table names. Records of an unknown table are skipped by readers.
const (
	TableHTTPEvents    = "http_events"    // one per matched HTTP/1 request/response
	TableHTTPStats     = "http_stats"     // per-interval aggregated deltas (see stats package)
	TableHTTPSummary   = "http_summary"   // per-endpoint totals at the end of a window
	TableProbeStats    = "probe_stats"    // footer: captured, lost, CPU, RSS, window
	TableProbeLog      = "probe_log"      // a message from the probe: info, warning, error
	TableProbeReady    = "probe_ready"    // probes attached; carries the attach time
	TableStackTraces   = "stack_traces"   // profile: folded stacks with counts
	TableProcessStats  = "process_stats"  // memory: per-process samples
	TableMemorySummary = "memory_summary" // memory: per-process verdict
)

// Header is embedded in every record.
type Header struct {
	Table string `json:"table"`
	V     int    `json:"v,omitempty"`
	// Seq numbers records per agent run from 1, so a reader that reconnects
	// can drop what it has already seen.
	Seq uint64 `json:"seq,omitempty"`
	// Node is filled by the plugin for records streamed from a cluster.
	Node string `json:"node,omitempty"`
	// Sample marks a per-request record the agent kept for --slow
	// (SampleSlow) or --errors (SampleError), sent at the end of the run
	// with SampleRow; empty in the stream of every request.
	Sample    string     `json:"sample,omitempty"`
	SampleRow *SampleRow `json:"sample_row,omitempty"`
	// Obs is the request as the agent counted it (its row's key and
	// figures, from the record as the data-access mode left it), set when
	// TraceConfig.EventObs asks: a replay re-aggregates the requests under
	// filters the recorded run did not have, whatever their record type.
	Obs *stats.Observation `json:"obs,omitempty"`
}

// HTTPEvent is one HTTP/1.x request or HTTP/2 stream with its response
// (Pixie's http_events; MajorVersion tells which).
type HTTPEvent struct {
	Header
	ConnColumns
	MajorVersion int               `json:"major_version"`
	MinorVersion int               `json:"minor_version"`
	ReqMethod    string            `json:"req_method"`
	ReqPath      string            `json:"req_path"`
	ReqHeaders   map[string]string `json:"req_headers"`
	ReqBody      string            `json:"req_body"`
	ReqBodySize  int64             `json:"req_body_size"`
	RespStatus   int               `json:"resp_status"`
	RespMessage  string            `json:"resp_message"`
	RespHeaders  map[string]string `json:"resp_headers"`
	RespBody     string            `json:"resp_body"`
	RespBodySize int64             `json:"resp_body_size"`
	// Protocol is vocab.ProtocolGRPC for gRPC calls (HTTP/2 with content-type
	// application/grpc), else empty.
	Protocol string `json:"protocol,omitempty"`
	// GRPCStatus is a gRPC call's grpc-status ("0", "14"), empty when the
	// call ended without one (reset, or its trailers were lost).
	GRPCStatus string `json:"grpc_status,omitempty"`
}

// TableName implements Record.
func (*HTTPEvent) TableName() string { return TableHTTPEvents }

// ProbeLog is a message from the agent. Errors carry a remedy.
type ProbeLog struct {
	Header
	Level  string `json:"level"` // info, warning, error
	Msg    string `json:"msg"`
	Remedy string `json:"remedy,omitempty"`
}

// ProbeReady says the probes are attached and data may flow.
type ProbeReady struct {
	Header
	Probe    string `json:"probe"`
	AttachNs int64  `json:"attach_ns"` // from agent start to probes attached
	Targets  int    `json:"targets"`   // processes targeted at attach time
}

// ProbeStats is the footer of every run: what was captured, what was lost
// and why, and what the probe itself cost.
type ProbeStats struct {
	Header
	Probe          string            `json:"probe"`
	WindowNs       int64             `json:"window_ns"`
	EventsCaptured uint64            `json:"events_captured"`
	EventsLost     uint64            `json:"events_lost"`
	LostBy         map[string]uint64 `json:"lost_by,omitempty"` // reason -> count, e.g. ring_full, truncated, parse_error
	Records        uint64            `json:"records"`           // records produced (requests, stacks, samples)
	BPFRunNs       uint64            `json:"bpf_run_ns"`        // total BPF program run time (bpf_stats)
	BPFRunCount    uint64            `json:"bpf_run_count"`
	UserCPUNs      uint64            `json:"user_cpu_ns"` // agent user+system CPU time
	PeakRSSBytes   uint64            `json:"peak_rss_bytes"`
	AttachNs       int64             `json:"attach_ns"`
	Final          bool              `json:"final"` // false for periodic snapshots
	// DNSNamesEvicted counts the addresses a trace agent forgot, oldest
	// first, to keep its map of DNS-answered names bounded: their peers
	// stay addresses. No request is lost, so it is not in EventsLost.
	DNSNamesEvicted uint64 `json:"dns_names_evicted,omitempty"`
	// WorstNode, on the plugin's merged record of several nodes, names the
	// node with the largest share of events lost (then CPU, then RSS); its
	// own record and every other node's precede the merged one in -o json.
	WorstNode string `json:"worst_node,omitempty"`
	// KernelHTTP1 is set when the kernel summarized HTTP/1 exchanges
	// (PIXIE_KERNEL_HTTP1): how many, and how often it handed a
	// connection to the payload path, by reason.
	KernelHTTP1 *KernelSummaries `json:"kernel_http1,omitempty"`
}

// KernelSummaries counts the requests summarized in the kernel and the
// connections it left to the payload path (reason -> count).
type KernelSummaries struct {
	Summaries uint64            `json:"summaries"`
	Fallbacks map[string]uint64 `json:"fallbacks,omitempty"`
}

// Log levels.
const (
	LevelInfo    = "info"
	LevelWarning = "warning"
	LevelError   = "error"
)
