//go:build linux

package local

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
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
	c := startCollectorWith(t, map[string]string{"http": "http", "grpc": "grpc"})
	c.http, c.grpc = c.addrs["http"], c.addrs["grpc"]
	return c
}

// startCollectorWith starts the test collector with one receiver per
// name, of its protocol ("http" or "grpc"), each on its own port and
// writing what it receives to its own file (collector.read).
func startCollectorWith(t *testing.T, receivers map[string]string) *collector {
	t.Helper()
	build := exec.Command("make", "-s", "--no-print-directory", "-C", "../..", "otelcol")
	build.Stderr = os.Stderr
	out, err := build.Output()
	if err != nil {
		t.Fatalf("make otelcol: %v", err)
	}
	bin := strings.TrimSpace(string(out))
	dir := t.TempDir()
	c := &collector{dir: dir, addrs: map[string]string{}}
	var recv, exp, pipes strings.Builder
	for name, proto := range receivers {
		addr := fmt.Sprintf("127.0.0.1:%d", freePort(t, "tcp"))
		c.addrs[name] = addr
		fmt.Fprintf(&recv, "  otlp/%s: {protocols: {%s: {endpoint: \"%s\"}}}\n", name, proto, addr)
		fmt.Fprintf(&exp, "  file/%s: {path: \"%s/%[1]s.json\"}\n", name, dir)
		fmt.Fprintf(&pipes, "    traces/%[1]s: {receivers: [otlp/%[1]s], exporters: [file/%[1]s]}\n    metrics/%[1]s: {receivers: [otlp/%[1]s], exporters: [file/%[1]s]}\n", name)
	}
	config := "receivers:\n" + recv.String() + "exporters:\n" + exp.String() +
		"service:\n  telemetry: {metrics: {level: none}}\n  pipelines:\n" + pipes.String()
	cfg := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(cfg, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	c.cmd, c.out = startDaemon(t, bin, "--config", cfg)
	for _, addr := range c.addrs {
		waitTCP(t, addr)
	}
	return c
}

// collector is a running test collector.
type collector struct {
	cmd        *exec.Cmd
	out        *syncBuffer
	dir        string
	addrs      map[string]string // receiver name -> host:port
	http, grpc string            // startCollector's receivers
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

// TestOTLPDataAccess: the same nginx traffic, carrying a Bearer token, a
// password= query value and a token as a path segment, exported under
// the default data access (restricted: no flag), none and full. No span,
// metric or resource in the collector's files holds the Bearer token or
// the password in any mode: a span has no header attribute and no
// url.query (url.path is the path without its query). The path token is
// {hash} in url.path under restricted and none, and kept under full. A
// -o json run with full data access proves the secrets were in the
// traced requests.
func TestOTLPDataAccess(t *testing.T) {
	requirePrivileged(t)
	curl := requireCmd(t, "curl")
	bearer, password := "pxleakbearerx7q", "pxleakpasswordx7q"
	hexToken := "5ec7e75ec7e75ec7e75ec7e75ec7e75e"
	ng := startNginx(t, false, `location = /login { return 200 "ok\n"; }`, `location /files/ { return 200 "f\n"; }`)
	modes := map[string][]string{"restricted": nil, "none": {"--data-access", "none"}, "full": {"--data-access", "full"}}
	receivers := map[string]string{}
	for name := range modes {
		receivers[name] = "http"
	}
	col := startCollectorWith(t, receivers)
	runModes := map[string][]string{"json-full": {"-o", "json", "--data-access", "full"}}
	for name, flags := range modes {
		runModes[name] = append(slices.Clone(flags), "--otlp-endpoint", "http://"+col.addrs[name])
	}
	runs := startModes(t, runModes, pidArgs(ng.worker)...)
	const nLogin, nFiles = 3, 2
	base := "http://" + ng.addr
	for range nLogin {
		if out, err := exec.Command(curl, "-s", "-o", "/dev/null", "-H", "Authorization: Bearer "+bearer, base+"/login?user=alice&password="+password).CombinedOutput(); err != nil {
			t.Fatalf("curl: %v %s", err, out)
		}
	}
	for range nFiles {
		if out, err := exec.Command(curl, "-s", "-o", "/dev/null", base+"/files/"+hexToken+"/download").CombinedOutput(); err != nil {
			t.Fatalf("curl: %v %s", err, out)
		}
	}
	if got := ng.accessCount(t); got != nLogin+nFiles {
		t.Fatalf("nginx logged %d requests, want %d", got, nLogin+nFiles)
	}
	outs := stopModes(t, runs)
	col.stop(t)
	for _, s := range []string{bearer, password, hexToken} {
		if !strings.Contains(outs["json-full"], s) {
			t.Errorf("json-full: %q was not traced:\n%s", s, outs["json-full"])
		}
	}
	for name := range modes {
		t.Run(name, func(t *testing.T) {
			if report := lastLine(outs[name], "otlp: "); !strings.HasPrefix(report, fmt.Sprintf("otlp: sent %d spans and ", nLogin+nFiles)) {
				t.Errorf("report %q, want %d spans sent", report, nLogin+nFiles)
			}
			raw, err := os.ReadFile(filepath.Join(col.dir, name+".json"))
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range []string{bearer, password, "password="} {
				if strings.Contains(string(raw), s) {
					t.Errorf("the collector received %q", s)
				}
			}
			if has := strings.Contains(string(raw), hexToken); has != (name == "full") {
				t.Errorf("path token in the export: %v, want it only under full", has)
			}
			spans, metrics := col.read(t, name)
			filesPath := "/files/{hash}/download"
			if name == "full" {
				filesPath = "/files/" + hexToken + "/download"
			}
			want := map[string]int{"GET /login url.path=/login": nLogin, "GET /files/{hash}/download url.path=" + filesPath: nFiles}
			got := map[string]int{}
			for _, s := range spans {
				got[s.Name+" url.path="+s.attrs["url.path"]]++
				for k := range s.attrs {
					if k == "url.query" || k == "url.full" || strings.HasPrefix(k, "http.request.header.") || strings.HasPrefix(k, "http.response.header.") {
						t.Errorf("span %q has %s = %q", s.Name, k, s.attrs[k])
					}
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("spans %v, want %v", got, want)
			}
			for ep, n := range map[string]int64{"/login": nLogin, "/files/{hash}/download": nFiles} {
				if metrics[ep]["pixie.requests"] != n {
					t.Errorf("metrics of %s: %v, want %d requests", ep, metrics[ep], n)
				}
			}
		})
	}
}

// TestOTLPNamedPeers: client spans name their server as semconv asks. A
// client resolving shop.pixie.test through dnsmasq has server.address
// shop.pixie.test (the name it looked up, never a reverse lookup) and
// network.peer.address the IP; a client calling nginx by its loopback
// address has server.address the IP and service.peer.name (and the
// older peer.service) nginx, the process listening there; the DNS
// lookups' spans name dnsmasq. Counts are exact: the clients' requests,
// and the lookups dnsmasq logged.
func TestOTLPNamedPeers(t *testing.T) {
	requirePrivileged(t)
	dns := startDNSMasq(t)
	_, shopAddr := startServer(t, shopIP+":0")
	_, shopPort, _ := net.SplitHostPort(shopAddr)
	ng := startNginx(t, false)
	col := startCollectorWith(t, map[string]string{"peers": "http"})

	const nShop, nNginx = 4, 3
	shop := startRole(t, "client", planArg(clientPlan{URLs: slices.Repeat(urls(shopName+":"+shopPort, "/dns"), nShop), Resolver: dns.resolver, Wait: true}))
	other := startRole(t, "client", planArg(clientPlan{URLs: slices.Repeat(urls(ng.addr, "/index.html"), nNginx), Wait: true}))
	for _, cli := range []*proc{shop, other} {
		if cli.line(t) != "ready" {
			t.Fatal("client not ready")
		}
	}
	tt := startTable(t, append(pidArgs(shop.pid(), other.pid()), "--duration", "60s", "--otlp-endpoint", "http://"+col.addrs["peers"])...)
	for _, cli := range []*proc{shop, other} {
		fmt.Fprintln(cli.stdin)
		parseClient(t, cli.line(t))
	}
	tt.end(t)
	col.stop(t)
	spans, _ := col.read(t, "peers")
	lookups := dns.shopQueries()
	_, dnsPort, _ := net.SplitHostPort(dns.resolver)
	type peer struct{ span, server, peerAddr, port, peerName, peerService string }
	want := map[peer]int{
		{"GET /dns", shopName, shopIP, shopPort, "local.test", "local.test"}:                                             nShop,
		{"GET /index.html", "127.0.0.1", "127.0.0.1", ng.addr[strings.LastIndexByte(ng.addr, ':')+1:], "nginx", "nginx"}: nNginx,
	}
	got := map[peer]int{}
	dnsSpans := 0
	for _, s := range spans {
		if s.Kind != 3 { // SPAN_KIND_CLIENT
			t.Errorf("span %q: kind %d, want 3 (client)", s.Name, s.Kind)
		}
		a := s.attrs
		p := peer{s.Name, a["server.address"], a["network.peer.address"], a["server.port"], a["service.peer.name"], a["peer.service"]}
		if strings.HasPrefix(s.Name, "DNS ") {
			if a["dns.question.name"] == shopName {
				dnsSpans++
			}
			if p.server != "127.0.0.1" || p.port != dnsPort || p.peerName != "dnsmasq" || p.peerService != "dnsmasq" {
				t.Errorf("DNS span %+v, want server 127.0.0.1:%s named dnsmasq", p, dnsPort)
			}
			continue
		}
		got[p]++
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("client spans by peer\n%v\nwant\n%v", got, want)
	}
	if lookups == 0 || dnsSpans != lookups {
		t.Errorf("%d DNS spans for %s, dnsmasq logged %d queries", dnsSpans, shopName, lookups)
	}
}
