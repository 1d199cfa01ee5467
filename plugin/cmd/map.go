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
	"github.com/kubectl-pixie/kubectl-pixie/plugin/target"
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

		--protocol, --status, --endpoint and --min-latency keep only the
		requests they match (the agent drops the others before counting), so
		every edge counts only those. --sort-by orders the edges of every
		output (req, rps, err, p50, p99, max or bytes, largest first) and
		--top N keeps the first N: the table, the records, the graphs and the
		--fail-if rules see only those, and the tree under the table is drawn
		from them alone (an edge whose caller's edge was cut starts its own
		tree). A map recorded with --record keeps each request's
		observation (no values), so its replay takes the same filters and
		counts the edges again.

		In a cluster, TARGETs (or -l) choose the pods to trace; without
		them every pod of the namespace (-n) or, with -A, of the cluster.
		One probe pod runs on each node that runs them and the map merges
		the nodes. Peers are named by their workload, a Service's
		ClusterIP by the Service, a node's address by the node; any other
		address stays an IP (an external node).`)

	mapExample = templates.Examples(`
		# Map the traffic between nginx, its clients and redis on this host
		sudo %[1]s map --local --comm nginx --comm redis-server --comm curl

		# As an SVG a browser opens (needs Graphviz's dot)
		sudo %[1]s map --local --all --duration 10s -o svg > map.svg

		# The map of a namespace's workloads, as service_map records
		%[1]s map -n shop --duration 30s -o json

		# The 5 slowest edges by p99, counting only failed requests
		%[1]s map -n shop --status error --sort-by p99 --top 5

		# Fail (exit status 3) when an edge into shop/api has a p99 over 250ms
		%[1]s map -n shop --fail-if 'p99 > 250ms && responder == "shop/api"'

		# Record a map, then look again at its requests slower than 100ms
		%[1]s map -n shop --duration 1m --record shop.pixie.gz
		%[1]s replay shop.pixie.gz --min-latency 100ms --sort-by p99`)
)

// MapOptions are the flags and resolved state of `kubectl pixie map`.
type MapOptions struct {
	localTarget
	outputOptions
	Duration time.Duration
	gates    gateFlags
	filters  traceFilters // the agent applies the filters; the order is the plugin's
	// observed: the replayed recording's requests carry observations.
	observed bool
	// peerNames names the rows' peers the cluster named late (cluster runs).
	peerNames func(string) (string, bool)
	clusterTargets
	args []string
	genericiooptions.IOStreams
}

// NewMapOptions returns the defaults.
func NewMapOptions(streams genericiooptions.IOStreams) *MapOptions {
	return &MapOptions{outputOptions: newOutputOptions(mapview.OutputTable), Duration: 30 * time.Second,
		clusterTargets: newClusterTargets(), IOStreams: streams}
}

// NewCmdMap builds `kubectl pixie map`.
func NewCmdMap(f cmdutil.Factory, streams genericiooptions.IOStreams) *cobra.Command {
	o := NewMapOptions(streams)
	cmd := &cobra.Command{
		Use:     "map [TARGET... | -n NS | -A] [--local]",
		Short:   "Show a service map: requests, errors, latency and bytes between workloads, Services and nodes, or the processes of this host",
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
	o.gates.addFlags(fs, `'p99 > 250ms && responder == "shop/api"'`)
	o.filters.addFlags(cmd, fs, "edges")
	o.clusterTargets.addFlags(fs, "map")
}

// Complete checks the flags, then resolves the cluster's targets: the
// TARGETs or -l, else every pod of the namespace (-A: of the cluster).
func (o *MapOptions) Complete(f cmdutil.Factory, cmd *cobra.Command, args []string) error {
	o.args = args
	if err := o.validateFlags(); err != nil {
		return err
	}
	if o.Local || o.replay != nil {
		return nil
	}
	if o.named(args) {
		return o.resolve(cmd.Context(), f, args)
	}
	return o.resolveNamespace(cmd.Context(), f)
}

// Validate checks the flags and the resolved targets; it does no I/O.
func (o *MapOptions) Validate() error {
	if err := o.validateFlags(); err != nil {
		return err
	}
	if !o.Local && o.replay == nil && o.targets == nil {
		return errors.New("nothing to map: name a TARGET (deploy/NAME, svc/NAME, node/NAME), -l, -n NAMESPACE or -A, or use --local")
	}
	return nil
}

// validateFlags checks every flag; it does no I/O.
func (o *MapOptions) validateFlags() error {
	if o.Duration <= 0 || o.Duration > MaxDuration {
		return fmt.Errorf("--duration %s is out of range: use a value between 1s and %s", o.Duration, MaxDuration)
	}
	if err := o.outputOptions.validate(mapview.OutputTable, mapview.OutputJSON, mapview.OutputDOT, mapview.OutputMermaid, mapview.OutputSVG); err != nil {
		return err
	}
	if err := o.gates.validate(mapview.GateSchema); err != nil {
		return err
	}
	if err := o.filters.validate(); err != nil {
		return err
	}
	if o.replay != nil && !o.observed && o.filters.agent() != nil {
		return errors.New("--protocol, --status, --endpoint and --min-latency cannot narrow this map's replay: its recording keeps edges, not its requests (recorded by an older kubectl pixie): record the map again with this version, or give the filters to the map run")
	}
	if !o.Local {
		if o.selects() {
			return errors.New("--pid, --comm and --all select processes of this host: add --local")
		}
		return o.Probe.Validate()
	}
	return o.localTarget.validate("map", o.args, false)
}

// config is what the agents trace: on this host processes named by the
// agent (Map); in a cluster, pods named by their workload, with callers.
func (o *MapOptions) config() api.TraceConfig {
	return api.TraceConfig{
		PIDs:       o.pids(),
		All:        o.All,
		Comms:      o.Comms,
		DurationNs: o.Duration.Nanoseconds(),
		DataAccess: api.DataAccessNone, // the map needs no values
		Map:        o.Local,
		Filter:     o.filters.agent(),
		// A recording keeps every request with its observation (no
		// values under DataAccessNone), for replays that filter them.
		EmitEvents: o.Record != "",
		EventObs:   o.Record != "",
	}
}

// Run traces until the window ends or a stop signal, then shows the map.
func (o *MapOptions) Run(ctx context.Context) error {
	if ctx == nil {
		ctx = context.Background()
	}
	h := recording.Header{Command: "map", WindowNs: o.Duration.Nanoseconds(), Targets: len(o.PIDs) + len(o.Comms), TargetUnit: "processes"}
	switch {
	case o.replay != nil:
		return o.play(ctx, nil, o.replay.header)
	case !o.Local:
		return o.runCluster(ctx, h)
	case o.DryRun:
		return dryRunLocal(o.Out, "trace", o.config())
	}
	if err := checkLocal(&o.localTarget); err != nil {
		return err
	}
	return o.play(ctx, localSource("trace", o.config(), o.ErrOut), h)
}

func (o *MapOptions) runCluster(ctx context.Context, h recording.Header) error {
	so := o.sessionOptions("trace", o.Duration, o.ErrOut, o.Quiet, func(n target.Node) any {
		return nodeTraceConfig(o.config(), n, target.GroupBy{})
	})
	so.Pod.DataAccess = string(api.DataAccessNone)
	if o.DryRun {
		return dryRunCluster(o.Out, so)
	}
	o.warnTargets(o.ErrOut, o.Color, o.Quiet)
	h.Nodes, h.Targets, h.TargetUnit = len(o.targets.Nodes), o.targets.Pods(), "pods"
	names := &clusterNames{client: o.client, errOut: o.ErrOut, byWorkload: true}
	o.peerNames = names.name
	return o.play(ctx, names.source(clusterSource(so, nil)), h)
}

// play shows src (or the replayed recording) as a map, recording it on
// --record, and checks the --fail-if rules on the final map.
func (o *MapOptions) play(ctx context.Context, src driver.Source, h recording.Header) error {
	do := o.driverOptions(o.IOStreams, o.Output != mapview.OutputTable)
	do.Stopping = o.localStopping(o.Local)
	if err := o.startRecording(&do, h, o.config()); err != nil {
		return err
	}
	view := mapview.New(o.ErrOut, mapview.Options{
		Output:    o.Output,
		Window:    o.Duration,
		Palette:   render.PaletteFor(o.Out, o.Color),
		Width:     do.Width,
		Now:       o.now(),
		SortBy:    o.filters.SortBy,
		Top:       o.filters.Top,
		Refilter:  o.replayRefilter(),
		PeerNames: o.peerNames,
	}, render.PaletteFor(o.ErrOut, o.Color))
	err := runError(driver.Run(ctx, o.source(src), view, do))
	return o.gates.check(ctx, "map", o.ErrOut, view.GateSource, err)
}

// replayRefilter applies the agent's filters to the requests of a replay
// whose requests carry observations, as the agent would have.
func (o *MapOptions) replayRefilter() *api.TraceFilter {
	if o.replay == nil || !o.observed {
		return nil
	}
	return o.filters.refilter()
}
