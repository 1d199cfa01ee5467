package cmd

import (
	"context"
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

	"github.com/kubectl-pixie/kubectl-pixie/plugin/completion"
	"github.com/kubectl-pixie/kubectl-pixie/plugin/local"
	"github.com/kubectl-pixie/kubectl-pixie/plugin/memview"
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

		With --alloc, uprobes on the C allocator (malloc, calloc, realloc,
		free) sample allocations and report the call stacks that hold the
		most outstanding bytes at the end.`)
	memoryExample = templates.Examples(`
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
	AllocRate uint64
	Color     string
	NoStream  bool
	Args      []string

	genericiooptions.IOStreams

	// run streams agent records to onLine; --local runs a child agent.
	// The cluster path (probe pods, plugin/session) plugs in here.
	run func(ctx context.Context, cfg api.MemoryConfig, stderr io.Writer, onLine func([]byte)) error
}

// NewMemoryOptions returns the defaults.
func NewMemoryOptions(streams genericiooptions.IOStreams) *MemoryOptions {
	return &MemoryOptions{
		Duration:  30 * time.Second,
		Interval:  time.Second,
		Output:    "table",
		AllocRate: 64 << 10,
		Color:     "auto",
		IOStreams: streams,
	}
}

// NewCmdMemory builds `kubectl pixie memory`.
func NewCmdMemory(f cmdutil.Factory, streams genericiooptions.IOStreams) *cobra.Command {
	o := NewMemoryOptions(streams)
	cmd := &cobra.Command{
		Use:     "memory [--local (--pid PID | --comm NAME | --all)]",
		Aliases: []string{"mem"},
		Short:   "Memory trends of processes and a leak verdict (growth rate, peak, % of limit, time to OOM)",
		Long:    memoryLong,
		Example: fmt.Sprintf(memoryExample, "kubectl pixie"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.Complete(f, cmd, args); err != nil {
				return err
			}
			if err := o.Validate(); err != nil {
				return err
			}
			return o.Run(cmd.Context())
		},
	}
	o.AddFlags(cmd)
	cmd.ValidArgsFunction = completion.CompleteTargets(f)
	_ = completion.RegisterTargetFlags(cmd, f)
	return cmd
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
	fl.StringVarP(&o.Output, "output", "o", o.Output, "output format: table or json (NDJSON records)")
	fl.BoolVar(&o.Alloc, "alloc", o.Alloc, "also report call stacks holding outstanding malloc bytes (uprobes; slows allocation-heavy programs)")
	fl.Uint64Var(&o.AllocRate, "alloc-sample-bytes", o.AllocRate, "with --alloc: sample one allocation per this many bytes on average (1: all)")
	fl.StringVar(&o.Color, "color", o.Color, "colour: auto, always or never")
	fl.BoolVar(&o.NoStream, "no-stream", o.NoStream, "print only the final result, no live table")
}

// Complete reads the arguments and picks the record source.
func (o *MemoryOptions) Complete(_ cmdutil.Factory, _ *cobra.Command, args []string) error {
	o.Args = args
	if o.run == nil && o.Local {
		o.run = func(ctx context.Context, cfg api.MemoryConfig, stderr io.Writer, onLine func([]byte)) error {
			return local.Run(ctx, "memory", cfg, stderr, onLine)
		}
	}
	return nil
}

// Validate checks the flags without I/O.
func (o *MemoryOptions) Validate() error {
	if !o.Local {
		if len(o.Args) == 0 {
			return errors.New("nothing to watch: name a target (kubectl pixie memory pod/NAME) or use --local with --pid, --comm or --all")
		}
		return errors.New("memory of cluster targets is not available in this build yet: run it on the node with --local --pid PID")
	}
	if len(o.Args) > 0 {
		return fmt.Errorf("--local takes no TYPE/NAME arguments (got %q): select processes with --pid, --comm or --all", o.Args[0])
	}
	if len(o.PIDs) == 0 && len(o.Comms) == 0 && !o.All {
		return errors.New("--local needs processes to watch: add --pid PID, --comm NAME or --all")
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
	switch o.Output {
	case "table", "json":
	default:
		return fmt.Errorf("unknown output format %q: use -o table or -o json", o.Output)
	}
	switch o.Color {
	case "auto", "always", "never":
	default:
		return fmt.Errorf("unknown --color %q: use auto, always or never", o.Color)
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
	for _, p := range o.PIDs {
		cfg.PIDs = append(cfg.PIDs, uint32(p))
	}
	return cfg
}

// Run watches until the window ends or Ctrl-C; either way the agent's
// final verdicts are read and printed.
func (o *MemoryOptions) Run(ctx context.Context) error {
	if runtime.GOOS != "linux" || (o.Alloc && os.Geteuid() != 0) {
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
		Duration: o.Duration, NoStream: o.NoStream})
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
