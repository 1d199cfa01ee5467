package cmd

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/cli-runtime/pkg/printers"
	cmdutil "k8s.io/kubectl/pkg/cmd/util"
	"k8s.io/kubectl/pkg/util/templates"

	"github.com/kubectl-pixie/kubectl-pixie/plugin/local"
	"github.com/kubectl-pixie/kubectl-pixie/plugin/memview"
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
		uprobes counts every malloc and free instead: exact outstanding
		bytes, but a trap per call, which slows allocation-heavy programs
		many times over.`)
	memoryExample = templates.Examples(`
		# Watch every pod of a deployment for a minute
		%[1]s memory deploy/checkout --duration 1m

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
	Local     bool
	PIDs      []uint
	Comms     []string
	All       bool
	Duration  time.Duration
	Interval  time.Duration
	Output    string
	Alloc     bool
	AllocMode string
	AllocRate uint64
	Color     string
	NoStream  bool
	Quiet     bool
	DryRun    bool
	Args      []string

	// Cluster mode: what to watch and how the probe pods run.
	clusterTargets

	genericiooptions.IOStreams

	// run streams agent records to onLine; --local runs a child agent,
	// cluster mode one probe pod per node (records carry their node).
	run func(ctx context.Context, cfg api.MemoryConfig, stderr io.Writer, onLine func([]byte)) error
}

