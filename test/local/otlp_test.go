//go:build linux

package local

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestOTLPExport: real curl traffic with known counts per path (some
// failing) against a real nginx, traced three times at once with
// --otlp-endpoint: over OTLP/HTTP and over OTLP/gRPC to a real
// OpenTelemetry Collector (hack/otelcol, built from the Go module proxy)
// that writes what it receives with its file exporter, and to a port where
// nothing listens. The collector's files hold exactly one server span per
// request with its endpoint, status and resource, and metrics whose
// request and error totals are exact; the dead endpoint costs a warning,
// not the run.
func TestOTLPExport(t *testing.T) {
	requirePrivileged(t)
	curl := requireCmd(t, "curl")
	col := startCollector(t)
	ng := startNginx(t, false, `location = /ok { return 200 "ok\n"; }`, `location = /boom { return 500; }`)
	traffic := map[string]int{"/ok": 5, "/boom": 3, "/missing": 2} // /missing: nginx's 404
	dead := fmt.Sprintf("http://127.0.0.1:%d", freePort(t, "tcp"))
	endpoints := map[string]string{"http": "http://" + col.http, "grpc": "grpc://" + col.grpc, "dead": dead}
	traces := map[string]*tableTrace{}
	for name, ep := range endpoints {
		traces[name] = startTable(t, append(pidArgs(ng.worker), "--duration", "60s", "--otlp-endpoint", ep)...)
	}
	begin := time.Now()
	args := []string{"-s"}
	for path, n := range traffic {
		for range n {
			args = append(args, "-o", "/dev/null", "http://"+ng.addr+path)
		}
	}
	if out, err := exec.Command(curl, args...).CombinedOutput(); err != nil {
		t.Fatalf("curl: %v %s", err, out)
	}
	if got := ng.accessCount(t); got != 10 {
		t.Fatalf("nginx logged %d requests, want 10", got)
	}
	for name, tt := range traces {
		start := time.Now()
		tt.end(t)
		report := lastLine(tt.errOut.String(), "otlp: ")
		switch name {
		case "dead":
			if !strings.Contains(report, "dropped 10 of 10 spans") || !strings.Contains(report, "export failed") {
				t.Errorf("dead endpoint: report %q, want 10 spans dropped and the export error", report)
			}
			if d := time.Since(start); d > 15*time.Second { // CloseTimeout (10s) plus the agent's stop
				t.Errorf("dead endpoint: the trace took %v to end, want the export's bound", d)
			}
		default:
			if want := "otlp: sent 10 spans and 9 metric points to " + endpoints[name]; report != want {
				t.Errorf("%s: report %q, want %q\nstderr:\n%s", name, report, want, tt.errOut.String())
			}
		}
	}
	col.stop(t)
	for _, name := range []string{"http", "grpc"} {
		t.Run(name, func(t *testing.T) {
			spans, metrics := col.read(t, name)
			t.Logf("%d spans, metrics per endpoint %v", len(spans), metrics)
			checkSpans(t, spans, ng, traffic, begin)
			checkMetrics(t, metrics, traffic)
		})
	}
}

func checkSpans(t *testing.T, spans []otlpSpan, ng *nginx, traffic map[string]int, begin time.Time) {
	t.Helper()
	byName := map[string]int{}
	host, _ := os.Hostname()
	port := ng.addr[strings.LastIndexByte(ng.addr, ':')+1:]
	for _, s := range spans {
		byName[s.Name]++
		path := strings.TrimPrefix(s.Name, "GET ")
		status := map[string]string{"/ok": "200", "/boom": "500", "/missing": "404"}[path]
		want := map[string]string{
			"http.request.method": "GET", "url.path": path, "http.route": path,
			"http.response.status_code": status, "server.port": port, "client.address": "127.0.0.1",
		}
		for k, v := range want {
			if s.attrs[k] != v {
				t.Errorf("span %q: %s = %q, want %q", s.Name, k, s.attrs[k], v)
			}
		}
		wantRes := map[string]string{"service.name": "nginx", "process.pid": strconv.Itoa(int(ng.worker)), "process.executable.name": "nginx", "host.name": host}
		for k, v := range wantRes {
			if s.resource[k] != v {
				t.Errorf("span %q: resource %s = %q, want %q", s.Name, k, s.resource[k], v)
			}
		}
		if s.Kind != 2 { // SPAN_KIND_SERVER
			t.Errorf("span %q: kind %d, want 2 (server)", s.Name, s.Kind)
		}
		failed := path == "/boom" // 4xx is the client's error, not the server's
		if (s.Status.Code == 2) != failed || (s.attrs["error.type"] != "") != failed {
			t.Errorf("span %q: status %+v, error.type %q; want an error only for 5xx", s.Name, s.Status, s.attrs["error.type"])
		}
		start, end := time.Unix(0, s.start()), time.Unix(0, s.end())
		if start.Before(begin) || end.Before(start) || end.After(time.Now()) {
			t.Errorf("span %q: %v to %v, want within the traffic (from %v)", s.Name, start, end, begin)
		}
	}
	want := map[string]int{}
	for path, n := range traffic {
		want["GET "+path] = n
	}
	if fmt.Sprint(byName) != fmt.Sprint(want) {
		t.Errorf("spans per endpoint %v, want %v", byName, want)
	}
}

func checkMetrics(t *testing.T, points map[string]map[string]int64, traffic map[string]int) {
	t.Helper()
	for path, n := range traffic {
		errs := int64(0)
		if path == "/boom" {
			errs = int64(n)
		}
		got := points[path]
		want := map[string]int64{"pixie.requests": int64(n), "pixie.errors": errs, "pixie.request.duration": int64(n)}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("metrics of %s: %v, want %v", path, got, want)
		}
	}
	if len(points) != len(traffic) {
		t.Errorf("metrics of %d endpoints (%v), want %d", len(points), points, len(traffic))
	}
}

