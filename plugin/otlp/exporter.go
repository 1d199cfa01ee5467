package otlp

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetricgrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetrichttp"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.40.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/kubectl-pixie/kubectl-pixie/internal/version"
	"github.com/kubectl-pixie/kubectl-pixie/plugin/peers"
	"github.com/kubectl-pixie/kubectl-pixie/probes/api"
	"github.com/kubectl-pixie/kubectl-pixie/probes/api/stats"
	"github.com/kubectl-pixie/kubectl-pixie/probes/api/vocab"
)

// Bounds of an export. A backend that is down or slow costs the run at
// most CloseTimeout at its end; spans beyond the queue are dropped.
const (
	DefaultQueueSize = 16384
	batchSize        = 512
	exportTimeout    = 5 * time.Second
	CloseTimeout     = 10 * time.Second
	// maxResources bounds the pods and processes that get a resource of
	// their own; the requests of others carry the run's resource only.
	maxResources = 4096
)

// ScopeName is the instrumentation scope of the spans and metrics.
const ScopeName = "github.com/kubectl-pixie/kubectl-pixie"

// Pod is who a cluster request belongs to, found by its record's pod_uid.
type Pod struct {
	UID, Namespace, Name, Node string
	Workload                   string // "deployment/api", "pod/web-0"
	Service                    string // the table's name, "shop/api"
}

// Config says where to send and what the resources are.
type Config struct {
	Endpoint Endpoint
	// Cluster is k8s.cluster.name; empty for --local, where Host is
	// host.name.
	Cluster, Host string
	Pods          map[string]Pod // by UID
	QueueSize     int            // spans waiting to be sent (default DefaultQueueSize)
	Start         time.Time      // the run's start: metrics count from it
}

// Exporter turns a trace run's records into spans and metrics.
type Exporter struct {
	cfg       Config
	q         *queue
	providers map[string]trace.Tracer
	base      trace.Tracer
	endpoints *stats.Aggregator
	metrics   metricExporter
	// listeners are the local listening sockets the agent reported
	// (--local: at attach and at the end), to name loopback servers.
	listeners map[api.ListeningPort]bool
	names     *peers.Listeners // index of listeners; nil after a change
}

// maxListeners bounds the listening sockets kept (the agent sends at
// most 4096 per scan).
const maxListeners = 1 << 14

// metricExporter is what Close needs of the OTLP metric exporters.
type metricExporter interface {
	Export(context.Context, *metricdata.ResourceMetrics) error
	Shutdown(context.Context) error
}

// New builds the exporters; it does no I/O (connections open on the
// first export).
func New(cfg Config) (*Exporter, error) {
	spans, metrics, err := newExporters(cfg.Endpoint)
	if err != nil {
		return nil, fmt.Errorf("--otlp-endpoint %s: %w", cfg.Endpoint, err)
	}
	return newExporter(cfg, spans, metrics), nil
}

func newExporter(cfg Config, spans sdktrace.SpanExporter, metrics metricExporter) *Exporter {
	if cfg.QueueSize <= 0 {
		cfg.QueueSize = DefaultQueueSize
	}
	if cfg.Start.IsZero() {
		cfg.Start = time.Now()
	}
	e := &Exporter{
		cfg:       cfg,
		q:         newQueue(spans, cfg.QueueSize, batchSize, exportTimeout),
		providers: map[string]trace.Tracer{},
		endpoints: stats.NewAggregator(stats.Config{}),
		metrics:   metrics,
		listeners: map[api.ListeningPort]bool{},
	}
	e.base = e.tracer(e.runAttrs())
	return e
}

// retry bounds the exporters' own retries well inside CloseTimeout.
var (
	traceRetryHTTP  = otlptracehttp.RetryConfig{Enabled: true, InitialInterval: 200 * time.Millisecond, MaxInterval: time.Second, MaxElapsedTime: 3 * time.Second}
	traceRetryGRPC  = otlptracegrpc.RetryConfig(traceRetryHTTP)
	metricRetryHTTP = otlpmetrichttp.RetryConfig(traceRetryHTTP)
	metricRetryGRPC = otlpmetricgrpc.RetryConfig(traceRetryHTTP)
)

