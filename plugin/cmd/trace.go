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
	"github.com/kubectl-pixie/kubectl-pixie/plugin/recording"
	"github.com/kubectl-pixie/kubectl-pixie/plugin/render"
	"github.com/kubectl-pixie/kubectl-pixie/plugin/target"
	"github.com/kubectl-pixie/kubectl-pixie/plugin/traceview"
	"github.com/kubectl-pixie/kubectl-pixie/probes/api"
	"github.com/kubectl-pixie/kubectl-pixie/probes/api/stats"
)

func init() { register(NewCmdTrace) }

// MaxDuration bounds --duration: probes are short-lived by design.
const MaxDuration = time.Hour

var (
	traceLong = templates.LongDesc(`
		Trace L7 requests with no instrumentation: per service and endpoint
		(method and path template, gRPC method, Redis command, DNS query type
		and name, SQL statement kind and template, AMQP method, Kafka API) and
		status class, the request count, rate, error share and latency
		percentiles, refreshed every second.

		With --local, trace processes of this Linux host (root needed). Otherwise
		TARGET names pods, workloads or nodes; one short-lived probe pod runs on
		each node that runs them, and is deleted when the window ends.

		Protocols, recognised from the bytes on any port: HTTP/1.x, HTTP/2
		and gRPC (errors: grpc-status other than OK), Redis (RESP2 and RESP3;
		error replies count as errors, pub/sub pushes are not requests), DNS
		over UDP and TCP (errors: RCODE other than NOERROR), PostgreSQL (simple and
		extended queries up to ReadyForQuery; errors by SQLSTATE), MySQL and
		MariaDB (text and prepared commands to their last packet; errors by
		ERR code), AMQP 0-9-1 (errors: reply codes >= 300), Kafka, NATS
		(requests paired with their reply; errors: -ERR) and Cassandra CQL
		v3-v5 (errors by name). TLS is read in clear from OpenSSL (libssl)
		and Go crypto/tls with uprobes. SQL and CQL literals are shown as ?
		and logins never kept. -o json writes http_events, redis_events,
		dns_events, pgsql_events, mysql_events, amqp_events, kafka_events,
		nats_events and cql_events.`)

	traceExample = templates.Examples(`
		# Trace a local nginx for 30 seconds
		sudo %[1]s trace --local --comm nginx

		# Trace a local Redis server: one row per command
		sudo %[1]s trace --local --comm redis-server

		# Trace a local PostgreSQL server: one row per statement template
		sudo %[1]s trace --local --comm postgres

		# Trace a local MariaDB or MySQL server
		sudo %[1]s trace --local --comm mariadbd

		# Trace two processes and stream every request as NDJSON
		sudo %[1]s trace --local --pid 4242 --pid 4243 -o json

		# Keep header values and bodies (values are redacted on the node by default)
		sudo %[1]s trace --local --comm nginx -o json --data-access full --body-limit 1024

		# Only the failing requests, the slowest endpoints first
		sudo %[1]s trace --local --comm nginx --status 5xx --sort-by p99 --top 10

		# The requests behind the numbers: the 5 slowest over 250ms and the 5 latest errors of each endpoint
		sudo %[1]s trace --local --comm nginx --slow 250ms --errors

		# Only HTTP and gRPC endpoints under /api, at least 100ms slow
		%[1]s trace deploy/api --protocol http,grpc --endpoint '^(GET|POST) /api/' --min-latency 100ms

		# Fail (exit status 3) when an /api endpoint's p99 is over 250ms or any error rate over 1%
		%[1]s trace deploy/api --fail-if 'p99 > 250ms && endpoint =~ "^GET /api/"' --fail-if 'error_rate > 1%%'

		# Trace a deployment's pods in a cluster for 30 seconds
		%[1]s trace deploy/checkout -n shop --duration 30s

		# Show the probe pod it would create, without creating it
		%[1]s trace node/worker-3 --dry-run -o yaml`)
)

