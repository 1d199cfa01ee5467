package cmd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	cmdutil "k8s.io/kubectl/pkg/cmd/util"
	"k8s.io/kubectl/pkg/util/templates"

	"github.com/kubectl-pixie/kubectl-pixie/plugin/driver"
	"github.com/kubectl-pixie/kubectl-pixie/plugin/flame"
	"github.com/kubectl-pixie/kubectl-pixie/plugin/gate"
	"github.com/kubectl-pixie/kubectl-pixie/plugin/mapview"
	"github.com/kubectl-pixie/kubectl-pixie/plugin/memview"
	"github.com/kubectl-pixie/kubectl-pixie/plugin/profileview"
	"github.com/kubectl-pixie/kubectl-pixie/plugin/recording"
	"github.com/kubectl-pixie/kubectl-pixie/plugin/render"
	"github.com/kubectl-pixie/kubectl-pixie/plugin/traceview"
	"github.com/kubectl-pixie/kubectl-pixie/probes/api/stats"
)

func init() { register(NewCmdDiff) }

var (
	diffLong = templates.LongDesc(`
		Compare two recordings of the same command (--record): BASE, then NEW.

		trace: per endpoint, the request count, rate, error share, p50 and
		p99 of each run and the change. A change is marked with * when each
		run has --min-requests requests of the endpoint and: for the rate
		and the error share, a z score of 3 (Poisson counts, two
		proportions); for latencies, a change beyond twice the latency
		sketches' 1% error, at least --min-change and at least --min-delta.

		profile: per function, its self CPU time (a share of one CPU) in
		each run, marked when one run has --min-samples samples of it, the
		change has a z score of 3 and is at least --min-change; then NEW's
		flame graph coloured by change (-o svg: as an interactive SVG), and
		--pprof DIR writes both profiles for go tool pprof -diff_base.

		map: per edge (requestor -> responder, PIDs left out, and protocol),
		as trace per endpoint.

		memory: per process name, growth rate, RSS and verdict, marked when
		the rates' 95% intervals do not overlap or the verdict changed; in
		recordings of a cluster per row of --group-by (workload by default),
		as memory shows them.

		--fail-if rules read NEW's values; a signed literal reads the
		change: 'p99 > +20%', 'p99 > +5ms', 'error_rate > +1%' (points),
		'cpu > +10%' (of one CPU), 'rate_per_min > +1MiB'.`)

	diffExample = templates.Examples(`
		# Keep a baseline, deploy, record again and compare
		%[1]s trace deploy/api --duration 1m --record base.pixie.gz
		%[1]s trace deploy/api --duration 1m --record new.pixie.gz
		%[1]s diff base.pixie.gz new.pixie.gz

		# Fail a pipeline when an endpoint's p99 grew by more than 20%%
		%[1]s diff base.pixie.gz new.pixie.gz --fail-if 'p99 > +20%% && marked =~ p99'

		# Where did the CPU go: a differential flame graph and pprof files
		%[1]s diff cpu-base.pixie.gz cpu-new.pixie.gz -o svg > diff.svg
		%[1]s diff cpu-base.pixie.gz cpu-new.pixie.gz --pprof out && go tool pprof -diff_base out/base.pb.gz out/new.pb.gz`)
)

// DiffOptions are the flags and state of `kubectl pixie diff`.
type DiffOptions struct {
	Output      string
	Color       render.ColorMode
	Pprof       string
	MinRequests uint64
	MinSamples  uint64
	MinChange   float64 // percent
	MinDelta    time.Duration
	gates       gateFlags
	groupBy     groupBy

	files   [2]string
	headers [2]recording.Header
	genericiooptions.IOStreams
}

// NewDiffOptions returns the defaults.
func NewDiffOptions(streams genericiooptions.IOStreams) *DiffOptions {
	return &DiffOptions{Output: "table", Color: render.ColorAuto, IOStreams: streams,
		MinRequests: traceview.DefaultThresholds.MinRequests, MinSamples: profileview.DefaultThresholds.MinSamples,
		MinChange: 100 * traceview.DefaultThresholds.MinChange, MinDelta: traceview.DefaultThresholds.MinDelta}
}

