package api

import "strconv"

// TableListeningPorts holds which local process owns a listening TCP
// socket, so a service map names the process behind an address.
const TableListeningPorts = "listening_ports"

// ListeningPort is a TCP socket in LISTEN state on the agent's host and
// a process holding it (one record per process holding it: nginx's master
// and workers share theirs). Sent once when the probes attach and again
// at the end of the window when TraceConfig.Map asks for it.
type ListeningPort struct {
	Header
	Addr   string `json:"addr"` // "0.0.0.0", "::", "127.0.0.1"
	Port   uint16 `json:"port"`
	PID    uint32 `json:"pid"`
	Comm   string `json:"comm"`
	Traced bool   `json:"traced"` // the agent traces the process
}

// ProcessName is how a service map names a process of this host: the
// process name and its PID, "postgres (pid 812)".
func ProcessName(comm string, pid uint32) string {
	return comm + " (pid " + strconv.FormatUint(uint64(pid), 10) + ")"
}
