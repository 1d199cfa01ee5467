package cmd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	cmdutil "k8s.io/kubectl/pkg/cmd/util"
	"k8s.io/kubectl/pkg/util/templates"

	"github.com/kubectl-pixie/kubectl-pixie/plugin/driver"
	"github.com/kubectl-pixie/kubectl-pixie/plugin/profileview"
	"github.com/kubectl-pixie/kubectl-pixie/plugin/recording"
	"github.com/kubectl-pixie/kubectl-pixie/plugin/render"
	"github.com/kubectl-pixie/kubectl-pixie/plugin/session"
	"github.com/kubectl-pixie/kubectl-pixie/plugin/target"
	"github.com/kubectl-pixie/kubectl-pixie/probes/api"
)

func init() { register(NewCmdProfile) }

const profileMaxDuration = 30 * time.Minute

// profileDefaultFiles are written when a file format is asked for and
// stdout is a terminal (binary or thousands of lines would flood it).
var profileDefaultFiles = map[string]string{
	profileview.OutPprof:      "profile.pb.gz",
	profileview.OutSVG:        "profile.svg",
	profileview.OutSpeedscope: "profile.speedscope.json",
}

var (
	profileLong = templates.LongDesc(`
		Sample the CPU stacks of processes with an eBPF program on a
		software cpu-clock event on every CPU, symbolized on the node (ELF
		symbols, Go pclntab even in stripped binaries, kernel symbols, JIT
		perf maps). Go stacks are walked by frame pointers in the kernel;
		other programs' stacks are copied out and unwound with each
		module's .eh_frame, so C and C++ built without frame pointers
		(most distribution packages) show whole call chains (--unwind).
		While it runs a terminal shows the top functions; at the
		end a flame graph fitted to the terminal, or a file for other tools:
		folded stacks, pprof (go tool pprof), an interactive SVG or
		speedscope JSON.`)
	profileExample = templates.Examples(`
		# Profile every pod of a deployment for 30 seconds: live top functions, then a flame graph
		%[1]s profile deploy/checkout --duration 30s

		# A pod as a pprof file, a whole node as an interactive SVG
		%[1]s profile pod/web-0 -o pprof --output-file web.pb.gz
		%[1]s profile node/worker-3 -o svg --output-file node.svg

		# Profile a local process for 20 seconds, live top functions, then a flame graph
		sudo %[1]s profile --local --pid 4242 --duration 20s

		# Folded stacks of every process named "nginx", for flamegraph.pl or speedscope
		sudo %[1]s profile --local --comm nginx -o folded > nginx.folded

		# A pprof profile with kernel frames, then open it
		sudo %[1]s profile --local --pid 4242 --kernel -o pprof --output-file cpu.pb.gz
		go tool pprof -top cpu.pb.gz

		# An interactive flame graph of the whole host
		sudo %[1]s profile --local --all -o svg --output-file host.svg`)
)

// ProfileOptions holds the flags of `kubectl pixie profile`.
type ProfileOptions struct {
	localTarget
	outputOptions
	Duration   time.Duration
	Hz         int
	Kernel     bool
	Unwind     string
	OutputFile string
	Args       []string
	gates      gateFlags
	groupBy

	// Cluster mode: what to profile and how the probe pods run.
	clusterTargets

	genericiooptions.IOStreams

	// run streams the agents' records: a child agent for --local, probe
	// pods otherwise (tests replace it).
	run driver.Source
}

// NewProfileOptions returns the defaults.
func NewProfileOptions(streams genericiooptions.IOStreams) *ProfileOptions {
	return &ProfileOptions{
		outputOptions:  newOutputOptions(profileview.OutTerminal),
		Duration:       30 * time.Second,
		Hz:             api.ProfileDefaultHz,
		Unwind:         api.ProfileUnwindAuto,
		clusterTargets: newClusterTargets(),
		IOStreams:      streams,
	}
}

// NewCmdProfile builds `kubectl pixie profile`.
func NewCmdProfile(f cmdutil.Factory, streams genericiooptions.IOStreams) *cobra.Command {
	o := NewProfileOptions(streams)
	return newProbeCommand(f, &cobra.Command{
		Use:     "profile [TYPE/NAME... | -l SELECTOR | --local (--pid PID | --comm NAME | --all)]",
		Aliases: []string{"flame"},
		Short:   "CPU flame graphs: live top functions, then a flame graph, folded, pprof, SVG or speedscope",
		Long:    profileLong,
		Example: fmt.Sprintf(profileExample, "kubectl pixie"),
	}, o)
}

