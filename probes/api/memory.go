package api

// ProcessStats is one memory sample of one process (Pixie's process_stats
// columns, plus the smaps_rollup split and its cgroup's usage and limit).
type ProcessStats struct {
	Header
	Time int64  `json:"time_"` // ns since the Unix epoch
	PID  uint32 `json:"pid"`
	Comm string `json:"comm"`
	UPID string `json:"upid,omitempty"` // pid:start_time, stable across pid reuse
	Cmd  string `json:"cmd,omitempty"`  // command line, first sample only
	// Pixie's process_stats columns.
	MajorFaults uint64 `json:"major_faults"` // cumulative since process start
	MinorFaults uint64 `json:"minor_faults"`
	CPUUserNs   uint64 `json:"cpu_utime_ns"`
	CPUKernelNs uint64 `json:"cpu_ktime_ns"`
	NumThreads  uint64 `json:"num_threads"`
	VSizeBytes  uint64 `json:"vsize_bytes"`
	RSSBytes    uint64 `json:"rss_bytes"`
	// Split of RSS (status: RssAnon, RssFile, RssShmem), swap and PSS.
	RSSAnonBytes  uint64 `json:"rss_anon_bytes"`
	RSSFileBytes  uint64 `json:"rss_file_bytes"`
	RSSShmemBytes uint64 `json:"rss_shmem_bytes"`
	SwapBytes     uint64 `json:"swap_bytes"`
	PSSBytes      uint64 `json:"pss_bytes,omitempty"` // smaps_rollup; 0 when unreadable
	// HWMBytes is the kernel's RSS high-water mark (VmHWM) since the
	// process started: it catches peaks between two samples.
	HWMBytes uint64 `json:"hwm_bytes,omitempty"`
	// Fault rates since the previous sample (per second).
	MajorFaultsPerSec float64 `json:"major_faults_per_sec"`
	MinorFaultsPerSec float64 `json:"minor_faults_per_sec"`
	// The process's memory cgroup (v2, or v1 memory controller).
	Cgroup           string `json:"cgroup,omitempty"`             // path inside the hierarchy
	CgroupUsageBytes uint64 `json:"cgroup_usage_bytes,omitempty"` // memory.current / memory.usage_in_bytes
	CgroupLimitBytes uint64 `json:"cgroup_limit_bytes,omitempty"` // 0: no limit
	// Counted by eBPF since the start of the window, when the tracer runs.
	MmapBytes   uint64 `json:"mmap_bytes,omitempty"`
	MunmapBytes uint64 `json:"munmap_bytes,omitempty"`
	BrkBytes    int64  `json:"brk_bytes,omitempty"` // net heap break movement
	// LowRSSBytes is the lowest RSS read at the return of the process's
	// own munmap, madvise and brk calls since the previous sample (eBPF;
	// 0: none made): where memory that cycles faster than the sampling
	// is released, so the floor under its cycle.
	LowRSSBytes uint64 `json:"low_rss_bytes,omitempty"`
	LowRSSTime  int64  `json:"low_rss_time_,omitempty"` // when it was read, ns since the Unix epoch
	// Pod identity, when the agent knows it (cluster mode).
	ContainerID string `json:"container_id,omitempty"`
	PodUID      string `json:"pod_uid,omitempty"`
}

