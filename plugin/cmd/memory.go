package cmd

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"runtime"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	cmdutil "k8s.io/kubectl/pkg/cmd/util"
	"k8s.io/kubectl/pkg/util/templates"

	"github.com/kubectl-pixie/kubectl-pixie/plugin/driver"
	"github.com/kubectl-pixie/kubectl-pixie/plugin/local"
	"github.com/kubectl-pixie/kubectl-pixie/plugin/memview"
	"github.com/kubectl-pixie/kubectl-pixie/plugin/recording"
	"github.com/kubectl-pixie/kubectl-pixie/plugin/session"
	"github.com/kubectl-pixie/kubectl-pixie/plugin/target"
	"github.com/kubectl-pixie/kubectl-pixie/probes/api"
)

func init() { register(NewCmdMemory) }

const (
	memoryMaxDuration = time.Hour
	memoryMinInterval = 50 * time.Millisecond
)

var (
	memoryLong = templates.LongDesc(`
		Follow the memory of processes over a window and judge each one:
		RSS (anon, file, shmem), swap, page-fault rate, the cgroup's usage
		and limit, a sparkline of the trend, then a growth rate from a
		robust fit, the peak, the share of the limit, a projected time to
		OOM and a verdict: leak, growing, stable or noisy, with the reason.

		With --alloc, also the call stacks that hold the memory: by default
		from sampled page faults (the stack that made each page resident,
		until it is unmapped), which costs the target nothing while it
		reuses its memory however often it calls malloc. --alloc-mode
		uprobes follows every malloc and free instead, at a trap per call,
		which slows allocation-heavy programs many times over; it samples
		one allocation per 64 KiB on average, and with
		--alloc-sample-bytes 1 its outstanding bytes are exact.

		In a cluster a row is a workload (--group-by workload, the default)
		or a pod, per node with node: its processes' RSS added on one clock,
		the growth rate of that sum, and the worst of its processes' own
		verdicts, each judged on its own series, saying how many have it and
		which is worst ("leak: 1 of 3 pods, api-7d9-x"), so a leaking
		replica is never hidden by healthy ones. -o json adds one
		memory_group_summary record per row after the per-process records.
		--local shows a row per process.`)
	memoryExample = templates.Examples(`
		# Watch every pod of a deployment for a minute
		%[1]s memory deploy/checkout --duration 1m

		# A row per pod and node instead of per workload
		%[1]s memory deploy/checkout --group-by pod,node

		# One container of a pod, as NDJSON records
		%[1]s memory pod/web-0 -c app -o json

		# The probe pods that would run, without running them
		%[1]s memory deploy/checkout --dry-run -o yaml

		# Watch one local process for a minute, sampling twice a second
		sudo %[1]s memory --local --pid 4242 --duration 1m --interval 500ms

		# Every local process named "checkout", as NDJSON records
		sudo %[1]s memory --local --comm checkout -o json

		# Also find the call stacks that hold the memory
		sudo %[1]s memory --local --pid 4242 --alloc`)
)

// MemoryOptions holds the flags of `kubectl pixie memory`.
type MemoryOptions struct {
	localTarget
	outputOptions
	Duration  time.Duration
	Interval  time.Duration
	Alloc     bool
	AllocMode string
	AllocRate uint64
	Args      []string
	gates     gateFlags
	groupBy

	// Cluster mode: what to watch and how the probe pods run.
	clusterTargets

	genericiooptions.IOStreams

	// run streams the agents' records: a child agent for --local, probe
	// pods otherwise (tests replace it).
	run driver.Source
}

// NewMemoryOptions returns the defaults.
func NewMemoryOptions(streams genericiooptions.IOStreams) *MemoryOptions {
	return &MemoryOptions{
		outputOptions:  newOutputOptions("table"),
		Duration:       30 * time.Second,
		Interval:       time.Second,
		AllocMode:      api.AllocModeFaults,
		AllocRate:      64 << 10,
		clusterTargets: newClusterTargets(),
		IOStreams:      streams,
	}
}

// NewCmdMemory builds `kubectl pixie memory`.
func NewCmdMemory(f cmdutil.Factory, streams genericiooptions.IOStreams) *cobra.Command {
	o := NewMemoryOptions(streams)
	return newProbeCommand(f, &cobra.Command{
		Use:     "memory [TYPE/NAME... | -l SELECTOR | --local (--pid PID | --comm NAME | --all)]",
		Aliases: []string{"mem"},
		Short:   "Memory trends of processes and a leak verdict (growth rate, peak, % of limit, time to OOM)",
		Long:    memoryLong,
		Example: fmt.Sprintf(memoryExample, "kubectl pixie"),
	}, o)
}