// AddFlags binds the flags.
func (o *ProfileOptions) AddFlags(cmd *cobra.Command) {
	fl := cmd.Flags()
	o.localTarget.addFlags(fl, "profile", "profile processes on this host (Linux, root)")
	fl.DurationVar(&o.Duration, "duration", o.Duration, "how long to sample (at most 30m; Ctrl-C ends early and still reports)")
	fl.IntVar(&o.Hz, "hz", o.Hz, "samples per second per CPU (1-1000)")
	fl.BoolVar(&o.Kernel, "kernel", o.Kernel, "include kernel frames")
	fl.StringVar(&o.Unwind, "unwind", o.Unwind, "user stacks: auto (frame pointers for Go, CFI for the rest), fp, or cfi (.eh_frame, for C/C++ built without frame pointers)")
	o.outputOptions.addFlags(fl, "output: terminal, folded, pprof, svg, speedscope or json (NDJSON records)")
	fl.StringVar(&o.OutputFile, "output-file", o.OutputFile, "write the output to this file instead of stdout")
	o.gates.addFlags(fl, `'self("runtime.mallocgc") > 20%'`)
	o.clusterTargets.addFlags(fl, "profile")
	o.groupBy.addFlags(cmd)
}

// Complete checks the flags, then picks the record source: a child agent
// for --local, probe pods on the targets' nodes otherwise (resolved only
// once the flags are valid).
func (o *ProfileOptions) Complete(f cmdutil.Factory, cmd *cobra.Command, args []string) error {
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
func (o *ProfileOptions) sessionOptions() session.Options {
	return o.clusterTargets.sessionOptions(api.ProbeProfile, o.Duration, o.ErrOut, o.Quiet, func(n target.Node) any {
		cfg := o.Config()
		cfg.All = n.All
		cfg.NodeOnly, cfg.NodePodUIDs = n.All, n.NodePodUIDs
		cfg.ContainerIDs = n.ContainerIDs()
		cfg.PodUIDs = n.PodUIDs()
		return cfg
	})
}

// validateFlags checks every flag without I/O.
func (o *ProfileOptions) validateFlags() error {
	if err := o.localTarget.validate("profile", o.Args, o.named(o.Args) || o.targets != nil || o.run != nil); err != nil {
		return err
	}
	if !o.Local {
		if err := o.Probe.Validate(); err != nil {
			return err
		}
	}
	if o.Duration < time.Second || o.Duration > profileMaxDuration {
		return fmt.Errorf("--duration %s is out of range: use a value between 1s and %s", o.Duration, profileMaxDuration)
	}
	if o.Hz < 1 || o.Hz > api.ProfileMaxHz {
		return fmt.Errorf("--hz %d is out of range: use 1 to %d (99 is the usual rate)", o.Hz, api.ProfileMaxHz)
	}
	switch o.Unwind {
	case api.ProfileUnwindAuto, api.ProfileUnwindFP, api.ProfileUnwindCFI:
	default:
		return fmt.Errorf("unknown --unwind %q: use auto, fp or cfi", o.Unwind)
	}
	if err := o.outputOptions.validate(profileview.OutTerminal, profileview.OutFolded, profileview.OutPprof,
		profileview.OutSVG, profileview.OutSpeedscope, profileview.OutJSON); err != nil {
		return err
	}
	if o.gates.used() && o.Output == profileview.OutJSON {
		return fmt.Errorf("%w: use another -o (folded, pprof, svg, speedscope or terminal)", errNoResult)
	}
	if err := o.groupBy.validate(); err != nil {
		return err
	}
	return o.gates.validate(profileview.GateSchema)
}

// Validate checks the flags without I/O.
func (o *ProfileOptions) Validate() error { return o.validateFlags() }

// Config is what the agent is asked to do.
func (o *ProfileOptions) Config() api.ProfileConfig {
	cfg := api.ProfileConfig{PIDs: o.pids(), Comms: o.Comms, All: o.All, DurationNs: int64(o.Duration), Hz: o.Hz, Kernel: o.Kernel}
	if o.Unwind != api.ProfileUnwindAuto {
		cfg.Unwind = o.Unwind
	}
	return cfg
}

// Run profiles until the window ends or a stop signal, then writes the
// result.
func (o *ProfileOptions) Run(ctx context.Context) error {
	if ctx == nil {
		ctx = context.Background()
	}
	if o.DryRun {
		if o.Local {
			return dryRunLocal(o.Out, api.ProbeProfile, o.Config())
		}
		return dryRunCluster(o.Out, o.sessionOptions())
	}
	if err := o.pickSource(); err != nil {
		return err
	}
	out, closeOut, err := o.openOutput()
	if err != nil {
		return err
	}
	do := o.driverOptions(o.IOStreams, o.Output == profileview.OutJSON)
	do.Stopping = o.localStopping(o.Local)
	if err := o.startRecording(&do, o.recordHeader(), o.Config()); err != nil {
		return errors.Join(err, closeOut())
	}
	var view driver.View = driver.PassThrough{}
	var pv *profileview.View
	if !do.JSON {
		pv = o.newView(do, out)
		view = pv
	} else if out != o.Out {
		do.Out = out
	}
	err = runError(driver.Run(ctx, o.run, view, do))
	if pv != nil {
		err = o.gates.check(ctx, "profile", o.ErrOut, pv.GateSource, err)
	}
	if err := errors.Join(err, closeOut()); err != nil {
		return err
	}
	if o.OutputFile != "" {
		fmt.Fprintf(o.ErrOut, "wrote %s%s\n", o.OutputFile, profileHint(o.Output, o.OutputFile))
	}
	return nil
}

// pickSource sets the record source, unless a test did.
func (o *ProfileOptions) pickSource() error {
	switch {
	case o.run != nil:
	case o.replay != nil:
		o.run = o.replay.src
	case o.Local:
		if err := checkLocal(&o.localTarget); err != nil {
			return err
		}
		o.run = localSource(api.ProbeProfile, o.Config(), o.ErrOut)
	default:
		o.warnTargets(o.ErrOut, o.Color, o.Quiet)
		o.run = clusterSource(o.sessionOptions(), nil)
	}
	return nil
}

// newView: the live view goes to the terminal when stdout is one and
// carries no data (terminal output, or data going to a file).
func (o *ProfileOptions) newView(do driver.Options, out io.Writer) *profileview.View {
	po := profileview.Options{
		Output: o.Output, Hz: o.Hz, Window: o.Duration,
		Live: do.TTY && !o.NoStream && (o.Output == profileview.OutTerminal || o.OutputFile != ""),
		TTY:  do.TTY, Width: do.Width, Height: do.Height, Color: o.Color.Enabled(o.Out), Now: o.now(),
	}
	if o.targets != nil {
		po.Nodes = len(o.targets.Nodes)
		po.Owners = owners(o.targets, o.by)
	}
	if out != o.Out {
		po.Result = out
	}
	return profileview.New(o.ErrOut, po)
}

// recordHeader describes the run for --record.
func (o *ProfileOptions) recordHeader() recording.Header {
	h := recording.Header{Command: "profile", WindowNs: o.Duration.Nanoseconds(), Targets: len(o.PIDs) + len(o.Comms), TargetUnit: "processes"}
	if o.targets != nil {
		h.Nodes, h.Targets, h.TargetUnit = len(o.targets.Nodes), o.targets.Pods(), "pods"
	}
	return h
}

func profileHint(format, file string) string {
	switch format {
	case profileview.OutPprof:
		return " (go tool pprof " + file + ")"
	case profileview.OutSVG:
		return " (open it in a browser)"
	case profileview.OutSpeedscope:
		return " (open it at https://www.speedscope.app)"
	case profileview.OutFolded:
		return " (flamegraph.pl " + file + " > flame.svg)"
	}
	return ""
}

// openOutput picks where the result goes: --output-file, a default file
// for binary or large formats when stdout is a terminal, or stdout.
func (o *ProfileOptions) openOutput() (io.Writer, func() error, error) {
	if o.OutputFile == "" {
		if def, ok := profileDefaultFiles[o.Output]; ok {
			if _, _, tty := render.TerminalSize(o.Out); tty {
				o.OutputFile = def
			}
		}
	}
	if o.OutputFile == "" || o.OutputFile == "-" {
		o.OutputFile = ""
		return o.Out, func() error { return nil }, nil
	}
	f, err := os.Create(o.OutputFile)
	if err != nil {
		return nil, nil, fmt.Errorf("creating --output-file: %w", err)
	}
	return f, f.Close, nil
}
