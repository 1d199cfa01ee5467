package otlp

import (
	"cmp"
	"context"
	"errors"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/instrumentation"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/resource"
	semconv "go.opentelemetry.io/otel/semconv/v1.40.0"

	"github.com/kubectl-pixie/kubectl-pixie/internal/version"
	"github.com/kubectl-pixie/kubectl-pixie/probes/api/stats"
)

// Metric names: one point per endpoint row of the table (service, role,
// method, endpoint, peer, status class, protocol), cumulative over the run.
const (
	MetricRequests = "pixie.requests"
	MetricErrors   = "pixie.errors"
	MetricDuration = "pixie.request.duration"
)

// Attribute keys of the metric points, named after the table's columns.
const (
	attrProtocol    = attribute.Key("pixie.protocol")
	attrRole        = attribute.Key("pixie.trace_role")
	attrMethod      = attribute.Key("pixie.method")
	attrEndpoint    = attribute.Key("pixie.endpoint")
	attrStatusClass = attribute.Key("pixie.status_class")
)

// durationBounds are the histogram's bucket bounds in seconds (those the
// HTTP semantic conventions advise).
var durationBounds = []float64{0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10}

// exportMetrics sends the endpoints seen so far, one resource per
// service (and node), and returns the data points sent.
func (e *Exporter) exportMetrics(ctx context.Context) (int, error) {
	now := time.Now()
	groups := map[[2]string][]stats.Endpoint{}
	var order [][2]string
	for _, r := range e.endpoints.Rows() {
		k := [2]string{r.Service, r.Node}
		if _, ok := groups[k]; !ok {
			order = append(order, k)
		}
		groups[k] = append(groups[k], r)
	}
	var points int
	var errs error
	for _, k := range order {
		rm := e.resourceMetrics(k[0], k[1], groups[k], now)
		if err := e.metrics.Export(ctx, rm); err != nil {
			errs = errors.Join(errs, err)
			if ctx.Err() != nil {
				break
			}
			continue
		}
		points += 3 * len(groups[k])
	}
	return points, errs
}

// resourceMetrics are the three metrics of one service's rows.
func (e *Exporter) resourceMetrics(service, node string, rows []stats.Endpoint, now time.Time) *metricdata.ResourceMetrics {
	attrs := append(e.runAttrs(), serviceAttrs(service)...)
	if node != "" {
		attrs = append(attrs, semconv.K8SNodeName(node))
	}
	start := e.cfg.Start
	reqs := metricdata.Sum[int64]{Temporality: metricdata.CumulativeTemporality, IsMonotonic: true}
	errs := metricdata.Sum[int64]{Temporality: metricdata.CumulativeTemporality, IsMonotonic: true}
	dur := metricdata.Histogram[float64]{Temporality: metricdata.CumulativeTemporality}
	for _, r := range rows {
		set := attribute.NewSet(endpointAttrs(r.Key)...)
		reqs.DataPoints = append(reqs.DataPoints, metricdata.DataPoint[int64]{Attributes: set, StartTime: start, Time: now, Value: int64(r.Count)})
		errs.DataPoints = append(errs.DataPoints, metricdata.DataPoint[int64]{Attributes: set, StartTime: start, Time: now, Value: int64(r.Errors)})
		dur.DataPoints = append(dur.DataPoints, histogramPoint(set, r.Latency, start, now))
	}
	return &metricdata.ResourceMetrics{
		Resource: resource.NewWithAttributes(semconv.SchemaURL, attrs...),
		ScopeMetrics: []metricdata.ScopeMetrics{{
			Scope: instrumentation.Scope{Name: ScopeName, Version: version.Version, SchemaURL: semconv.SchemaURL},
			Metrics: []metricdata.Metrics{
				{Name: MetricRequests, Description: "Requests seen, per endpoint and status class.", Unit: "{request}", Data: reqs},
				{Name: MetricErrors, Description: "Requests that failed, as the table's ERR% counts them.", Unit: "{request}", Data: errs},
				{Name: MetricDuration, Description: "Request latency, from the request's first byte to the response's last.", Unit: "s", Data: dur},
			},
		}},
	}
}

// histogramPoint turns a latency sketch (ns) into an explicit-bucket
// histogram in seconds: count, sum, min and max exact, bucket counts
// within the sketch's accuracy near a bound.
func histogramPoint(set attribute.Set, s *stats.Sketch, start, now time.Time) metricdata.HistogramDataPoint[float64] {
	p := metricdata.HistogramDataPoint[float64]{Attributes: set, StartTime: start, Time: now, Bounds: durationBounds}
	if s == nil {
		p.BucketCounts = make([]uint64, len(durationBounds)+1)
		return p
	}
	ns := make([]float64, len(durationBounds))
	for i, b := range durationBounds {
		ns[i] = b * 1e9
	}
	p.Count, p.Sum, p.BucketCounts = s.Count(), s.Sum()/1e9, s.Histogram(ns)
	if s.Count() > 0 {
		p.Min, p.Max = metricdata.NewExtrema(s.Min()/1e9), metricdata.NewExtrema(s.Max()/1e9)
	}
	return p
}

// endpointAttrs are a table row's key as attributes.
func endpointAttrs(k stats.Key) []attribute.KeyValue {
	a := []attribute.KeyValue{
		attrProtocol.String(cmp.Or(k.Protocol, "http")),
		attrRole.String(k.Role),
		attrMethod.String(k.Method),
		attrEndpoint.String(k.Path),
		attrStatusClass.String(k.StatusClass),
	}
	if k.Peer != "" {
		a = append(a, peerServiceKey.String(k.Peer))
	}
	if k.PeerDNS != "" {
		// Part of the row's key: without it two rows would be one series.
		a = append(a, semconv.ServerAddress(k.PeerDNS))
	}
	return a
}