func newExporters(ep Endpoint) (*otlptrace.Exporter, metricExporter, error) {
	ctx := context.Background()
	if ep.GRPC {
		to := []otlptracegrpc.Option{otlptracegrpc.WithEndpoint(ep.Host), otlptracegrpc.WithTimeout(exportTimeout), otlptracegrpc.WithRetry(traceRetryGRPC)}
		mo := []otlpmetricgrpc.Option{otlpmetricgrpc.WithEndpoint(ep.Host), otlpmetricgrpc.WithTimeout(exportTimeout), otlpmetricgrpc.WithRetry(metricRetryGRPC)}
		if !ep.TLS {
			to, mo = append(to, otlptracegrpc.WithInsecure()), append(mo, otlpmetricgrpc.WithInsecure())
		}
		t, err := otlptracegrpc.New(ctx, to...)
		if err != nil {
			return nil, nil, err
		}
		m, err := otlpmetricgrpc.New(ctx, mo...)
		return t, m, err
	}
	to := []otlptracehttp.Option{otlptracehttp.WithEndpoint(ep.Host), otlptracehttp.WithURLPath(ep.Path + "/v1/traces"), otlptracehttp.WithTimeout(exportTimeout), otlptracehttp.WithRetry(traceRetryHTTP)}
	mo := []otlpmetrichttp.Option{otlpmetrichttp.WithEndpoint(ep.Host), otlpmetrichttp.WithURLPath(ep.Path + "/v1/metrics"), otlpmetrichttp.WithTimeout(exportTimeout), otlpmetrichttp.WithRetry(metricRetryHTTP)}
	if !ep.TLS {
		to, mo = append(to, otlptracehttp.WithInsecure()), append(mo, otlpmetrichttp.WithInsecure())
	}
	t, err := otlptracehttp.New(ctx, to...)
	if err != nil {
		return nil, nil, err
	}
	m, err := otlpmetrichttp.New(ctx, mo...)
	return t, m, err
}

// Line takes one record of the run from node ("" for --local): a request
// becomes a span, http_stats rows add to the metrics; others are skipped.
func (e *Exporter) Line(node string, line []byte) {
	var h api.Header
	if len(line) == 0 || line[0] != '{' || json.Unmarshal(line, &h) != nil {
		return
	}
	switch h.Table {
	case api.TableHTTPStats:
		e.addStats(node, line)
		return
	case api.TableListeningPorts:
		e.addListener(line)
		return
	}
	if ev, ok := decodeEvent(h, line); ok {
		ev.listener = e.listener(&ev)
		e.span(node, &ev)
	}
}

func (e *Exporter) addListener(line []byte) {
	var l api.ListeningPort
	if json.Unmarshal(line, &l) != nil || len(e.listeners) >= maxListeners {
		return
	}
	l.Header = api.Header{}
	if !e.listeners[l] {
		e.listeners[l], e.names = true, nil
	}
}

// listener names the local process listening on a client's loopback
// server address, which the cluster does not name (--local): the same
// process the trace table names, without its PID, as service.name of its
// own spans. A server that began listening after the probes attached is
// not known until the end of the run, after its requests' spans.
func (e *Exporter) listener(ev *event) string {
	if ev.TraceRole != vocab.RoleClient || len(e.listeners) == 0 || ev.RemoteNames != (api.RemoteNames{}) {
		return ""
	}
	a, err := netip.ParseAddr(ev.RemoteAddr)
	if err != nil || !a.Unmap().IsLoopback() {
		return "" // another host's server on a port a local process also listens on is not it
	}
	if e.names == nil {
		ls := make([]api.ListeningPort, 0, len(e.listeners))
		for l := range e.listeners {
			ls = append(ls, l)
		}
		n := peers.NewListeners(ls)
		e.names = &n
	}
	l, ok := e.names.Listener(netip.AddrPortFrom(a, ev.RemotePort).String(), nil)
	if !ok {
		return ""
	}
	return l.Comm
}

func (e *Exporter) addStats(node string, line []byte) {
	var s api.HTTPStats
	if json.Unmarshal(line, &s) != nil {
		return
	}
	for i := range s.Rows {
		s.Rows[i].Node = node
	}
	e.endpoints.Merge(s.Rows)
}

// span records one request: it starts at the request's first byte and
// lasts its latency.
func (e *Exporter) span(node string, ev *event) {
	d := describe(ev)
	start := time.Unix(0, ev.Obs.TimeNs)
	_, s := e.tracerFor(node, &ev.ConnColumns).Start(context.Background(), d.name,
		trace.WithSpanKind(spanKind(ev.TraceRole)), trace.WithTimestamp(start), trace.WithAttributes(d.attrs...))
	if d.errType != "" {
		s.SetStatus(codes.Error, d.errType)
	}
	s.End(trace.WithTimestamp(start.Add(time.Duration(max(ev.Obs.LatencyNs, 0)))))
}

// Report is what an export did, for the run's footer.
type Report struct {
	Endpoint      Endpoint
	Spans         uint64 // requests seen
	Sent, Dropped uint64 // spans
	Points        int    // metric data points sent
	Err           error  // the first export error
}