// MemorySummary is the verdict on one process at the end of a window.
type MemorySummary struct {
	Header
	Time              int64   `json:"time_"`
	PID               uint32  `json:"pid"`
	Comm              string  `json:"comm"`
	UPID              string  `json:"upid,omitempty"`
	Samples           int     `json:"samples"`
	WindowNs          int64   `json:"window_ns"`
	Series            string  `json:"series"` // what was fitted: rss_bytes
	GrowthBytesPerSec float64 `json:"growth_bytes_per_sec"`
	// 95% interval of the slope (Theil-Sen's rank-based interval).
	GrowthLowBytesPerSec  float64 `json:"growth_low_bytes_per_sec"`
	GrowthHighBytesPerSec float64 `json:"growth_high_bytes_per_sec"`
	Verdict               string  `json:"verdict"`
	Reason                string  `json:"reason"`
	Confidence            float64 `json:"confidence"` // 0..1, how well the verdict's model fits
	RSquared              float64 `json:"r_squared"`
	Sawtooth              bool    `json:"sawtooth,omitempty"`
	StartRSSBytes         uint64  `json:"start_rss_bytes"`
	EndRSSBytes           uint64  `json:"end_rss_bytes"`
	PeakRSSBytes          uint64  `json:"peak_rss_bytes"`
	LimitBytes            uint64  `json:"limit_bytes,omitempty"`
	LimitSource           string  `json:"limit_source,omitempty"` // cgroup v2 memory.max, cgroup v1 memory.limit_in_bytes, host MemTotal
	UsageBytes            uint64  `json:"usage_bytes,omitempty"`  // what the limit is checked against, at the end
	PercentOfLimit        float64 `json:"percent_of_limit,omitempty"`
	TimeToOOMNs           int64   `json:"time_to_oom_ns,omitempty"` // 0: not growing or no limit
	ContainerID           string  `json:"container_id,omitempty"`
	PodUID                string  `json:"pod_uid,omitempty"`
	Exited                bool    `json:"exited,omitempty"`
	// ReleasedBytes is what the process released between its samples
	// (munmap counters, or page faults beyond its growth). Undersampled:
	// that was more per interval than the samples swing, so its memory
	// cycles faster than the sampling; DecideSamples is then about how
	// many samples at this interval would decide.
	ReleasedBytes uint64 `json:"released_bytes,omitempty"`
	Undersampled  bool   `json:"undersampled,omitempty"`
	DecideSamples int    `json:"decide_samples,omitempty"`
}

// AllocStack is one call stack holding memory at the end of an --alloc
// window. With the page-fault engine (Source "page-faults", the default)
// OutstandingBytes is the memory that stack made resident in the window
// and that is still mapped, AllocatedBytes all it made resident, released
// or not (sampled pages, scaled up). With allocator uprobes (Source "libc")
// OutstandingBytes are the sampled malloc bytes not yet freed.
type AllocStack struct {
	Header
	Time              int64    `json:"time_"`
	PID               uint32   `json:"pid"`
	Comm              string   `json:"comm"`
	Rank              int      `json:"rank"` // 1 = holds the most bytes
	OutstandingBytes  uint64   `json:"outstanding_bytes"`
	OutstandingAllocs uint64   `json:"outstanding_allocs"`
	AllocatedBytes    uint64   `json:"allocated_bytes"` // in the window, freed or not
	Source            string   `json:"source"`          // page-faults, libc (malloc family) or go (runtime.mallocgc, allocated only)
	Frames            []string `json:"frames"`          // leaf first: the allocating function, then its callers
}

// AllocStack sources.
const (
	AllocSourceFaults = "page-faults"
	AllocSourceLibc   = "libc"
	AllocSourceGo     = "go"
)

// Alloc modes (MemoryConfig.AllocMode).
const (
	AllocModeFaults  = "faults"  // sampled page faults: cost per new page, not per call (default)
	AllocModeUprobes = "uprobes" // malloc/free uprobes: outstanding bytes (exact unsampled), a trap per call
)

// TableAllocStacks names AllocStack records.
const TableAllocStacks = "alloc_stacks"

// MemoryConfig tells the agent what to sample (`memory --config JSON`).
type MemoryConfig struct {
	PIDs         []uint32 `json:"pids,omitempty"`
	Comms        []string `json:"comms,omitempty"`
	All          bool     `json:"all,omitempty"`
	ContainerIDs []string `json:"container_ids,omitempty"`
	PodUIDs      []string `json:"pod_uids,omitempty"`
	NodeScope

	DurationNs int64 `json:"duration_ns"`
	IntervalNs int64 `json:"interval_ns,omitempty"` // default 1s
	// Alloc reports alloc_stacks at the end: by default (AllocMode
	// "faults") the stacks that made memory resident, from sampled page
	// faults; with AllocMode "uprobes", allocator uprobes on the targets
	// (libc malloc family and Go's runtime.mallocgc).
	Alloc     bool   `json:"alloc,omitempty"`
	AllocMode string `json:"alloc_mode,omitempty"`
	// AllocSampleBytes: one sampled allocation per this many bytes on
	// average (allocations at least this large are always sampled);
	// default 64 KiB. 1 samples everything.
	AllocSampleBytes uint64 `json:"alloc_sample_bytes,omitempty"`
	AllocTopStacks   int    `json:"alloc_top_stacks,omitempty"` // default 10 per process
	// Syscalls counts mmap/munmap/brk per process with eBPF tracepoints.
	Syscalls    bool   `json:"syscalls,omitempty"`
	ProcRootDir string `json:"proc_root,omitempty"`   // default /proc
	CgroupRoot  string `json:"cgroup_root,omitempty"` // default /sys/fs/cgroup
}
