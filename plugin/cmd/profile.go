package cmd

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	cmdutil "k8s.io/kubectl/pkg/cmd/util"
	"k8s.io/kubectl/pkg/util/templates"

	"github.com/kubectl-pixie/kubectl-pixie/plugin/flame"
	"github.com/kubectl-pixie/kubectl-pixie/plugin/local"
	"github.com/kubectl-pixie/kubectl-pixie/plugin/render"
	"github.com/kubectl-pixie/kubectl-pixie/plugin/session"
	"github.com/kubectl-pixie/kubectl-pixie/plugin/target"
	"github.com/kubectl-pixie/kubectl-pixie/probes/api"
)

func init() { register(NewCmdProfile) }

const profileMaxDuration = 30 * time.Minute

// Output formats of `kubectl pixie profile`.
const (
	profileOutTerminal   = "terminal"
	profileOutFolded     = "folded"
	profileOutPprof      = "pprof"
	profileOutSVG        = "svg"
	profileOutSpeedscope = "speedscope"
	profileOutJSON       = "json"
)

// profileDefaultFiles are written when a file format is asked for and
// stdout is a terminal (binary or thousands of lines would flood it).
var profileDefaultFiles = map[string]string{
	profileOutPprof:      "profile.pb.gz",
	profileOutSVG:        "profile.svg",
	profileOutSpeedscope: "profile.speedscope.json",
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

// ProfileRunFunc streams agent records (NDJSON lines) for cfg to onLine,
// with the node each came from ("" for --local), until the window ends or
// ctx is cancelled. --local runs a child agent; cluster mode runs one probe
// pod per node (plugin/session) and the plugin merges the nodes.
type ProfileRunFunc func(ctx context.Context, cfg api.ProfileConfig, stderr io.Writer, onLine func(node string, line []byte)) error

// ProfileOptions holds the flags of `kubectl pixie profile`.
type ProfileOptions struct {
	Local      bool
	PIDs       []uint
	Comms      []string
	All        bool
	Duration   time.Duration
	Hz         int
	Kernel     bool
	Unwind     string
	Output     string
	OutputFile string
	Color      string
	NoStream   bool
	Quiet      bool
	DryRun     bool
	Args       []string

	// Cluster mode: what to profile and how the probe pods run.
	clusterTargets

	genericiooptions.IOStreams

	run ProfileRunFunc
}

// NewProfileOptions returns the defaults.
func NewProfileOptions(streams genericiooptions.IOStreams) *ProfileOptions {
	return &ProfileOptions{
		Duration:       30 * time.Second,
		Hz:             api.ProfileDefaultHz,
		Unwind:         api.ProfileUnwindAuto,
		Output:         profileOutTerminal,
		Color:          "auto",
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
	fl.BoolVar(&o.Local, "local", o.Local, "profile processes on this host (Linux, root)")
	fl.UintSliceVar(&o.PIDs, "pid", o.PIDs, "process IDs to profile (with --local)")
	fl.StringSliceVar(&o.Comms, "comm", o.Comms, "process names to profile, as ps -o comm shows them (with --local)")
	fl.BoolVar(&o.All, "all", o.All, "profile every process (with --local)")
	fl.DurationVar(&o.Duration, "duration", o.Duration, "how long to sample (at most 30m; Ctrl-C ends early and still reports)")
	fl.IntVar(&o.Hz, "hz", o.Hz, "samples per second per CPU (1-1000)")
	fl.BoolVar(&o.Kernel, "kernel", o.Kernel, "include kernel frames")
	fl.StringVar(&o.Unwind, "unwind", o.Unwind, "user stacks: auto (frame pointers for Go, CFI for the rest), fp, or cfi (.eh_frame, for C/C++ built without frame pointers)")
	fl.StringVarP(&o.Output, "output", "o", o.Output, "output: terminal, folded, pprof, svg, speedscope or json (NDJSON records)")
	fl.StringVar(&o.OutputFile, "output-file", o.OutputFile, "write the output to this file instead of stdout")
	fl.StringVar(&o.Color, "color", o.Color, "colour: auto, always or never")
	fl.BoolVar(&o.NoStream, "no-stream", o.NoStream, "no live top-functions view, only the result")
	fl.BoolVarP(&o.Quiet, "quiet", "q", o.Quiet, "no progress on stderr")
	fl.BoolVar(&o.DryRun, "dry-run", o.DryRun, "print the probe pods that would be created (YAML) and exit")
	o.addFlags(fl, "profile")
}

// Complete reads the arguments and picks the record source: a child agent
// for --local, probe pods on the targets' nodes otherwise.
func (o *ProfileOptions) Complete(f cmdutil.Factory, cmd *cobra.Command, args []string) error {
	o.Args = args
	if o.run != nil {
		return nil
	}
	if o.Local {
		if err := local.Check(); err != nil {
			return err
		}
		o.run = func(ctx context.Context, cfg api.ProfileConfig, stderr io.Writer, onLine func(string, []byte)) error {
			return local.Run(ctx, api.ProbeProfile, cfg, stderr, func(line []byte) { onLine("", line) })
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
func (o *ProfileOptions) sessionOptions() session.Options {
	return o.clusterTargets.sessionOptions(api.ProbeProfile, o.Duration, o.ErrOut, o.Quiet, func(n target.Node) any {
		cfg := o.Config()
		cfg.All = n.All
		cfg.ContainerIDs = n.ContainerIDs()
		cfg.PodUIDs = n.PodUIDs()
		return cfg
	})
}

func (o *ProfileOptions) runCluster(ctx context.Context, _ api.ProfileConfig, _ io.Writer, onLine func(string, []byte)) error {
	if w := o.targets.Warning(); w != "" && !o.Quiet {
		fmt.Fprintf(o.ErrOut, "warning: %s\n", w)
	}
	// The session stops on the signal itself and needs a live context to
	// delete the pods afterwards, so it does not get Run's signal context.
	_, err := session.Run(context.WithoutCancel(ctx), o.sessionOptions(), func(l session.Line) { onLine(l.Node, l.Data) })
	return err
}

// Validate checks the flags without I/O.
func (o *ProfileOptions) Validate() error {
	if !o.Local {
		if len(o.PIDs) > 0 || len(o.Comms) > 0 || o.All {
			return errors.New("--pid, --comm and --all select processes of this host: add --local")
		}
		if o.run == nil {
			return errors.New("nothing to profile: name a target (pod/NAME, deploy/NAME, node/NAME), a -l selector, or use --local with --pid, --comm or --all")
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
			return errors.New("--local needs processes to profile: add --pid PID, --comm NAME or --all")
		}
	}
	for _, p := range o.PIDs {
		if p == 0 || p > 1<<22 {
			return fmt.Errorf("--pid %d is not a process ID", p)
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
	switch o.Output {
	case profileOutTerminal, profileOutFolded, profileOutPprof, profileOutSVG, profileOutSpeedscope, profileOutJSON:
	default:
		return fmt.Errorf("unknown output format %q: use -o terminal, folded, pprof, svg, speedscope or json", o.Output)
	}
	if _, err := render.ParseColorMode(o.Color); err != nil {
		return err
	}
	return nil
}

// Config is what the agent is asked to do.
func (o *ProfileOptions) Config() api.ProfileConfig {
	cfg := api.ProfileConfig{Comms: o.Comms, All: o.All, DurationNs: int64(o.Duration), Hz: o.Hz, Kernel: o.Kernel}
	if o.Unwind != api.ProfileUnwindAuto {
		cfg.Unwind = o.Unwind
	}
	for _, p := range o.PIDs {
		cfg.PIDs = append(cfg.PIDs, uint32(p))
	}
	return cfg
}

// profileState is what Run accumulates from the records.
type profileState struct {
	mu       sync.Mutex
	prof     *flame.Profile
	stats    map[string]api.ProbeStats // last probe_stats per node
	errs     []string
	start    time.Time
	changed  bool
	anyReady bool
}

// stackPrefix starts every stack_traces record (Header is the first
// field), so the common record is decoded once, not twice.
var stackPrefix = []byte(`{"table":"` + api.TableStackTraces + `"`)

func (s *profileState) handle(node string, line []byte) {
	var h api.Header
	if bytes.HasPrefix(line, stackPrefix) {
		h.Table = api.TableStackTraces
	} else if json.Unmarshal(line, &h) != nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch h.Table {
	case api.TableStackTraces:
		var r api.StackTrace
		if json.Unmarshal(line, &r) == nil {
			if r.Node == "" {
				r.Node = node
			}
			s.prof.AddRecord(&r)
			s.changed = true
		}
	case api.TableProbeStats:
		var r api.ProbeStats
		if json.Unmarshal(line, &r) == nil {
			if r.Node == "" {
				r.Node = node
			}
			s.stats[r.Node] = r
			s.changed = true
		}
	case api.TableProbeReady:
		s.anyReady = true
	case api.TableProbeLog:
		var r api.ProbeLog
		if json.Unmarshal(line, &r) == nil && r.Level == api.LevelError {
			msg := r.Msg
			if node != "" {
				msg = "node " + node + ": " + msg
			}
			if r.Remedy != "" {
				msg += ": " + r.Remedy
			}
			s.errs = append(s.errs, msg)
		}
	}
}

// Run profiles until the window ends or Ctrl-C, then writes the result.
func (o *ProfileOptions) Run(ctx context.Context) error {
	if ctx == nil {
		ctx = context.Background()
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()

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
	out, closeOut, err := o.openOutput()
	if err != nil {
		return err
	}
	if o.Output == profileOutJSON {
		// The agent's records are the output, as they come.
		var mu sync.Mutex
		err := o.run(ctx, o.Config(), o.ErrOut, func(_ string, line []byte) {
			mu.Lock()
			defer mu.Unlock()
			_, _ = out.Write(append(line, '\n'))
		})
		return errors.Join(err, closeOut())
	}

	st := &profileState{prof: flame.New(o.Hz), stats: map[string]api.ProbeStats{}, start: time.Now()}
	st.prof.TimeNs = st.start.UnixNano()
	width, height, outTTY := render.TerminalSize(o.Out)
	if width <= 0 {
		width = 100
	}
	// The live view goes to the terminal when stdout is one and carries no
	// data (terminal output, or data going to a file).
	liveOn := outTTY && !o.NoStream && (o.Output == profileOutTerminal || o.OutputFile != "")
	colorOn := render.ColorMode(o.Color).Enabled(o.Out)
	var live *render.Live
	if liveOn {
		live = render.NewLive(o.Out, render.LiveOptions{TTY: true, Width: width, Height: height})
	}
	tickDone := make(chan struct{})
	runCtx, cancelTicks := context.WithCancel(ctx)
	go func() {
		defer close(tickDone)
		if live == nil {
			return
		}
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-runCtx.Done():
				return
			case <-t.C:
				st.mu.Lock()
				if st.changed {
					st.changed = false
					_ = live.Update(o.liveFrame(st, width, max(height-4, 5), colorOn))
				}
				st.mu.Unlock()
			}
		}
	}()
	err = o.run(ctx, o.Config(), o.ErrOut, st.handle)
	cancelTicks()
	<-tickDone

	st.mu.Lock()
	defer st.mu.Unlock()
	st.prof.DurationNs = time.Since(st.start).Nanoseconds()
	for _, e := range st.errs {
		fmt.Fprintf(o.ErrOut, "error: %s\n", render.Sanitize(e))
	}
	if err != nil {
		var ae *local.AgentExitError
		if errors.As(err, &ae) && len(st.errs) > 0 {
			return errors.Join(errors.New("profiling failed (see above)"), closeOut())
		}
		return errors.Join(err, closeOut())
	}
	fmt.Fprintln(o.ErrOut, o.summary(st))
	if live != nil {
		frame := o.liveFrame(st, width, 10, colorOn)
		if o.Output == profileOutTerminal {
			frame = append(frame, '\n')
		}
		_ = live.Final(frame)
	}
	if werr := o.writeResult(out, st.prof, width, colorOn && out == o.Out); werr != nil {
		return errors.Join(werr, closeOut())
	}
	if err := closeOut(); err != nil {
		return err
	}
	if o.OutputFile != "" {
		fmt.Fprintf(o.ErrOut, "wrote %s%s\n", o.OutputFile, profileHint(o.Output, o.OutputFile))
	}
	return nil
}

func profileHint(format, file string) string {
	switch format {
	case profileOutPprof:
		return " (go tool pprof " + file + ")"
	case profileOutSVG:
		return " (open it in a browser)"
	case profileOutSpeedscope:
		return " (open it at https://www.speedscope.app)"
	case profileOutFolded:
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

func (o *ProfileOptions) writeResult(w io.Writer, p *flame.Profile, width int, colorOn bool) error {
	switch o.Output {
	case profileOutFolded:
		if _, _, tty := render.TerminalSize(w); tty {
			return p.WriteFoldedEscaped(w, render.Sanitize) // frame names come from the node
		}
		return p.WriteFolded(w)
	case profileOutPprof:
		return p.WritePprof(w)
	case profileOutSVG:
		return p.WriteSVG(w, o.title(p))
	case profileOutSpeedscope:
		return p.WriteSpeedscope(w, o.title(p))
	}
	if p.Total() == 0 {
		_, err := fmt.Fprintln(w, "no samples: the targets did not run on a CPU during the window (idle processes are not sampled)")
		return err
	}
	tw := width
	if w != o.Out {
		tw = 120
	}
	topts := flame.TermOptions{Width: tw, Color: colorOn, Escape: render.Sanitize}
	if _, _, tty := render.TerminalSize(o.Out); !tty || o.NoStream {
		// No live view was shown: print the top functions first.
		if err := p.WriteTop(w, 10, topts); err != nil {
			return err
		}
		fmt.Fprintln(w)
	}
	return p.WriteTerminal(w, topts)
}

func (o *ProfileOptions) title(p *flame.Profile) string {
	procs := p.Processes()
	names := []string{}
	seen := map[string]bool{}
	for _, pr := range procs {
		if !seen[pr.Comm] && len(names) < 3 {
			seen[pr.Comm] = true
			names = append(names, pr.Comm)
		}
	}
	return fmt.Sprintf("CPU profile of %s · %d samples at %d Hz", strings.Join(names, ", "), p.Total(), p.Hz)
}

func (o *ProfileOptions) liveFrame(st *profileState, width, rows int, colorOn bool) []byte {
	var b bytes.Buffer
	elapsed := time.Since(st.start).Truncate(time.Second)
	fmt.Fprintf(&b, "PROFILE  window %s/%s  samples %s  processes %d  %d Hz",
		render.FormatClock(elapsed), render.FormatClock(o.Duration), render.FormatCount(st.prof.Total()),
		len(st.prof.Processes()), o.Hz)
	if o.targets != nil {
		fmt.Fprintf(&b, "  nodes %d", len(o.targets.Nodes))
	}
	b.WriteByte('\n')
	if st.prof.Total() == 0 {
		b.WriteString("waiting for samples (idle processes are not sampled)\n")
		return b.Bytes()
	}
	_ = st.prof.WriteTop(&b, rows, flame.TermOptions{Width: width, Color: colorOn, Escape: render.Sanitize})
	return b.Bytes()
}

// summary is the stderr line: samples, rate, window, processes, losses, cost.
func (o *ProfileOptions) summary(st *profileState) string {
	var all []api.ProbeStats
	for _, s := range st.stats {
		all = append(all, s)
	}
	m := render.MergeProbeStats(all...)
	procs := len(st.prof.Processes())
	noun := "processes"
	if procs == 1 {
		noun = "process"
	}
	parts := []string{fmt.Sprintf("samples %s (%d Hz · %s · %d %s)", render.FormatCount(st.prof.Total()), o.Hz,
		render.FormatWindow(time.Duration(st.prof.DurationNs)), procs, noun)}
	lost := "lost 0"
	if m.EventsLost > 0 || len(m.LostBy) > 0 {
		var rs []string
		for k, v := range m.LostBy {
			rs = append(rs, fmt.Sprintf("%s %s", render.Sanitize(k), render.FormatCount(v)))
		}
		lost = fmt.Sprintf("lost %s (%s)", render.FormatCount(m.EventsLost), strings.Join(rs, ", "))
	}
	parts = append(parts, lost)
	if m.WindowNs > 0 {
		cost := 100 * float64(m.UserCPUNs+m.BPFRunNs) / float64(m.WindowNs) / float64(max(len(all), 1))
		parts = append(parts, fmt.Sprintf("probe CPU %s%% of one CPU", render.FormatPercent(cost)))
	}
	return strings.Join(parts, " · ")
}