// lastLine is the last line of s that starts with prefix.
func lastLine(s, prefix string) string {
	var last string
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), prefix) {
			last = sc.Text()
		}
	}
	return last
}

// startCollector builds (make otelcol, cached) and starts the test
// collector with an OTLP/HTTP and an OTLP/gRPC receiver, each writing to
// its own file.
func startCollector(t *testing.T) *collector {
	t.Helper()
	build := exec.Command("make", "-s", "--no-print-directory", "-C", "../..", "otelcol")
	build.Stderr = os.Stderr
	out, err := build.Output()
	if err != nil {
		t.Fatalf("make otelcol: %v", err)
	}
	bin := strings.TrimSpace(string(out))
	dir := t.TempDir()
	c := &collector{dir: dir, http: fmt.Sprintf("127.0.0.1:%d", freePort(t, "tcp")), grpc: fmt.Sprintf("127.0.0.1:%d", freePort(t, "tcp"))}
	config := fmt.Sprintf(`receivers:
  otlp/http: {protocols: {http: {endpoint: "%s"}}}
  otlp/grpc: {protocols: {grpc: {endpoint: "%s"}}}
exporters:
  file/http: {path: "%[3]s/http.json"}
  file/grpc: {path: "%[3]s/grpc.json"}
service:
  telemetry: {metrics: {level: none}}
  pipelines:
    traces/http: {receivers: [otlp/http], exporters: [file/http]}
    metrics/http: {receivers: [otlp/http], exporters: [file/http]}
    traces/grpc: {receivers: [otlp/grpc], exporters: [file/grpc]}
    metrics/grpc: {receivers: [otlp/grpc], exporters: [file/grpc]}
`, c.http, c.grpc, dir)
	cfg := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(cfg, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	c.cmd, c.out = startDaemon(t, bin, "--config", cfg)
	waitTCP(t, c.http)
	waitTCP(t, c.grpc)
	return c
}

// collector is a running test collector.
type collector struct {
	cmd        *exec.Cmd
	out        *syncBuffer
	dir        string
	http, grpc string
}

// stop ends the collector (its file exporters flush and close).
func (c *collector) stop(t *testing.T) {
	t.Helper()
	stopGently(c.cmd)
}

// OTLP JSON, as the file exporter writes it: one export request a line.
type otlpAttr struct {
	Key   string `json:"key"`
	Value struct {
		StringValue *string `json:"stringValue"`
		IntValue    *string `json:"intValue"` // int64 as a string
	} `json:"value"`
}

type otlpSpan struct {
	Name       string     `json:"name"`
	Kind       int        `json:"kind"`
	Start      string     `json:"startTimeUnixNano"`
	End        string     `json:"endTimeUnixNano"`
	Attributes []otlpAttr `json:"attributes"`
	Status     struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"status"`
	attrs, resource map[string]string
}

func (s otlpSpan) start() int64 { n, _ := strconv.ParseInt(s.Start, 10, 64); return n }
func (s otlpSpan) end() int64   { n, _ := strconv.ParseInt(s.End, 10, 64); return n }

type otlpPoint struct {
	Attributes []otlpAttr `json:"attributes"`
	AsInt      string     `json:"asInt"`
	Count      string     `json:"count"`
}

type otlpLine struct {
	ResourceSpans []struct {
		Resource   struct{ Attributes []otlpAttr } `json:"resource"`
		ScopeSpans []struct {
			Spans []otlpSpan `json:"spans"`
		} `json:"scopeSpans"`
	} `json:"resourceSpans"`
	ResourceMetrics []struct {
		ScopeMetrics []struct {
			Metrics []struct {
				Name      string                           `json:"name"`
				Sum       struct{ DataPoints []otlpPoint } `json:"sum"`
				Histogram struct{ DataPoints []otlpPoint } `json:"histogram"`
			} `json:"metrics"`
		} `json:"scopeMetrics"`
	} `json:"resourceMetrics"`
}

func attrMap(as []otlpAttr) map[string]string {
	m := map[string]string{}
	for _, a := range as {
		switch {
		case a.Value.StringValue != nil:
			m[a.Key] = *a.Value.StringValue
		case a.Value.IntValue != nil:
			m[a.Key] = *a.Value.IntValue
		}
	}
	return m
}

// read parses what the collector wrote for one receiver: the spans with
// their attributes and resource, and per endpoint (pixie.endpoint) each
// metric's total (a histogram's count).
func (c *collector) read(t *testing.T, name string) ([]otlpSpan, map[string]map[string]int64) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(c.dir, name+".json"))
	if err != nil {
		t.Fatalf("the collector wrote nothing for %s: %v\n%s", name, err, c.out.String())
	}
	var spans []otlpSpan
	points := map[string]map[string]int64{}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var l otlpLine
		if err := json.Unmarshal([]byte(line), &l); err != nil {
			t.Fatalf("the collector's %s file: %v: %.200s", name, err, line)
		}
		for _, rs := range l.ResourceSpans {
			res := attrMap(rs.Resource.Attributes)
			for _, ss := range rs.ScopeSpans {
				for _, s := range ss.Spans {
					s.attrs, s.resource = attrMap(s.Attributes), res
					spans = append(spans, s)
				}
			}
		}
		for _, rm := range l.ResourceMetrics {
			for _, sm := range rm.ScopeMetrics {
				for _, m := range sm.Metrics {
					for _, p := range append(m.Sum.DataPoints, m.Histogram.DataPoints...) {
						ep := attrMap(p.Attributes)["pixie.endpoint"]
						if points[ep] == nil {
							points[ep] = map[string]int64{}
						}
						n, _ := strconv.ParseInt(p.AsInt+p.Count, 10, 64)
						points[ep][m.Name] += n
					}
				}
			}
		}
	}
	return spans, points
}
