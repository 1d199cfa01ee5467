package cmd

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	cmdutil "k8s.io/kubectl/pkg/cmd/util"
	"k8s.io/kubectl/pkg/util/templates"

	"github.com/kubectl-pixie/kubectl-pixie/plugin/driver"
	"github.com/kubectl-pixie/kubectl-pixie/plugin/mapview"
	"github.com/kubectl-pixie/kubectl-pixie/plugin/recording"
	"github.com/kubectl-pixie/kubectl-pixie/plugin/render"
	"github.com/kubectl-pixie/kubectl-pixie/probes/api"
)

func init() { register(NewCmdMap) }

var (
	mapLong = templates.LongDesc(`
		Show who talks to whom: one edge per requestor, responder and
		protocol, with requests/s, error %, p50/p99 latency and bytes each
		way, over the window. With --local the peers are processes of this
		host, named by the agent from the sockets they listen on
		("postgres (pid 812)"). When both ends of a request are traced it
		counts once, from the responder's side.

		The terminal shows an adjacency table sorted by requests and a tree
		from each entry point; -o json writes service_map records (the
		columns of Pixie's net flow graph), -o dot a Graphviz graph
		(dot -Tsvg), -o mermaid a flowchart to paste into a README and -o svg
		the graph laid out by Graphviz's dot (it must be installed).
		Cluster mode is not available yet: run it with --local.`)

	mapExample = templates.Examples(`
		# Map the traffic between nginx, its clients and redis on this host
		sudo %[1]s map --local --comm nginx --comm redis-server --comm curl

		# As an SVG a browser opens (needs Graphviz's dot)
		sudo %[1]s map --local --all --duration 10s -o svg > map.svg`)
)

// MapOptions are the flags and resolved state of `kubectl pixie map`.
type MapOptions struct {
	localTarget
	outputOptions
	Duration time.Duration
	args     []string
	genericiooptions.IOStreams
}

// NewMapOptions returns the defaults.
func NewMapOptions(streams genericiooptions.IOStreams) *MapOptions {
	return &MapOptions{outputOptions: newOutputOptions(mapview.OutputTable), Duration: 30 * time.Second, IOStreams: streams}
}

// NewCmdMap builds `kubectl pixie map`.
func NewCmdMap(f cmdutil.Factory, streams genericiooptions.IOStreams) *cobra.Command {
	o := NewMapOptions(streams)
	cmd := &cobra.Command{
		Use:     "map --local",
		Short:   "Show a service map: requests, errors, latency and bytes between the processes of this host",
		Long:    mapLong,
		Example: fmt.Sprintf(mapExample, "kubectl pixie"),
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
	return cmd
}

// AddFlags registers the flags.
func (o *MapOptions) AddFlags(cmd *cobra.Command) {
	fs := cmd.Flags()
	o.localTarget.addFlags(fs, "map", "map processes of this host (Linux, root); children a traced process forks are traced too")
	fs.DurationVar(&o.Duration, "duration", o.Duration, "how long to trace (at most 1h); Ctrl-C ends earlier with the map")
	o.outputOptions.addFlags(fs, "table, json (service_map records), dot, mermaid or svg (laid out by Graphviz's dot, which must be in PATH)")
}

// Complete keeps the arguments; the map needs nothing from the cluster.
func (o *MapOptions) Complete(_ cmdutil.Factory, _ *cobra.Command, args []string) error {
	o.args = args
	return nil
}

// Validate checks the flags; it does no I/O.
func (o *MapOptions) Validate() error {
	if !o.Local {
		return errors.New("map runs on this host only for now: add --local with --pid, --comm or --all (cluster mode is not available yet)")
	}
	if o.Duration <= 0 || o.Duration > MaxDuration {
		return fmt.Errorf("--duration %s is out of range: use a value between 1s and %s", o.Duration, MaxDuration)
	}
	if err := o.outputOptions.validate(mapview.OutputTable, mapview.OutputJSON, mapview.OutputDOT, mapview.OutputMermaid, mapview.OutputSVG); err != nil {
		return err
	}
	return o.localTarget.validate("map", o.args, false)
}

func (o *MapOptions) config() api.TraceConfig {
	return api.TraceConfig{
		PIDs:       o.pids(),
		All:        o.All,
		Comms:      o.Comms,
		DurationNs: o.Duration.Nanoseconds(),
		DataAccess: api.DataAccessNone, // the map needs no values
		Map:        true,
	}
}

// Run traces until the window ends or a stop signal, then shows the map.
func (o *MapOptions) Run(ctx context.Context) error {
	if ctx == nil {
		ctx = context.Background()
	}
	if o.DryRun {
		return dryRunLocal(o.Out, "trace", o.config())
	}
	if o.replay == nil {
		if err := checkLocal(&o.localTarget); err != nil {
			return err
		}
	}
	do := o.driverOptions(o.IOStreams, o.Output != mapview.OutputTable)
	h := recording.Header{Command: "map", WindowNs: o.Duration.Nanoseconds(), Targets: len(o.PIDs) + len(o.Comms), TargetUnit: "processes"}
	if err := o.startRecording(&do, h, o.config()); err != nil {
		return err
	}
	view := mapview.New(o.ErrOut, mapview.Options{
		Output:  o.Output,
		Window:  o.Duration,
		Palette: render.PaletteFor(o.Out, o.Color),
		Width:   do.Width,
		Now:     o.now(),
	}, render.PaletteFor(o.ErrOut, o.Color))
	return runError(driver.Run(ctx, o.source(localSource("trace", o.config(), o.ErrOut)), view, do))
}