// AddFlags binds the flags.
func (o *MemoryOptions) AddFlags(cmd *cobra.Command) {
	fl := cmd.Flags()
	o.localTarget.addFlags(fl, "watch", "probe processes on this host (Linux; --alloc needs root)")
	fl.DurationVar(&o.Duration, "duration", o.Duration, "how long to watch (at most 1h)")
	fl.DurationVar(&o.Interval, "interval", o.Interval, "time between samples (at least 50ms)")
	o.outputOptions.addFlags(fl, "output format: table or json (NDJSON records); yaml with --dry-run")
	fl.BoolVar(&o.Alloc, "alloc", o.Alloc, "also report the call stacks that hold the memory")
	fl.StringVar(&o.AllocMode, "alloc-mode", o.AllocMode, "with --alloc: faults (sampled page faults, cost per new page) or uprobes (every malloc/free, a trap per call; exact with --alloc-sample-bytes 1)")
	fl.Uint64Var(&o.AllocRate, "alloc-sample-bytes", o.AllocRate, "with --alloc-mode uprobes: sample one allocation per this many bytes on average (1: all)")
	o.gates.addFlags(fl, "'verdict == leak' or 'growth > 5%'")
	o.clusterTargets.addFlags(fl, "watch")
	o.groupBy.addFlags(cmd)
	fl.Lookup("group-by").Usage = "cluster mode: what a row stands for, a list of workload (its pods' memory added, the worst pod's verdict), pod and node (adds a NODE column), e.g. workload,node"
}

// Complete checks the flags, then picks the record source: a child agent
// for --local, probe pods on the targets' nodes otherwise (resolved only
// once the flags are valid).
func (o *MemoryOptions) Complete(f cmdutil.Factory, cmd *cobra.Command, args []string) error {
	o.Args = args
	if err := o.validateFlags(); err != nil {
		return err
	}
	if o.run != nil || o.Local || !o.named(args) {
		return nil
	}
	return o.resolve(cmd.Context(), f, args)
}

// sessionOptions describe the probe pods: one per node, each told the
// containers and pods of its node (or the whole node for node/NAME).
func (o *MemoryOptions) sessionOptions() session.Options {
	return o.clusterTargets.sessionOptions("memory", o.Duration, o.ErrOut, o.Quiet, func(n target.Node) any {
		cfg := o.Config()
		cfg.All = n.All
		cfg.NodeOnly, cfg.NodePodUIDs = n.All, n.NodePodUIDs
		cfg.ContainerIDs = n.ContainerIDs()
		cfg.PodUIDs = n.PodUIDs()
		cfg.Syscalls = true // the probe pod runs as root with the tracepoints it needs
		return cfg
	})
}

// sandboxFilter reports the records of pod sandbox (pause) processes: a
// pod targeted as a whole is matched by its UID on the node, which takes
// in the sandbox, whose flat memory is not the user's. Processes of
// containers the API listed, or that started after (a restart after an
// OOM kill), are kept.
func (o *MemoryOptions) sandboxFilter() func(session.Line) bool {
	known := map[string]bool{}
	for _, n := range o.targets.Nodes {
		for _, p := range n.Pods {
			for _, c := range p.Containers {
				known[c.ID] = true
			}
		}
	}
	return func(l session.Line) bool {
		if l.Table != api.TableProcessStats && l.Table != api.TableMemorySummary {
			return false
		}
		var r struct {
			Comm        string `json:"comm"`
			ContainerID string `json:"container_id"`
		}
		if json.Unmarshal(l.Raw, &r) != nil {
			return false
		}
		return r.Comm == "pause" && r.ContainerID != "" && !known[r.ContainerID]
	}
}

// recordedPods are the targets' pods, for --record: a replay names and
// groups their processes as the live run does.
func (o *MemoryOptions) recordedPods() []recording.Pod {
	if o.targets == nil {
		return nil
	}
	var pods []recording.Pod
	for _, n := range o.targets.Nodes {
		for _, p := range n.Pods {
			pods = append(pods, recording.Pod{UID: p.UID, Namespace: p.Namespace, Name: p.Name, Workload: p.Workload, Node: n.Name})
		}
	}
	return pods
}

// viewPods describes the pods to the view: the targets', or the replayed
// recording's (nil for --local and its recordings: rows are processes).
func (o *MemoryOptions) viewPods() map[string]memview.Pod {
	pods := o.recordedPods()
	if o.replay != nil {
		pods = o.replay.header.Pods
	}
	return memPods(pods)
}

// memPods names pods for memview: namespace/name and the row of their
// workload, as trace and profile name it (nil when there are none).
func memPods(pods []recording.Pod) map[string]memview.Pod {
	if len(pods) == 0 {
		return nil
	}
	m := make(map[string]memview.Pod, len(pods))
	for _, p := range pods {
		tp := target.Pod{Namespace: p.Namespace, Name: p.Name, Workload: p.Workload}
		m[p.UID] = memview.Pod{Name: p.Namespace + "/" + p.Name, Workload: target.GroupBy{}.Service(tp)}
	}
	return m
}