// NewMemoryOptions returns the defaults.
func NewMemoryOptions(streams genericiooptions.IOStreams) *MemoryOptions {
	return &MemoryOptions{
		Duration:       30 * time.Second,
		Interval:       time.Second,
		Output:         "table",
		AllocMode:      api.AllocModeFaults,
		AllocRate:      64 << 10,
		Color:          "auto",
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
	fl.BoolVar(&o.Local, "local", o.Local, "probe processes on this host (Linux; --alloc needs root)")
	fl.UintSliceVar(&o.PIDs, "pid", o.PIDs, "process IDs to follow (with --local)")
	fl.StringSliceVar(&o.Comms, "comm", o.Comms, "process names to follow, as in `ps -o comm` (with --local)")
	fl.BoolVar(&o.All, "all", o.All, "follow every process (with --local)")
	fl.DurationVar(&o.Duration, "duration", o.Duration, "how long to watch (at most 1h)")
	fl.DurationVar(&o.Interval, "interval", o.Interval, "time between samples (at least 50ms)")
	fl.StringVarP(&o.Output, "output", "o", o.Output, "output format: table or json (NDJSON records); yaml with --dry-run")
	fl.BoolVar(&o.Alloc, "alloc", o.Alloc, "also report the call stacks that hold the memory")
	fl.StringVar(&o.AllocMode, "alloc-mode", o.AllocMode, "with --alloc: faults (sampled page faults, cost per new page) or uprobes (every malloc/free, exact, slows allocation-heavy programs)")
	fl.Uint64Var(&o.AllocRate, "alloc-sample-bytes", o.AllocRate, "with --alloc-mode uprobes: sample one allocation per this many bytes on average (1: all)")
	fl.StringVar(&o.Color, "color", o.Color, "colour: auto, always or never")
	fl.BoolVar(&o.NoStream, "no-stream", o.NoStream, "print only the final result, no live table")
	fl.BoolVarP(&o.Quiet, "quiet", "q", o.Quiet, "no probe-pod progress on stderr")
	fl.BoolVar(&o.DryRun, "dry-run", o.DryRun, "print the probe pods that would be created (YAML) and exit")
	o.addFlags(fl, "watch")
}

// Complete reads the arguments and picks the record source: a child agent
// for --local, probe pods on the targets' nodes otherwise.
func (o *MemoryOptions) Complete(f cmdutil.Factory, cmd *cobra.Command, args []string) error {
	o.Args = args
	if o.run != nil {
		return nil
	}
	if o.Local {
		o.run = func(ctx context.Context, cfg api.MemoryConfig, stderr io.Writer, onLine func([]byte)) error {
			return local.Run(ctx, "memory", cfg, stderr, onLine)
		}
		return nil
	}
	if !o.named(args) {
		return nil // Validate explains
	}
	if err := o.resolve(cmd.Context(), f, args); err != nil {
		return err
	}
	o.run = o.runCluster
	return nil
}

// sessionOptions describe the probe pods: one per node, each told the
// containers and pods of its node (or the whole node for node/NAME).
func (o *MemoryOptions) sessionOptions() session.Options {
	return o.clusterTargets.sessionOptions("memory", o.Duration, o.ErrOut, o.Quiet, func(n target.Node) any {
		cfg := o.Config()
		cfg.All = n.All
		cfg.ContainerIDs = n.ContainerIDs()
		cfg.PodUIDs = n.PodUIDs()
		cfg.Syscalls = true // the probe pod runs as root with the tracepoints it needs
		return cfg
	})
}

func (o *MemoryOptions) runCluster(ctx context.Context, _ api.MemoryConfig, _ io.Writer, onLine func([]byte)) error {
	if w := o.targets.Warning(); w != "" && !o.Quiet {
		fmt.Fprintf(o.ErrOut, "warning: %s\n", w)
	}
	// The session stops on the signal itself and needs a live context to
	// delete the pods afterwards, so it does not get Run's signal context.
	sandbox := o.sandboxFilter()
	_, err := session.Run(context.WithoutCancel(ctx), o.sessionOptions(), func(l session.Line) {
		if !sandbox(l.Table, l.Data) {
			onLine(l.Data)
		}
	})
	return err
}

// sandboxFilter reports the records of pod sandbox (pause) processes: a
// pod targeted as a whole is matched by its UID on the node, which takes
// in the sandbox, whose flat memory is not the user's. Processes of
// containers the API listed, or that started after (a restart after an
// OOM kill), are kept.
func (o *MemoryOptions) sandboxFilter() func(table string, line []byte) bool {
	known := map[string]bool{}
	for _, n := range o.targets.Nodes {
		for _, p := range n.Pods {
			for _, c := range p.Containers {
				known[c.ID] = true
			}
		}
	}
	return func(table string, line []byte) bool {
		if table != api.TableProcessStats && table != api.TableMemorySummary {
			return false
		}
		var r struct {
			Comm        string `json:"comm"`
			ContainerID string `json:"container_id"`
		}
		if json.Unmarshal(line, &r) != nil {
			return false
		}
		return r.Comm == "pause" && r.ContainerID != "" && !known[r.ContainerID]
	}
}

// podNames maps the targets' pod UIDs to namespace/name for the view.
func (o *MemoryOptions) podNames() map[string]string {
	if o.targets == nil {
		return nil
	}
	m := map[string]string{}
	for _, n := range o.targets.Nodes {
		for _, p := range n.Pods {
			m[p.UID] = p.Namespace + "/" + p.Name
		}
	}
	return m
}

// Validate checks the flags without I/O.
func (o *MemoryOptions) Validate() error {
	if !o.Local {
		if len(o.PIDs) > 0 || len(o.Comms) > 0 || o.All {
			return errors.New("--pid, --comm and --all select processes of this host: add --local")
		}
		if o.run == nil {
			return errors.New("nothing to watch: name a target (pod/NAME, deploy/NAME, node/NAME), a -l selector, or use --local with --pid, --comm or --all")
		}
		if o.targets != nil {
			if err := o.Probe.Validate(); err != nil {
				return err
			}
		}
	} else {
		if len(o.Args) > 0 {
			return fmt.Errorf("--local takes no TYPE/NAME arguments (got %q): select processes with --pid, --comm or --all", o.Args[0])
		}
		if len(o.PIDs) == 0 && len(o.Comms) == 0 && !o.All {
			return errors.New("--local needs processes to watch: add --pid PID, --comm NAME or --all")
		}
		if o.DryRun {
			return errors.New("--dry-run shows the probe pods of a cluster target: name one (pod/NAME, deploy/NAME, node/NAME) instead of --local")
		}
	}
	for _, p := range o.PIDs {
		if p == 0 || p > 1<<22 {
			return fmt.Errorf("--pid %d is not a process ID", p)
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
	switch {
	case o.Output == "table" || o.Output == "json":
	case o.Output == "yaml" && o.DryRun:
	default:
		return fmt.Errorf("unknown output format %q: use -o table or -o json (-o yaml with --dry-run)", o.Output)
	}
	switch o.Color {
	case "auto", "always", "never":
	default:
		return fmt.Errorf("unknown --color %q: use auto, always or never", o.Color)
	}
	switch o.AllocMode {
	case api.AllocModeFaults, api.AllocModeUprobes:
	default:
		return fmt.Errorf("unknown --alloc-mode %q: use faults or uprobes", o.AllocMode)
	}
	if o.Alloc && o.AllocRate == 0 {
		return errors.New("--alloc-sample-bytes must be at least 1")
	}
	return nil
}

// Config is what the agent is asked to do.
func (o *MemoryOptions) Config() api.MemoryConfig {
	cfg := api.MemoryConfig{Comms: o.Comms, All: o.All, DurationNs: int64(o.Duration), IntervalNs: int64(o.Interval),
		Alloc: o.Alloc, AllocSampleBytes: o.AllocRate, Syscalls: os.Geteuid() == 0}
	if o.Alloc {
		cfg.AllocMode = o.AllocMode
	}
	for _, p := range o.PIDs {
		cfg.PIDs = append(cfg.PIDs, uint32(p))
	}
	return cfg
}

// Run watches until the window ends or Ctrl-C; either way the agent's
// final verdicts are read and printed.
func (o *MemoryOptions) Run(ctx context.Context) error {
	if o.DryRun {
		if o.targets == nil {
			return errors.New("--dry-run shows the probe pods of a cluster target: name one (pod/NAME, deploy/NAME, node/NAME)")
		}
		so := o.sessionOptions()
		pods, err := session.Pods(&so)
		if err != nil {
			return err
		}
		return session.WriteYAML(o.Out, pods)
	}
	if o.Local && (runtime.GOOS != "linux" || (o.Alloc && os.Geteuid() != 0)) {
		if err := local.Check(); err != nil {
			return err
		}
	}
	if ctx == nil {
		ctx = context.Background()
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()

	if o.Output == "json" {
		// The agent's records are the output: pass them through as they come.
		var mu sync.Mutex
		return o.run(ctx, o.Config(), o.ErrOut, func(line []byte) {
			mu.Lock()
			defer mu.Unlock()
			_, _ = o.Out.Write(append(line, '\n'))
		})
	}

	tty := printers.IsTerminal(o.Out)
	width := 0
	if f, ok := o.Out.(*os.File); ok && tty {
		if w, _, err := term.GetSize(int(f.Fd())); err == nil {
			width = w
		}
	}
	useColor := o.Color == "always" || (o.Color == "auto" && printers.AllowsColorOutput(o.Out))
	v := memview.New(memview.Options{Out: o.Out, ErrOut: o.ErrOut, TTY: tty, Color: useColor, Width: width,
		Duration: o.Duration, NoStream: o.NoStream, PodNames: o.podNames()})
	var mu sync.Mutex
	tickDone := make(chan struct{})
	runCtx, cancelTicks := context.WithCancel(ctx)
	go func() {
		defer close(tickDone)
		t := time.NewTicker(o.Interval)
		defer t.Stop()
		for {
			select {
			case <-runCtx.Done():
				return
			case <-t.C:
				mu.Lock()
				_ = v.Tick()
				mu.Unlock()
			}
		}
	}()
	err := o.run(ctx, o.Config(), o.ErrOut, func(line []byte) {
		mu.Lock()
		defer mu.Unlock()
		_ = v.HandleLine(line)
	})
	cancelTicks()
	<-tickDone
	if ferr := v.Final(); err == nil {
		err = ferr
	}
	return err
}