// NewCmdDiff builds `kubectl pixie diff`.
func NewCmdDiff(_ cmdutil.Factory, streams genericiooptions.IOStreams) *cobra.Command {
	o := NewDiffOptions(streams)
	cmd := &cobra.Command{
		Use:     "diff BASE NEW",
		Short:   "Compare two recordings (--record) of trace, map, profile or memory: what changed, marked where it is more than noise",
		Long:    diffLong,
		Example: fmt.Sprintf(diffExample, "kubectl pixie"),
		Args:    cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.Complete(args); err != nil {
				return err
			}
			if err := o.Validate(); err != nil {
				return err
			}
			return o.Run(cmd.Context())
		},
	}
	o.AddFlags(cmd)
	return cmd
}

// AddFlags registers the flags.
func (o *DiffOptions) AddFlags(cmd *cobra.Command) {
	fs := cmd.Flags()
	fs.StringVarP(&o.Output, "output", "o", o.Output, "table or json (one record per endpoint, function or process); svg for profiles (differential flame graph)")
	fs.Var(&o.Color, "color", "colour: auto, always or never")
	fs.StringVar(&o.Pprof, "pprof", "", "profiles: write DIR/base.pb.gz and DIR/new.pb.gz, for go tool pprof -diff_base DIR/base.pb.gz DIR/new.pb.gz")
	fs.Uint64Var(&o.MinRequests, "min-requests", o.MinRequests, "trace: mark an endpoint's changes only when each run has this many requests of it")
	fs.Uint64Var(&o.MinSamples, "min-samples", o.MinSamples, "profile: mark a function only when one run has this many of its samples")
	fs.Float64Var(&o.MinChange, "min-change", o.MinChange, "mark only changes of at least this percentage of BASE (rates, latencies, CPU)")
	fs.DurationVar(&o.MinDelta, "min-delta", o.MinDelta, "trace: mark only latency changes of at least this much")
	o.gates.addFlags(fs, `'p99 > +20%'`)
	o.groupBy.addFlags(cmd)
	fs.Lookup("group-by").Usage = "memory recordings of a cluster: what a row stands for, a list of workload (replicas merged), pod and node, e.g. workload,node"
	_ = cmd.RegisterFlagCompletionFunc("output", cobra.FixedCompletions([]string{"table", "json", "svg"}, cobra.ShellCompDirectiveNoFileComp))
}

// Complete reads both recordings' headers.
func (o *DiffOptions) Complete(args []string) error {
	if len(args) != 2 {
		return fmt.Errorf("diff compares two recordings, not %d: kubectl pixie diff BASE NEW (files from --record)", len(args))
	}
	for i, path := range args {
		f, err := os.Open(path)
		if err != nil {
			return fmt.Errorf("cannot open the recording: %w: check the path", err)
		}
		rd, err := recording.NewReader(f)
		_ = f.Close()
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		o.files[i], o.headers[i] = path, rd.Header
	}
	return nil
}

// schema is the --fail-if columns of the recorded command.
func (o *DiffOptions) schema() (gate.Schema, error) {
	switch o.headers[0].Command {
	case "trace", "map":
		return traceview.DiffGateSchema, nil
	case "profile":
		return profileview.DiffGateSchema, nil
	case "memory":
		return memview.DiffGateSchema, nil
	}
	return gate.Schema{}, fmt.Errorf("%s was recorded by `%s`: diff compares recordings of trace, map, profile or memory", o.files[0], o.headers[0].Command)
}

