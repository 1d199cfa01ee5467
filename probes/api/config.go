package api

// NodeScope keeps node/NAME to its node: with NodeOnly, of All, the agent
// keeps host processes and the pods in NodePodUIDs (those the API server
// places on the probe's node) and drops other pods' processes, which it
// sees when nodes share one kernel (kind). Trace, profile and memory.
type NodeScope struct {
	NodeOnly    bool     `json:"node_only,omitempty"`
	NodePodUIDs []string `json:"node_pod_uids,omitempty"`
}

// TraceConfig tells the agent what to trace. The plugin passes it as JSON
// (a command-line argument of the agent), in --local mode and in probe pods.
type TraceConfig struct {
	// Targets: any of these select processes; none of them with All=false
	// selects nothing.
	PIDs         []uint32 `json:"pids,omitempty"`
	Comms        []string `json:"comms,omitempty"`
	All          bool     `json:"all,omitempty"`
	ContainerIDs []string `json:"container_ids,omitempty"` // runtime IDs without the "containerd://" prefix
	PodUIDs      []string `json:"pod_uids,omitempty"`
	NodeScope

	DurationNs  int64  `json:"duration_ns"`
	IntervalNs  int64  `json:"interval_ns,omitempty"` // http_stats cadence; default 1s
	MaxPayload  int    `json:"max_payload,omitempty"` // bytes captured per syscall; default 4096
	BodyLimit   int    `json:"body_limit,omitempty"`  // body bytes a record keeps (full access); 0: none; <= MaxPayload
	EmitEvents  bool   `json:"emit_events,omitempty"` // one http_events record per request
	FullData    bool   `json:"full_data,omitempty"`   // older spelling of DataAccess full
	RingBytes   int    `json:"ring_bytes,omitempty"`  // ring buffer size; default 8 MiB
	ProcRootDir string `json:"proc_root,omitempty"`   // default /proc (host /proc in pods via hostPID)
	// DataAccess is what records keep (see DataAccess); empty: restricted.
	// The pod builder reads it with Access (for the pod's audit trail).
	DataAccess DataAccess `json:"data_access,omitempty"`
	// Services names what the table shows for a pod's processes: pod UID ->
	// "namespace/pod" (the probe never talks to the API server, so the
	// plugin passes the names it resolved).
	Services map[string]string `json:"services,omitempty"`
	// Map names the stats rows for a service map (--local): a row's
	// service is ProcessName(comm, pid), a server row's peer the calling
	// process when the agent traces it (else the caller's IP), and the
	// agent sends listening_ports.
	Map bool `json:"map,omitempty"`
	// ServerPeers keeps a server row's caller: its peer is the caller's IP
	// (no port), which the plugin names (cluster mode).
	ServerPeers bool `json:"server_peers,omitempty"`
	// ListenPorts sends listening_ports at the end, as Map does, so the
	// plugin names a local client's server by its process (--local).
	ListenPorts bool `json:"listen_ports,omitempty"`
	// Filter keeps only the requests it matches, in records and stats;
	// nil keeps all.
	Filter *TraceFilter `json:"filter,omitempty"`
	// Samples asks for the slowest and the latest failed requests of each
	// endpoint (--slow, --errors); nil keeps none.
	Samples *SampleConfig `json:"samples,omitempty"`
	// EventObs adds Header.Obs to every per-request record (--record).
	EventObs bool `json:"event_obs,omitempty"`
}
