package api

import "bytes"

// TableAgentHello is the agent's first record: the version it was built
// as, so that the plugin can refuse an agent of another version (another
// wire format, other probes) before using anything it says.
const TableAgentHello = "agent_hello"

// AgentHello says which agent runs. Every run starts with one; `pixie-agent
// version` prints one with the node's facts filled in as well.
type AgentHello struct {
	Header
	AgentVersion string `json:"agent_version"`
	Probe        string `json:"probe,omitempty"`
	// What `pixie-agent version` finds on its node.
	Arch   string `json:"arch,omitempty"`
	Kernel string `json:"kernel,omitempty"`
	BTF    *bool  `json:"btf,omitempty"` // /sys/kernel/btf/vmlinux is there
	// Attach is "ok" when a trivial BPF program loaded and attached to a
	// tracepoint, else why not.
	Attach string `json:"attach,omitempty"`
}

var helloPrefix = []byte(`{"table":"` + TableAgentHello + `"`)

// IsHello reports whether an NDJSON line is the agent's hello (the
// agent writes "table" first), which only the plugin's transport reads.
func IsHello(line []byte) bool { return bytes.HasPrefix(bytes.TrimSpace(line), helloPrefix) }