// Validate checks the flags against the recordings; no I/O.
func (o *DiffOptions) Validate() error {
	if _, err := render.ParseColorMode(string(o.Color)); err != nil {
		return err
	}
	if a, b := o.headers[0].Command, o.headers[1].Command; a != b {
		return fmt.Errorf("%s was recorded by `%s` and %s by `%s`: compare two recordings of the same command", o.files[0], a, o.files[1], b)
	}
	schema, err := o.schema()
	if err != nil {
		return err
	}
	profile := o.headers[0].Command == "profile"
	switch {
	case o.Output != "table" && o.Output != "json" && o.Output != "svg":
		return fmt.Errorf("unknown output format %q: use table or json (or svg for profiles)", o.Output)
	case o.Output == "svg" && !profile:
		return fmt.Errorf("-o svg draws profiles; %s is a %s recording: use table or json", o.files[0], o.headers[0].Command)
	case o.Pprof != "" && !profile:
		return fmt.Errorf("--pprof writes profiles; %s is a %s recording: drop --pprof", o.files[0], o.headers[0].Command)
	case o.MinChange < 0 || o.MinDelta < 0:
		return errors.New("--min-change and --min-delta are at least 0: a change smaller than them is not marked")
	case o.groupBy.spec != defaultGroupBy && o.headers[0].Command != "memory":
		return fmt.Errorf("--group-by regroups memory recordings; %s is a %s recording, whose rows were grouped when it was recorded: drop --group-by", o.files[0], o.headers[0].Command)
	}
	if err := o.groupBy.validate(); err != nil {
		return err
	}
	if o.Pprof != "" {
		if st, err := os.Stat(o.Pprof); err != nil || !st.IsDir() {
			return fmt.Errorf("--pprof %s is not a directory: create it or name another", o.Pprof)
		}
	}
	return o.gates.validate(schema)
}

// Run loads both recordings and writes their comparison.
func (o *DiffOptions) Run(ctx context.Context) error {
	if ctx == nil {
		ctx = context.Background()
	}
	width, _, _ := render.TerminalSize(o.Out)
	p := render.PaletteFor(o.Out, o.Color)
	var src func() gate.Source
	var err error
	switch o.headers[0].Command {
	case "trace":
		src, err = o.diffTrace(ctx, p, width)
	case "map":
		src, err = o.diffMap(ctx, p, width)
	case "profile":
		src, err = o.diffProfile(ctx, p, width)
	case "memory":
		src, err = o.diffMemory(ctx, p)
	}
	return o.gates.check(ctx, "diff", o.ErrOut, src, err)
}

// load replays the recording i into the view mk makes, on its recorded
// clock, and finishes it.
func (o *DiffOptions) load(ctx context.Context, i int, mk func(h recording.Header, now func() time.Time) driver.View) (driver.View, error) {
	f, err := os.Open(o.files[i])
	if err != nil {
		return nil, fmt.Errorf("cannot open the recording: %w: check the path", err)
	}
	defer func() { _ = f.Close() }()
	rd, err := recording.NewReader(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", o.files[i], err)
	}
	clock, src := rd.Replay(func(err error) {
		fmt.Fprintf(o.ErrOut, "%s %s: %s\n", render.PaletteFor(o.ErrOut, o.Color).Warn("warning:"), o.files[i], err)
	})
	v := mk(rd.Header, clock.Now)
	if err := src(ctx, func(node string, line []byte) { v.Line(node, line) }); err != nil {
		return nil, err
	}
	v.Frame(true)
	if err := v.Finish(io.Discard, nil); err != nil {
		fmt.Fprintf(o.ErrOut, "%s %s: the recorded run reported: %s\n", render.PaletteFor(o.ErrOut, o.Color).Warn("warning:"), o.files[i], err)
	}
	return v, nil
}

func (o *DiffOptions) diffTrace(ctx context.Context, p *render.Palette, width int) (func() gate.Source, error) {
	var views [2]*traceview.View
	for i := range views {
		v, err := o.load(ctx, i, func(h recording.Header, now func() time.Time) driver.View {
			return traceview.New(io.Discard, traceview.Options{Output: "table", Window: time.Duration(h.WindowNs), Now: now})
		})
		if err != nil {
			return nil, err
		}
		views[i] = v.(*traceview.View)
	}
	return o.writeTraceDiff(traceview.Compare(views[0], views[1], o.thresholds()), p, width)
}

func (o *DiffOptions) thresholds() traceview.Thresholds {
	return traceview.Thresholds{MinRequests: o.MinRequests, MinChange: o.MinChange / 100, MinDelta: o.MinDelta}
}

func (o *DiffOptions) writeTraceDiff(d *traceview.TraceDiff, p *render.Palette, width int) (func() gate.Source, error) {
	d.Titles(filepath.Base(o.files[0]), filepath.Base(o.files[1]), time.Duration(o.headers[0].WindowNs), time.Duration(o.headers[1].WindowNs))
	if o.Output == "json" {
		return d.GateSource, d.WriteJSON(o.Out)
	}
	return d.GateSource, d.WriteTable(o.Out, p, width)
}

