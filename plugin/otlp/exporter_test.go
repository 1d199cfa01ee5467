package otlp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/kubectl-pixie/kubectl-pixie/probes/api"
	"github.com/kubectl-pixie/kubectl-pixie/probes/api/stats"
)

// fakeSpans records exported spans; fail makes every export fail, block
// makes it wait for its context.
type fakeSpans struct {
	mu          sync.Mutex
	spans       []sdktrace.ReadOnlySpan
	fail, block bool
}

func (f *fakeSpans) ExportSpans(ctx context.Context, s []sdktrace.ReadOnlySpan) error {
	if f.block {
		<-ctx.Done()
		return ctx.Err()
	}
	if f.fail {
		return errors.New("connection refused")
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.spans = append(f.spans, s...)
	return nil
}

func (f *fakeSpans) Shutdown(context.Context) error { return nil }

type fakeMetrics struct{ got []*metricdata.ResourceMetrics }

func (f *fakeMetrics) Export(_ context.Context, rm *metricdata.ResourceMetrics) error {
	f.got = append(f.got, rm)
	return nil
}

func (f *fakeMetrics) Shutdown(context.Context) error { return nil }

func line(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func resourceOf(s sdktrace.ReadOnlySpan) map[string]string {
	m := map[string]string{}
	for _, kv := range s.Resource().Attributes() {
		m[string(kv.Key)] = kv.Value.Emit()
	}
	return m
}

// TestExporterCluster: a pod's requests carry the pod's resource, a
// process outside the targeted pods its node and process; samples and
// other tables make no span; http_stats rows become metrics per service.
func TestExporterCluster(t *testing.T) {
	spans, metrics := &fakeSpans{}, &fakeMetrics{}
	e := newExporter(Config{Cluster: "prod", Pods: map[string]Pod{
		"uid-1": {UID: "uid-1", Namespace: "shop", Name: "api-7d9-x2k", Node: "worker-1", Workload: "deployment/api", Service: "shop/api"},
	}}, spans, metrics)
	start := time.Unix(1_700_000_000, 0)
	ev := event{Header: api.Header{Table: "http_events", Obs: &stats.Observation{Method: "GET", Path: "/a", Status: 200, TimeNs: start.UnixNano(), LatencyNs: int64(3 * time.Millisecond)}}, ConnColumns: conn("server")}
	ev.PodUID = "uid-1"
	e.Line("worker-1", line(t, ev))
	other := ev
	other.PodUID, other.PID, other.Comm = "", 7, "sidecar"
	e.Line("worker-2", line(t, other))
	sample := ev
	sample.Sample = api.SampleSlow
	e.Line("worker-1", line(t, sample))
	e.Line("worker-1", []byte(`{"table":"probe_stats","final":true}`))
	e.Line("worker-1", []byte(`not json`))
	sk := stats.NewSketch()
	sk.Add(3e6)
	sk.Add(30e6)
	row := stats.Endpoint{Key: stats.Key{Service: "shop/api", Role: "server", Method: "GET", Path: "/a", StatusClass: "5xx"}, Count: 2, Errors: 2, Latency: sk}
	e.Line("worker-1", line(t, api.HTTPStats{Header: api.Header{Table: api.TableHTTPStats}, Rows: []stats.Endpoint{row}}))
	e.Line("worker-1", line(t, api.HTTPStats{Header: api.Header{Table: api.TableHTTPStats}, Rows: []stats.Endpoint{row}}))

	r := e.Close()
	if r.Sent != 2 || r.Spans != 2 || r.Dropped != 0 || r.Points != 3 || r.Err != nil {
		t.Fatalf("report %+v, want 2 spans sent and 3 points", r)
	}
	if len(spans.spans) != 2 {
		t.Fatalf("%d spans exported, want 2", len(spans.spans))
	}
	pod, proc := resourceOf(spans.spans[0]), resourceOf(spans.spans[1])
	wantPod := map[string]string{"k8s.cluster.name": "prod", "k8s.namespace.name": "shop", "k8s.pod.name": "api-7d9-x2k", "k8s.pod.uid": "uid-1", "k8s.node.name": "worker-1", "k8s.deployment.name": "api", "service.namespace": "shop", "service.name": "api"}
	wantProc := map[string]string{"k8s.cluster.name": "prod", "k8s.node.name": "worker-2", "process.pid": "7", "process.executable.name": "sidecar", "service.name": "sidecar"}
	if fmt.Sprint(pod) != fmt.Sprint(wantPod) || fmt.Sprint(proc) != fmt.Sprint(wantProc) {
		t.Errorf("resources:\n%v\n%v\nwant\n%v\n%v", pod, proc, wantPod, wantProc)
	}
	s := spans.spans[0]
	if !s.StartTime().Equal(start) || s.EndTime().Sub(s.StartTime()) != 3*time.Millisecond {
		t.Errorf("span %v to %v, want from %v for 3ms", s.StartTime(), s.EndTime(), start)
	}
	if len(metrics.got) != 1 {
		t.Fatalf("%d metric exports, want 1", len(metrics.got))
	}
	checkEndpointMetrics(t, metrics.got[0])
}

func checkEndpointMetrics(t *testing.T, rm *metricdata.ResourceMetrics) {
	t.Helper()
	if v, _ := rm.Resource.Set().Value("service.name"); v.AsString() != "api" {
		t.Errorf("metrics resource %v, want service api", rm.Resource)
	}
	ms := rm.ScopeMetrics[0].Metrics
	reqs := ms[0].Data.(metricdata.Sum[int64]).DataPoints[0]
	errs := ms[1].Data.(metricdata.Sum[int64]).DataPoints[0]
	hist := ms[2].Data.(metricdata.Histogram[float64]).DataPoints[0]
	if reqs.Value != 4 || errs.Value != 4 || hist.Count != 4 {
		t.Errorf("requests %d errors %d histogram count %d, want 4 of each (two intervals merged)", reqs.Value, errs.Value, hist.Count)
	}
	// 3ms twice in (0, 5ms], 30ms twice in (25ms, 50ms].
	if hist.BucketCounts[0] != 2 || hist.BucketCounts[3] != 2 || hist.Sum < 0.0659 || hist.Sum > 0.0661 {
		t.Errorf("histogram %v sum %v", hist.BucketCounts, hist.Sum)
	}
	if v, _ := reqs.Attributes.Value(attribute.Key("pixie.endpoint")); v.AsString() != "/a" {
		t.Errorf("point attributes %v", reqs.Attributes)
	}
}

// TestQueueDrops: a full queue and a failing backend drop spans, counted,
// and never block the caller; close ends by its deadline.
func TestQueueDrops(t *testing.T) {
	t.Run("failing backend", func(t *testing.T) {
		e := newExporter(Config{Host: "h"}, &fakeSpans{fail: true}, &fakeMetrics{})
		for range 5 {
			e.Line("", line(t, event{Header: api.Header{Table: "redis_events", Obs: &stats.Observation{Protocol: "redis", Method: "GET", Class: "OK"}}}))
		}
		r := e.Close()
		if r.Spans != 5 || r.Dropped != 5 || r.Sent != 0 || r.Err == nil {
			t.Errorf("report %+v, want 5 dropped and the error", r)
		}
	})
	t.Run("full queue, stuck backend", func(t *testing.T) {
		f := &fakeSpans{block: true}
		q := newQueue(f, 4, 2, 50*time.Millisecond)
		tr := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(q)).Tracer("t")
		begin := time.Now()
		for range 100 {
			_, s := tr.Start(context.Background(), "x")
			s.End()
		}
		if d := time.Since(begin); d > time.Second {
			t.Errorf("100 spans took %v: the queue blocked", d)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		err := q.close(ctx)
		if q.queued.Load() != 100 || q.dropped.Load() != 100 || q.sent.Load() != 0 || err == nil {
			t.Errorf("queued %d dropped %d sent %d err %v; want all 100 dropped", q.queued.Load(), q.dropped.Load(), q.sent.Load(), err)
		}
		_, s := tr.Start(context.Background(), "late")
		s.End()
		if q.dropped.Load() != 101 {
			t.Errorf("a span after close was not dropped")
		}
	})
}

func TestReportString(t *testing.T) {
	ep, _ := ParseEndpoint("grpc://otel:4317")
	if got, want := (Report{Endpoint: ep, Sent: 3, Points: 6}).String(), "otlp: sent 3 spans and 6 metric points to grpc://otel:4317"; got != want {
		t.Errorf("%q, want %q", got, want)
	}
	got := Report{Endpoint: ep, Spans: 5, Dropped: 5, Err: errors.New("refused")}.String()
	if want := "otlp: sent 0 spans and 0 metric points to grpc://otel:4317; dropped 5 of 5 spans (queue full or export failed); export failed: refused: check that an OTLP receiver listens there"; got != want {
		t.Errorf("%q, want %q", got, want)
	}
}

func spanAttrs(s sdktrace.ReadOnlySpan) map[string]string {
	m := map[string]string{}
	for _, kv := range s.Attributes() {
		m[string(kv.Key)] = kv.Value.Emit()
	}
	return m
}

// TestExporterLocalPeers: with --local, a client's loopback server is
// named by the process listening there (service.peer.name, as that
// process's own spans name their service, and peer.service); another
// host's server on a port a local process also listens on is not; a
// server named by a traced DNS answer has that name as server.address.
func TestExporterLocalPeers(t *testing.T) {
	spans := &fakeSpans{}
	e := newExporter(Config{Host: "h"}, spans, &fakeMetrics{})
	for _, l := range []api.ListeningPort{
		{Header: api.Header{Table: api.TableListeningPorts}, Addr: "0.0.0.0", Port: 6379, PID: 20, Comm: "redis-server"},
		{Header: api.Header{Table: api.TableListeningPorts}, Addr: "127.0.0.77", Port: 8080, PID: 30, Comm: "shop"},
	} {
		e.Line("", line(t, l))
	}
	client := func(addr string, port uint16, dns string) []byte {
		c := conn("client")
		c.RemoteAddr, c.RemotePort, c.RemoteDNS = addr, port, dns
		return line(t, event{Header: api.Header{Table: "redis_events", Obs: &stats.Observation{Protocol: "redis", Method: "GET", Class: "OK"}}, ConnColumns: c})
	}
	e.Line("", client("127.0.0.1", 6379, ""))
	e.Line("", client("192.0.2.5", 6379, ""))
	e.Line("", client("127.0.0.77", 8080, "shop.pixie.test"))
	e.Line("", client("192.0.2.6", 6379, "cache.example.com"))
	if r := e.Close(); r.Sent != 4 {
		t.Fatalf("report %+v, want 4 spans", r)
	}
	want := []map[string]string{
		{"service.peer.name": "redis-server", "peer.service": "redis-server", "server.address": "127.0.0.1", "network.peer.address": "127.0.0.1"},
		{"service.peer.name": "", "peer.service": "", "server.address": "192.0.2.5", "network.peer.address": "192.0.2.5"},
		{"service.peer.name": "shop", "peer.service": "shop", "server.address": "shop.pixie.test", "network.peer.address": "127.0.0.77"},
		{"service.peer.name": "", "peer.service": "", "server.address": "cache.example.com", "network.peer.address": "192.0.2.6"},
	}
	for i, s := range spans.spans {
		got := spanAttrs(s)
		for k, v := range want[i] {
			if got[k] != v {
				t.Errorf("span %d: %s = %q, want %q (%v)", i, k, got[k], v, got)
			}
		}
	}
}

// TestMetricPointsByDNSName: rows that differ only in the name DNS gave
// their peer are two series, told apart by server.address.
func TestMetricPointsByDNSName(t *testing.T) {
	metrics := &fakeMetrics{}
	e := newExporter(Config{Host: "h"}, &fakeSpans{}, metrics)
	k := stats.Key{Service: "app", Role: "client", Method: "GET", Path: "/a", Peer: "192.0.2.7:443", StatusClass: "2xx"}
	named := k
	named.PeerDNS = "pay.example.com"
	e.Line("", line(t, api.HTTPStats{Header: api.Header{Table: api.TableHTTPStats}, Rows: []stats.Endpoint{{Key: k, Count: 1}, {Key: named, Count: 2}}}))
	e.Close()
	pts := metrics.got[0].ScopeMetrics[0].Metrics[0].Data.(metricdata.Sum[int64]).DataPoints
	got := map[string]int64{}
	for _, p := range pts {
		v, _ := p.Attributes.Value("server.address")
		got[v.Emit()] = p.Value
	}
	if len(got) != 2 || got[""] != 1 || got["pay.example.com"] != 2 {
		t.Errorf("requests by server.address %v, want 1 unnamed and 2 named pay.example.com", got)
	}
}