// String is the report's line on stderr.
func (r Report) String() string {
	s := fmt.Sprintf("otlp: sent %d spans and %d metric points to %s", r.Sent, r.Points, r.Endpoint)
	if r.Dropped > 0 {
		s += fmt.Sprintf("; dropped %d of %d spans (queue full or export failed)", r.Dropped, r.Spans)
	}
	if r.Err != nil {
		s += fmt.Sprintf("; export failed: %v: check that an OTLP receiver listens there", r.Err)
	}
	return s
}

// Close sends the queued spans and the metrics, in CloseTimeout at most
// whatever ctx says (a cancelled run still flushes), and reports.
func (e *Exporter) Close() Report {
	ctx, cancel := context.WithTimeout(context.Background(), CloseTimeout)
	defer cancel()
	spanErr := e.q.close(ctx)
	points, metricErr := e.exportMetrics(ctx)
	_ = e.q.exp.Shutdown(ctx)
	_ = e.metrics.Shutdown(ctx)
	return Report{
		Endpoint: e.cfg.Endpoint,
		Spans:    e.q.queued.Load(),
		Sent:     e.q.sent.Load(),
		Dropped:  e.q.dropped.Load(),
		Points:   points,
		Err:      errors.Join(spanErr, metricErr),
	}
}

// tracer is a tracer whose spans carry a resource of attrs.
func (e *Exporter) tracer(attrs []attribute.KeyValue) trace.Tracer {
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithResource(resource.NewWithAttributes(semconv.SchemaURL, attrs...)),
		sdktrace.WithSpanProcessor(e.q),
		sdktrace.WithSampler(sdktrace.AlwaysSample()),
	)
	return tp.Tracer(ScopeName, trace.WithInstrumentationVersion(version.Version), trace.WithSchemaURL(semconv.SchemaURL))
}

// tracerFor is the tracer of the pod (cluster) or process (--local) a
// request belongs to.
func (e *Exporter) tracerFor(node string, c *api.ConnColumns) trace.Tracer {
	key, attrs := e.resourceOf(node, c)
	if t, ok := e.providers[key]; ok {
		return t
	}
	if len(e.providers) >= maxResources {
		return e.base
	}
	t := e.tracer(attrs)
	e.providers[key] = t
	return t
}

// runAttrs are the resource attributes every span and metric carries.
func (e *Exporter) runAttrs() []attribute.KeyValue {
	if e.cfg.Cluster != "" {
		return []attribute.KeyValue{semconv.K8SClusterName(e.cfg.Cluster)}
	}
	if e.cfg.Host != "" {
		return []attribute.KeyValue{semconv.HostName(e.cfg.Host)}
	}
	return nil
}

// resourceOf keys and describes the resource of a request: its pod when
// the record names a targeted pod, else its process (on its node).
func (e *Exporter) resourceOf(node string, c *api.ConnColumns) (string, []attribute.KeyValue) {
	a := e.runAttrs()
	if p, ok := e.cfg.Pods[c.PodUID]; ok && c.PodUID != "" {
		a = append(a, semconv.K8SNamespaceName(p.Namespace), semconv.K8SPodName(p.Name), semconv.K8SPodUID(p.UID), semconv.K8SNodeName(cmp.Or(p.Node, node)))
		a = append(a, workloadAttrs(p.Workload)...)
		return "pod/" + p.UID, append(a, serviceAttrs(p.Service)...)
	}
	if node != "" {
		a = append(a, semconv.K8SNodeName(node))
	}
	a = append(a, semconv.ProcessPID(int(c.PID)), semconv.ProcessExecutableName(c.Comm), semconv.ServiceName(c.Comm))
	return fmt.Sprintf("proc/%s/%d/%s", node, c.PID, c.Comm), a
}

// workloadAttrs name a pod's workload ("deployment/api") with the
// semantic conventions' key for its kind.
func workloadAttrs(w string) []attribute.KeyValue {
	kind, name, ok := strings.Cut(w, "/")
	if !ok {
		return nil
	}
	keys := map[string]attribute.Key{
		"deployment": semconv.K8SDeploymentNameKey, "statefulset": semconv.K8SStatefulSetNameKey,
		"daemonset": semconv.K8SDaemonSetNameKey, "job": semconv.K8SJobNameKey,
		"cronjob": semconv.K8SCronJobNameKey, "replicaset": semconv.K8SReplicaSetNameKey,
	}
	if k, ok := keys[strings.ToLower(kind)]; ok {
		return []attribute.KeyValue{k.String(name)}
	}
	return nil
}

// serviceAttrs: the table's "namespace/name" is service.namespace and
// service.name; a process's name is service.name alone.
func serviceAttrs(s string) []attribute.KeyValue {
	if ns, name, ok := strings.Cut(s, "/"); ok {
		return []attribute.KeyValue{semconv.ServiceNamespace(ns), semconv.ServiceName(name)}
	}
	return []attribute.KeyValue{semconv.ServiceName(s)}
}
