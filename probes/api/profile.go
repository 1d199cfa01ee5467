package api

// ProbeProfile is the probe name of the CPU profiler (`pixie-agent profile`).
const ProbeProfile = "profile"

// Profile defaults and bounds, shared by the plugin (validation) and the agent.
const (
	ProfileDefaultHz = 99
	ProfileMaxHz     = 1000
)

// ProfileConfig.Unwind values.
const (
	ProfileUnwindAuto = "auto"
	ProfileUnwindFP   = "fp"
	ProfileUnwindCFI  = "cfi"
)

// ProfileConfig tells the agent what to profile. The plugin passes it as
// JSON: `pixie-agent profile --config JSON`.
type ProfileConfig struct {
	// Targets: any of these select processes; none of them with All=false
	// selects nothing. Comms and container IDs are re-resolved every
	// interval, so processes started later are profiled too.
	PIDs         []uint32 `json:"pids,omitempty"`
	Comms        []string `json:"comms,omitempty"`
	All          bool     `json:"all,omitempty"`
	ContainerIDs []string `json:"container_ids,omitempty"` // runtime IDs without the "containerd://" prefix
	PodUIDs      []string `json:"pod_uids,omitempty"`
	NodeScope

	DurationNs int64 `json:"duration_ns"`
	IntervalNs int64 `json:"interval_ns,omitempty"` // delta cadence; default 1s
	Hz         int   `json:"hz,omitempty"`          // samples per second per CPU; default 99
	Kernel     bool  `json:"kernel,omitempty"`      // include kernel frames
	// Unwind is how user stacks are walked: "fp" (frame pointers, in the
	// kernel), "cfi" (the stack copied out and unwound with the modules'
	// .eh_frame, for code built without frame pointers) or "" / "auto":
	// fp for Go programs, cfi for the rest.
	Unwind string `json:"unwind,omitempty"`
	// ProcRootDir is where /proc is (default /proc; in pods the host's, via hostPID).
	ProcRootDir string `json:"proc_root,omitempty"`
}

// StackTrace is one folded stack of one process with the number of samples
// it got in the interval ending at Time: a delta, so a reader sums records
// to get the profile (Pixie's stack_traces table). The agent never sends
// one record per sample.
type StackTrace struct {
	Header
	Time        int64  `json:"time_"` // end of the interval, ns since the Unix epoch
	PID         uint32 `json:"pid"`
	Comm        string `json:"comm"`
	ContainerID string `json:"container_id,omitempty"`
	// Stack is the folded stack, root first, frames joined by ";"
	// (kernel frames last, suffixed "_[k]" as in Brendan Gregg's tools).
	Stack string `json:"stack_trace"`
	Count uint64 `json:"count"`
	// Modules names the module of each frame of Stack ("goburn",
	// "libc.so.6", "[kernel]", "[jit]"), joined by ";" in the same order.
	Modules string `json:"modules,omitempty"`
	// Lines is "file:line" of each frame where known (Go pclntab), ""
	// where not, joined by ";"; empty when no frame has one. Strings, not
	// one object per frame, keep the stream small and fast to decode.
	Lines string `json:"lines,omitempty"`
}

// KernelSuffix marks kernel frames in Stack, as Brendan Gregg's tools do.
const KernelSuffix = "_[k]"