// diffMap compares two maps edge by edge, as trace compares endpoints.
func (o *DiffOptions) diffMap(ctx context.Context, p *render.Palette, width int) (func() gate.Source, error) {
	var rows [2][]stats.Endpoint
	var secs [2]float64
	for i := range rows {
		v, err := o.load(ctx, i, func(h recording.Header, now func() time.Time) driver.View {
			return mapview.New(io.Discard, mapview.Options{Output: mapview.OutputTable, Window: time.Duration(h.WindowNs), Now: now}, nil)
		})
		if err != nil {
			return nil, err
		}
		rows[i], secs[i] = v.(*mapview.View).DiffRows()
	}
	d := traceview.CompareRows(rows[0], rows[1], secs[0], secs[1], o.thresholds())
	d.Heads("EDGE", "PROTOCOL")
	return o.writeTraceDiff(d, p, width)
}

func (o *DiffOptions) diffProfile(ctx context.Context, p *render.Palette, width int) (func() gate.Source, error) {
	var views [2]*profileview.View
	for i := range views {
		v, err := o.load(ctx, i, func(h recording.Header, now func() time.Time) driver.View {
			return profileview.New(io.Discard, profileview.Options{Output: profileview.OutTerminal, Hz: recordedHz(h), Window: time.Duration(h.WindowNs), Now: now})
		})
		if err != nil {
			return nil, err
		}
		views[i] = v.(*profileview.View)
	}
	d := profileview.Compare(views[0], views[1], profileview.Thresholds{MinSamples: o.MinSamples, MinChange: o.MinChange / 100})
	d.Titles(filepath.Base(o.files[0]), filepath.Base(o.files[1]))
	if o.Pprof != "" {
		if err := o.writePprof(d); err != nil {
			return nil, err
		}
	}
	switch o.Output {
	case "json":
		return d.GateSource, d.WriteJSON(o.Out)
	case "svg":
		title := fmt.Sprintf("CPU change from %s to %s (red: more, blue: less)", filepath.Base(o.files[0]), filepath.Base(o.files[1]))
		return d.GateSource, d.Diff.WriteSVG(o.Out, title)
	}
	return d.GateSource, d.WriteTerminal(o.Out, p, flame.TermOptions{Width: width, Color: p.Enabled(), Escape: render.Sanitize})
}

// writePprof writes both profiles for go tool pprof -diff_base.
func (o *DiffOptions) writePprof(d *profileview.ProfileDiff) error {
	for name, prof := range map[string]*flame.Profile{"base.pb.gz": d.Base, "new.pb.gz": d.New} {
		path := filepath.Join(o.Pprof, name)
		f, err := os.Create(path)
		if err != nil {
			return fmt.Errorf("--pprof: %w: choose a writable directory", err)
		}
		err = errors.Join(prof.WritePprof(f), f.Close())
		if err != nil {
			return fmt.Errorf("--pprof: writing %s: %w", path, err)
		}
	}
	fmt.Fprintf(o.ErrOut, "wrote %s and %s (go tool pprof -diff_base %[1]s %[2]s)\n",
		filepath.Join(o.Pprof, "base.pb.gz"), filepath.Join(o.Pprof, "new.pb.gz"))
	return nil
}

func (o *DiffOptions) diffMemory(ctx context.Context, p *render.Palette) (func() gate.Source, error) {
	var views [2]*memview.View
	for i := range views {
		v, err := o.load(ctx, i, func(h recording.Header, now func() time.Time) driver.View {
			vo := memview.Options{ErrOut: io.Discard, Duration: time.Duration(h.WindowNs), Pods: memPods(h.Pods)}
			if vo.Pods != nil {
				vo.Group = &memview.GroupBy{Pod: o.groupBy.by.Pod, Node: o.groupBy.by.Node}
			}
			return memview.New(vo)
		})
		if err != nil {
			return nil, err
		}
		views[i] = v.(*memview.View)
	}
	d := memview.Compare(views[0], views[1])
	d.Titles(filepath.Base(o.files[0]), filepath.Base(o.files[1]))
	if o.Output == "json" {
		return d.GateSource, d.WriteJSON(o.Out)
	}
	return d.GateSource, d.WriteTable(o.Out, p)
}