// TraceOptions are the flags and resolved state of `kubectl pixie trace`.
type TraceOptions struct {
	localTarget
	outputOptions
	Duration   time.Duration
	MaxPayload int
	BodyLimit  int
	FullData   bool
	DataAccess string
	traceFilters
	traceSamples
	gates gateFlags
	groupBy
	// observed: the replayed recording's requests carry observations.
	observed bool
	otlp     otlpFlags
	// peerNames names the rows' peers the cluster named late (cluster runs).
	peerNames func(string) (string, bool)

	clusterTargets
	args []string
	genericiooptions.IOStreams
}

// NewTraceOptions returns the defaults.
func NewTraceOptions(streams genericiooptions.IOStreams) *TraceOptions {
	return &TraceOptions{
		outputOptions:  newOutputOptions("table"),
		Duration:       30 * time.Second,
		BodyLimit:      api.DefaultBodyLimit,
		clusterTargets: newClusterTargets(),
		IOStreams:      streams,
	}
}

// NewCmdTrace builds `kubectl pixie trace`.
func NewCmdTrace(f cmdutil.Factory, streams genericiooptions.IOStreams) *cobra.Command {
	o := NewTraceOptions(streams)
	return newProbeCommand(f, &cobra.Command{
		Use:     "trace [TARGET...] [--local]",
		Short:   "Trace L7 requests (HTTP/1.x, HTTP/2, gRPC, Redis, DNS, PostgreSQL, MySQL, AMQP, Kafka; TLS too) of pods, workloads, nodes or local processes",
		Long:    traceLong,
		Example: fmt.Sprintf(traceExample, "kubectl pixie"),
	}, o)
}

// AddFlags registers the flags.
func (o *TraceOptions) AddFlags(cmd *cobra.Command) {
	fs := cmd.Flags()
	o.localTarget.addFlags(fs, "trace", "trace processes of this host instead of a cluster (Linux, root); children a traced process forks are traced too")
	fs.DurationVar(&o.Duration, "duration", o.Duration, "how long to trace (at most 1h); Ctrl-C ends earlier with the summary")
	o.outputOptions.addFlags(fs, "table, wide or json (NDJSON: one record per request, then summaries); yaml with --dry-run")
	fs.IntVar(&o.MaxPayload, "max-payload", o.MaxPayload, "bytes captured per syscall, a power of two (default 4096)")
	fs.IntVar(&o.BodyLimit, "body-limit", o.BodyLimit, "body bytes kept in each -o json record with --data-access full: 0 (none) to the capture size (--max-payload)")
	fs.StringVar(&o.DataAccess, "data-access", o.DataAccess, "what records keep, redacted in the node: restricted (default: templates and sizes, no values, bodies or credentials), full (values and bodies; Redis AUTH and SQL logins stay redacted) or none (summary columns only)")
	fs.BoolVar(&o.FullData, "full-data", o.FullData, "alias of --data-access full")
	o.traceFilters.addFlags(cmd, fs, "endpoints")
	o.traceSamples.addFlags(fs)
	o.gates.addFlags(fs, `'p99 > 250ms && endpoint =~ "^GET /api/"'`)
	o.clusterTargets.addFlags(fs, "trace")
	o.groupBy.addFlags(cmd)
	o.otlp.addFlags(fs)
}

// Complete checks the flags, then resolves targets (cluster mode) from
// args and the kubeconfig: a bad flag is reported before any I/O.
func (o *TraceOptions) Complete(f cmdutil.Factory, cmd *cobra.Command, args []string) error {
	o.args = args
	if o.DryRun && o.Output == "table" && !o.Local {
		o.Output = "yaml"
	}
	if err := o.validateFlags(); err != nil {
		return err
	}
	if o.Local || !o.named(args) {
		return nil
	}
	o.otlp.completeCluster(f, cmd.Flags())
	return o.resolve(cmd.Context(), f, args)
}

