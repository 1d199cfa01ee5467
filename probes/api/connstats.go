package api

// TableConnStats holds connection stats (Pixie's conn_stats).
const TableConnStats = "conn_stats"

// ConnStats is one row of Pixie's conn_stats: a traced process's TCP
// connections with one peer, whatever their protocol, counted since tracing
// began. The agent sends a row again each interval its counts change (the
// values are cumulative, as in Pixie), and every row at the end of the
// window; the last row of a key holds the window's totals, unless it is
// Retracted (the row moved to another key).
//
// A client row's peer is the server it connects to (RemotePort is the
// server's port, LocalPort 0); a server row's peer is a caller's address,
// its callers' ephemeral ports merged (RemotePort 0, LocalPort the port
// served).
type ConnStats struct {
	Header
	Time       int64  `json:"time_"` // when the counts were read, ns since the Unix epoch
	PID        uint32 `json:"pid"`
	Comm       string `json:"comm"`
	RemoteAddr string `json:"remote_addr"`
	RemotePort uint16 `json:"remote_port"`
	LocalPort  uint16 `json:"local_port"`
	TraceRole  string `json:"trace_role"` // client, server or unknown (opened before tracing, no protocol recognised)
	// Protocol is the protocol recognised on the connections ("http",
	// "redis", ...), or "unknown".
	Protocol   string `json:"protocol"`
	ConnOpen   uint64 `json:"conn_open"`   // connections opened (connect or accept) while traced
	ConnClose  uint64 `json:"conn_close"`  // connections closed while traced
	ConnActive uint64 `json:"conn_active"` // connections open at Time
	BytesSent  uint64 `json:"bytes_sent"`  // socket bytes the process sent (sendfile and splice included)
	BytesRecv  uint64 `json:"bytes_recv"`
	// Container and pod identity, when the agent knows them (cluster mode).
	ContainerID string `json:"container_id,omitempty"`
	PodUID      string `json:"pod_uid,omitempty"`
	// RemoteDNS is the name whose traced DNS answer on this node gave
	// RemoteAddr, as in ConnColumns.
	RemoteDNS string `json:"remote_dns,omitempty"`
	RemoteNames
}

// RemoteNames name a record's remote address in a cluster: the pod and
// its workload, a Service (its ClusterIP), or a node. The plugin fills
// them from its watch of the cluster (agents never talk to the API
// server); empty where the address is no pod's, Service's or node's.
type RemoteNames struct {
	RemotePod       string `json:"remote_pod,omitempty"`
	RemoteWorkload  string `json:"remote_workload,omitempty"` // "deployment/api"
	RemoteNamespace string `json:"remote_namespace,omitempty"`
	RemoteService   string `json:"remote_service,omitempty"`
	RemoteNode      string `json:"remote_node,omitempty"`
}

// ConnStatsKey identifies a row: the agent's key, and the plugin's within
// one node.
type ConnStatsKey struct {
	PID        uint32
	RemoteAddr string
	RemotePort uint16
	LocalPort  uint16
	TraceRole  string
	Protocol   string
}

// Retracted tells a row the agent withdrew: all counts zero, which no
// real row has (it holds an open or a closed connection). The receiver
// drops its row of that key (connstats.Table.Changed says when).
func (s *ConnStats) Retracted() bool {
	return s.ConnOpen == 0 && s.ConnClose == 0 && s.ConnActive == 0 && s.BytesSent == 0 && s.BytesRecv == 0
}

// Key returns the row's key.
func (s *ConnStats) Key() ConnStatsKey {
	return ConnStatsKey{s.PID, s.RemoteAddr, s.RemotePort, s.LocalPort, s.TraceRole, s.Protocol}
}