// viewOptions are the view's: rows are groups (--group-by) when the pods
// are known, processes otherwise.
func (o *MemoryOptions) viewOptions(asJSON bool) memview.Options {
	vo := memview.Options{ErrOut: o.ErrOut, Color: o.Color.Enabled(o.Out), Duration: o.Duration, Interval: o.Interval, Pods: o.viewPods(), JSON: asJSON}
	if vo.Pods != nil {
		vo.Group = &memview.GroupBy{Pod: o.by.Pod, Node: o.by.Node}
	}
	return vo
}

// validateFlags checks every flag without I/O.
func (o *MemoryOptions) validateFlags() error {
	if err := o.localTarget.validate("watch", o.Args, o.named(o.Args) || o.targets != nil || o.run != nil); err != nil {
		return err
	}
	if !o.Local {
		if err := o.Probe.Validate(); err != nil {
			return err
		}
	}
	if o.Duration <= 0 || o.Duration > memoryMaxDuration {
		return fmt.Errorf("--duration %s is out of range: use a value between 1s and %s", o.Duration, memoryMaxDuration)
	}
	if o.Interval < memoryMinInterval {
		return fmt.Errorf("--interval %s is too short: use %s or more", o.Interval, memoryMinInterval)
	}
	if o.Interval*5 > o.Duration {
		return fmt.Errorf("--interval %s gives fewer than 5 samples in --duration %s: shorten the interval or lengthen the window", o.Interval, o.Duration)
	}
	if err := o.outputOptions.validate("table", "json"); err != nil {
		return err
	}
	if err := o.groupBy.validate(); err != nil {
		return err
	}
	switch o.AllocMode {
	case api.AllocModeFaults, api.AllocModeUprobes:
	default:
		return fmt.Errorf("unknown --alloc-mode %q: use faults or uprobes", o.AllocMode)
	}
	if o.Alloc && o.AllocRate == 0 {
		return errors.New("--alloc-sample-bytes must be at least 1")
	}
	if o.gates.used() && o.Output == "json" {
		return fmt.Errorf("%w: drop -o json, or gate on the memory_summary records with jq", errNoResult)
	}
	return o.gates.validate(memview.GateSchema)
}

// Validate checks the flags without I/O.
func (o *MemoryOptions) Validate() error { return o.validateFlags() }

// Config is what the agent is asked to do.
func (o *MemoryOptions) Config() api.MemoryConfig {
	cfg := api.MemoryConfig{PIDs: o.pids(), Comms: o.Comms, All: o.All, DurationNs: int64(o.Duration), IntervalNs: int64(o.Interval),
		Alloc: o.Alloc, AllocSampleBytes: o.AllocRate, Syscalls: os.Geteuid() == 0}
	if o.Alloc {
		cfg.AllocMode = o.AllocMode
	}
	return cfg
}

// Run watches until the window ends or a stop signal; either way the
// agent's final verdicts are read and printed.
func (o *MemoryOptions) Run(ctx context.Context) error {
	if ctx == nil {
		ctx = context.Background()
	}
	if o.DryRun {
		if o.Local {
			return dryRunLocal(o.Out, "memory", o.Config())
		}
		return dryRunCluster(o.Out, o.sessionOptions())
	}
	if err := o.pickSource(); err != nil {
		return err
	}
	do := o.driverOptions(o.IOStreams, o.Output == "json")
	do.Tick = o.Interval
	do.Stopping = o.localStopping(o.Local)
	h := recording.Header{Command: "memory", WindowNs: o.Duration.Nanoseconds(), Pods: o.recordedPods()}
	if err := o.startRecording(&do, h, o.Config()); err != nil {
		return err
	}
	view := memview.New(o.viewOptions(do.JSON))
	if do.JSON {
		if view.Grouped() {
			return runError(driver.Run(ctx, o.run, view, do))
		}
		return runError(driver.Run(ctx, o.run, driver.PassThrough{}, do))
	}
	return o.gates.check(ctx, "memory", o.ErrOut, view.GateSource, runError(driver.Run(ctx, o.run, view, do)))
}

// pickSource sets the record source, unless a test did. --local without
// root watches /proc only; --alloc needs root.
func (o *MemoryOptions) pickSource() error {
	switch {
	case o.run != nil:
	case o.replay != nil:
		o.run = o.replay.src
	case o.Local:
		if runtime.GOOS != "linux" || (o.Alloc && os.Geteuid() != 0) {
			if err := local.Check(); err != nil {
				return err
			}
		}
		if err := o.checkPIDs(); err != nil {
			return err
		}
		o.run = localSource("memory", o.Config(), o.ErrOut)
	default:
		o.warnTargets(o.ErrOut, o.Color, o.Quiet)
		o.run = clusterSource(o.sessionOptions(), o.sandboxFilter())
	}
	return nil
}