// validateFlags checks every flag; it does no I/O.
func (o *TraceOptions) validateFlags() error {
	if o.Duration <= 0 || o.Duration > MaxDuration {
		return fmt.Errorf("--duration %s is out of range: use a value between 1s and %s", o.Duration, MaxDuration)
	}
	if err := o.outputOptions.validate("table", "wide", "json"); err != nil {
		return err
	}
	if o.MaxPayload != 0 && (o.MaxPayload < 64 || o.MaxPayload&(o.MaxPayload-1) != 0) {
		return fmt.Errorf("--max-payload %d must be a power of two >= 64, e.g. 4096", o.MaxPayload)
	}
	if err := o.validateData(); err != nil {
		return err
	}
	if err := o.traceFilters.validate(); err != nil {
		return err
	}
	if err := o.traceSamples.validate(); err != nil {
		return err
	}
	if err := o.gates.validate(traceview.GateSchema); err != nil {
		return err
	}
	if err := o.groupBy.validate(); err != nil {
		return err
	}
	if err := o.otlp.validate(); err != nil {
		return err
	}
	if err := o.localTarget.validate("trace", o.args, o.named(o.args) || o.targets != nil); err != nil {
		return err
	}
	if o.Local {
		return nil
	}
	return o.Probe.Validate()
}

// validateData checks --data-access, its alias --full-data and
// --body-limit.
func (o *TraceOptions) validateData() error {
	if _, err := api.ParseDataAccess(o.DataAccess); err != nil {
		return fmt.Errorf("--data-access %q is unknown: use restricted, full or none", o.DataAccess)
	}
	if o.FullData && o.DataAccess != "" && o.DataAccess != string(api.DataAccessFull) {
		return fmt.Errorf("--full-data means --data-access full, not %s: pass only one of them", o.DataAccess)
	}
	if err := api.CheckBodyLimit(o.BodyLimit, o.MaxPayload); err != nil {
		return fmt.Errorf("--body-limit %d is out of range: use 0 (no bodies) to the capture size (--max-payload, default %d)", o.BodyLimit, api.DefaultMaxPayload)
	}
	return nil
}

// Validate checks the flags and the resolved targets; it does no I/O.
func (o *TraceOptions) Validate() error {
	if err := o.validateFlags(); err != nil {
		return err
	}
	if !o.Local && o.targets == nil {
		return errors.New("nothing to trace: name a TARGET (pod/NAME, deploy/NAME, svc/NAME, node/NAME), a -l selector, or use --local")
	}
	return nil
}

// dataAccess is the mode the flags ask for (validated).
func (o *TraceOptions) dataAccess() api.DataAccess {
	if o.FullData {
		return api.DataAccessFull
	}
	a, _ := api.ParseDataAccess(o.DataAccess)
	return a
}

func (o *TraceOptions) config() api.TraceConfig {
	return api.TraceConfig{
		PIDs:        o.pids(),
		All:         o.All,
		Comms:       o.Comms,
		DurationNs:  o.Duration.Nanoseconds(),
		MaxPayload:  o.MaxPayload,
		BodyLimit:   o.BodyLimit,
		EmitEvents:  o.Output == "json" || o.Record != "" || o.otlp.on(), // a recording and OTLP keep the requests too
		EventObs:    o.Record != "" || o.otlp.on(),                       // for replays that filter them, and spans
		DataAccess:  o.dataAccess(),
		Filter:      o.traceFilters.agent(),
		Samples:     o.traceSamples.agent(),
		ListenPorts: o.Local, // to name a local client's server process
	}
}

func (o *TraceOptions) newView(nodes, targets int, unit string) (*traceview.View, driver.Options) {
	do := o.driverOptions(o.IOStreams, o.Output == "json")
	do.Stopping = o.localStopping(o.Local)
	return traceview.New(o.ErrOut, traceview.Options{
		Output:     o.Output,
		Window:     o.Duration,
		NodesTotal: nodes,
		Targets:    targets,
		TargetUnit: unit,
		Palette:    render.PaletteFor(o.Out, o.Color),
		ErrPalette: render.PaletteFor(o.ErrOut, o.Color),
		Width:      do.Width,
		ByNode:     o.by.Node, // rows of --local have no node
		Select:     o.traceFilters.selection(),
		Samples:    o.traceSamples.table(o.Output),
		Now:        o.now(),
		KeepRow:    o.replayKeepRow(),
		Refilter:   o.replayRefilter(),
		PeerNames:  o.peerNames,
	}), do
}

// replayKeepRow applies --protocol and --status to the rows of a replay
// whose requests carry no observations (the agent applied them to a live
// run).
func (o *TraceOptions) replayKeepRow() func(*stats.Endpoint) bool {
	if o.replay == nil || o.observed {
		return nil
	}
	return o.traceFilters.keepRow()
}

// replayRefilter applies the agent's filters to the requests of a replay
// whose requests carry observations, as the agent would have.
func (o *TraceOptions) replayRefilter() *api.TraceFilter {
	if o.replay == nil || !o.observed {
		return nil
	}
	return o.traceFilters.refilter()
}

// Run traces until the window ends or a stop signal, then prints the
// summary.
func (o *TraceOptions) Run(ctx context.Context) error {
	if ctx == nil {
		ctx = context.Background()
	}
	if r := o.replay; r != nil {
		return o.play(ctx, nil, r.header.Nodes, r.header.Targets, r.header.TargetUnit)
	}
	if o.Local {
		return o.runLocal(ctx)
	}
	return o.runCluster(ctx)
}

func (o *TraceOptions) runLocal(ctx context.Context) error {
	if o.DryRun {
		return dryRunLocal(o.Out, "trace", o.config())
	}
	if err := checkLocal(&o.localTarget); err != nil {
		return err
	}
	return o.play(ctx, localSource("trace", o.config(), o.ErrOut), 0, len(o.PIDs)+len(o.Comms), "processes")
}

// play shows src (or the replayed recording), recording it on --record.
func (o *TraceOptions) play(ctx context.Context, src driver.Source, nodes, targets int, unit string) error {
	view, do := o.newView(nodes, targets, unit)
	h := recording.Header{Command: "trace", WindowNs: o.Duration.Nanoseconds(), Nodes: nodes, Targets: targets, TargetUnit: unit}
	src, finish, err := o.otlp.wrap(o.source(src), o.Local && o.replay == nil, o.targets, o.ErrOut)
	if err != nil {
		return err
	}
	if err := o.startRecording(&do, h, o.config()); err != nil {
		return err
	}
	err = runError(driver.Run(ctx, src, view, do))
	finish()
	return o.gates.check(ctx, "trace", o.ErrOut, view.GateSource, err)
}

func (o *TraceOptions) runCluster(ctx context.Context) error {
	so := o.sessionOptions("trace", o.Duration, o.ErrOut, o.Quiet, func(n target.Node) any {
		return nodeTraceConfig(o.config(), n, o.by)
	})
	so.Pod.DataAccess = string(o.dataAccess())
	if o.DryRun {
		return dryRunCluster(o.Out, so)
	}
	o.warnTargets(o.ErrOut, o.Color, o.Quiet)
	names := &clusterNames{client: o.client, errOut: o.ErrOut}
	o.peerNames = names.name
	src := names.source(clusterSource(so, nil))
	return o.play(ctx, src, len(o.targets.Nodes), o.targets.Pods(), "pods")
}

// nodeTraceConfig is cfg for the probe of node n in cluster mode: its
// pods (or the whole node), named as by groups them, with their callers.
func nodeTraceConfig(cfg api.TraceConfig, n target.Node, by target.GroupBy) api.TraceConfig {
	cfg.All = n.All
	cfg.NodeOnly, cfg.NodePodUIDs = n.All, n.NodePodUIDs
	cfg.ContainerIDs = n.ContainerIDs()
	cfg.PodUIDs = n.PodUIDs()
	cfg.ServerPeers = true // callers, named by the plugin
	cfg.Services = map[string]string{}
	for _, p := range n.Pods {
		cfg.Services[p.UID] = by.Service(p)
	}
	return cfg
}
