//go:build linux

package local

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kubectl-pixie/kubectl-pixie/probes/api"
)

// TLS roles of the test binary, run before TestMain (which knows only the
// plain HTTP roles).
const tlsRoleEnv = "PIXIE_TEST_TLS_ROLE"

func init() {
	switch os.Getenv(tlsRoleEnv) {
	case "server":
		tlsServerMain()
		os.Exit(0)
	case "client":
		tlsClientMain()
		os.Exit(0)
	}
}

// writeCert writes a self-signed certificate and key for 127.0.0.1 into dir.
func writeCert(t *testing.T, dir string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o644)
	return certFile, keyFile
}

func requireTLSArch(t *testing.T) {
	t.Helper()
	if runtime.GOARCH != "amd64" {
		t.Skip("TLS tracing is x86-64 only")
	}
}

// startNginxTLS is Debian's nginx (linked to the system libssl) serving
// HTTPS on a loopback port, one worker, logging "METHOD URI STATUS".
func startNginxTLS(t *testing.T) *nginx {
	t.Helper()
	dir := nginxPrefix(t)
	os.WriteFile(filepath.Join(dir, "html", "index.html"), []byte("hello from nginx over TLS\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "html", "other.html"), []byte("other\n"), 0o644)
	cert, key := writeCert(t, dir)
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t, "tcp"))
	return runNginx(t, dir, addr, fmt.Sprintf(`
  log_format px '$request_method $uri $status';
  access_log %[1]s/logs/access.log px;
  server {
    listen %[2]s ssl; root %[1]s/html; keepalive_requests 100000;
    ssl_certificate %[3]s; ssl_certificate_key %[4]s;
  }`, dir, addr, cert, key))
}

// accessLog counts nginx's log lines by "METHOD URI STATUS".
func (n *nginx) accessLog(t *testing.T) map[string]int {
	t.Helper()
	time.Sleep(200 * time.Millisecond) // nginx writes the line after the response
	f, err := os.Open(filepath.Join(n.dir, "logs", "access.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m := map[string]int{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		m[sc.Text()]++
	}
	return m
}

func endpointCounts(evs []api.HTTPEvent) map[string]int {
	m := map[string]int{}
	for _, e := range evs {
		m[fmt.Sprintf("%s %s %d", e.ReqMethod, e.ReqPath, e.RespStatus)]++
	}
	return m
}

func sameCounts(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// clientsOf are the client rows of comm to addr: --comm also traces
// other processes of that name on this shared host.
func clientsOf(t *testing.T, evs []api.HTTPEvent, comm, addr string) []api.HTTPEvent {
	t.Helper()
	_, portStr, _ := net.SplitHostPort(addr)
	port, _ := strconv.Atoi(portStr)
	var out []api.HTTPEvent
	for _, e := range evs {
		if e.Comm == comm && e.TraceRole == "client" && int(e.RemotePort) == port {
			out = append(out, e)
		}
	}
	return out
}

// curlTLS runs one `curl -k` per path and returns each one's total time.
func curlTLS(t *testing.T, base string, paths []string) []time.Duration {
	t.Helper()
	curl := requireCmd(t, "curl")
	var totals []time.Duration
	for _, p := range paths {
		out, err := exec.Command(curl, "-sk", "-o", "/dev/null", "-w", "%{http_code} %{time_total}", base+p).CombinedOutput()
		if err != nil {
			t.Fatalf("curl %s: %v %s", p, err, out)
		}
		var code int
		var total float64
		if _, err := fmt.Sscanf(string(out), "%d %g", &code, &total); err != nil {
			t.Fatalf("curl printed %q", out)
		}
		totals = append(totals, time.Duration(total*float64(time.Second)))
	}
	return totals
}

var nginxPaths = []string{
	"/index.html", "/missing", "/index.html", "/other.html", "/index.html",
	"/missing", "/index.html", "/other.html", "/index.html", "/missing",
}

// TestTraceNginxTLSCurl: nginx over HTTPS and curl -k, found by --comm
// (nginx running before the trace, each curl exec'd during it): the HTTP
// rows of both sides match nginx's access log exactly, on the right
// addresses, with latencies inside curl's own total time.
func TestTraceNginxTLSCurl(t *testing.T) {
	requirePrivileged(t)
	requireTLSArch(t)
	ng := startNginxTLS(t)
	tr := startTrace(t, "--comm", "nginx", "--comm", "curl", "--duration", "60s")
	totals := curlTLS(t, "https://"+ng.addr, nginxPaths)
	recs := tr.stop(t)
	logged := ng.accessLog(t)
	server := recs.byRole("server", ng.worker)
	client := clientsOf(t, recs.events, "curl", ng.addr)
	t.Logf("nginx logged %v; server rows %v; client rows %v", logged, endpointCounts(server), endpointCounts(client))
	if n := len(nginxPaths); len(logged) == 0 || sum(logged) != n {
		t.Fatalf("nginx logged %d requests, want %d", sum(logged), n)
	}
	if !sameCounts(endpointCounts(server), logged) {
		t.Errorf("server rows %v, nginx logged %v", endpointCounts(server), logged)
	}
	if !sameCounts(endpointCounts(client), logged) {
		t.Errorf("client rows %v, nginx logged %v", endpointCounts(client), logged)
	}
	if !strings.Contains(tr.errOut.String(), "TLS: openssl uprobes") {
		t.Errorf("no TLS probe_log line on stderr:\n%s", tr.errOut.String())
	}
	_, portStr, _ := net.SplitHostPort(ng.addr)
	port, _ := strconv.Atoi(portStr)
	srvByPort := map[uint16]api.HTTPEvent{}
	for _, e := range server {
		if e.PID != ng.worker || int(e.LocalPort) != port || e.RemoteAddr != "127.0.0.1" {
			t.Errorf("server row pid %d %s:%d <- %s:%d, want worker %d on port %d", e.PID, e.LocalAddr, e.LocalPort, e.RemoteAddr, e.RemotePort, ng.worker, port)
		}
		srvByPort[e.RemotePort] = e
	}
	maxTotal := sortedDur(totals)[len(totals)-1]
	for _, c := range client {
		if int(c.RemotePort) != port || c.RemoteAddr != "127.0.0.1" {
			t.Errorf("client row to %s:%d, want 127.0.0.1:%d", c.RemoteAddr, c.RemotePort, port)
		}
		s, ok := srvByPort[c.LocalPort]
		if !ok {
			t.Errorf("client row from port %d has no server row", c.LocalPort)
			continue
		}
		if s.ReqPath != c.ReqPath || s.RespStatus != c.RespStatus {
			t.Errorf("port %d: client %s %d, server %s %d", c.LocalPort, c.ReqPath, c.RespStatus, s.ReqPath, s.RespStatus)
		}
		// The client's request starts before the server reads it and ends
		// after the server wrote the answer; curl's total adds connect and
		// handshake.
		if s.Latency <= 0 || c.Latency < s.Latency || time.Duration(c.Latency) > maxTotal {
			t.Errorf("%s: server latency %v, client %v, curl's largest total %v", c.ReqPath, time.Duration(s.Latency), time.Duration(c.Latency), maxTotal)
		}
	}
}

// TestTraceNginxTLSOpaqueWithoutProbes: the same traffic with the TLS
// probes off: the socket tracer sees the connections' ciphertext, which
// must give no HTTP row at all.
func TestTraceNginxTLSOpaqueWithoutProbes(t *testing.T) {
	requirePrivileged(t)
	requireTLSArch(t)
	ng := startNginxTLS(t)
	t.Setenv("PIXIE_TRACE_TLS", "off") // inherited by the agent
	tr := startTrace(t, "--comm", "nginx", "--comm", "curl", "--duration", "60s")
	curlTLS(t, "https://"+ng.addr, nginxPaths[:4])
	recs := tr.stop(t)
	if got := sum(ng.accessLog(t)); got != 4 {
		t.Fatalf("nginx logged %d requests, want 4", got)
	}
	if evs := append(recs.byPID(ng.worker), clientsOf(t, recs.events, "curl", ng.addr)...); len(evs) != 0 {
		t.Errorf("%d HTTP rows from encrypted bytes, want none: %+v", len(evs), evs[0])
	}
	if strings.Contains(tr.errOut.String(), "TLS: ") {
		t.Errorf("TLS probes attached although PIXIE_TRACE_TLS=off:\n%s", tr.errOut.String())
	}
	// The tracer did see the (encrypted) socket traffic.
	if len(recs.stats) == 0 || recs.stats[len(recs.stats)-1].EventsCaptured < 8 {
		t.Errorf("socket events captured: %+v, want the TLS connections' ciphertext", recs.stats)
	}
}

// TestTraceNginxTLSWrk: wrk over HTTPS (OpenSSL), found by --comm: its
// count equals the client rows, nginx's log the server rows.
func TestTraceNginxTLSWrk(t *testing.T) {
	requirePrivileged(t)
	requireTLSArch(t)
	wrk := requireCmd(t, "wrk")
	ng := startNginxTLS(t)
	tr := startTrace(t, "--comm", "nginx", "--comm", "wrk", "--duration", "60s")
	out, err := exec.Command(wrk, "-t1", "-c2", "-d2s", "https://"+ng.addr+"/index.html").CombinedOutput()
	if err != nil {
		t.Fatalf("wrk: %v %s", err, out)
	}
	m := wrkRequests.FindSubmatch(out)
	if m == nil {
		t.Fatalf("wrk printed %s", out)
	}
	wrkCount, _ := strconv.Atoi(string(m[1]))
	recs := tr.stop(t)
	logged := sum(ng.accessLog(t))
	server := len(recs.byRole("server", ng.worker))
	client := len(clientsOf(t, recs.events, "wrk", ng.addr))
	t.Logf("wrk %d, client-side %d, nginx logged %d, server-side %d", wrkCount, client, logged, server)
	if wrkCount < 10 {
		t.Fatalf("wrk completed only %d requests", wrkCount)
	}
	if client != wrkCount {
		t.Errorf("client-side records %d, wrk counted %d", client, wrkCount)
	}
	if server != logged {
		t.Errorf("server-side records %d, nginx logged %d", server, logged)
	}
}

// tlsServerMain serves HTTPS with Go's crypto/tls (certificate files in
// argv) and prints its address.
func tlsServerMain() {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fatalf("%v", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/status/{code}", func(w http.ResponseWriter, r *http.Request) {
		code, _ := strconv.Atoi(r.PathValue("code"))
		w.WriteHeader(code)
		fmt.Fprintf(w, "status %d", code)
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "ok") })
	fmt.Println(ln.Addr().String())
	srv := &http.Server{Handler: mux, TLSNextProto: map[string]func(*http.Server, *tls.Conn, http.Handler){}} // HTTP/1.1
	_ = srv.ServeTLS(ln, os.Args[1], os.Args[2])
}

// tlsClientMain waits for a line on stdin, then GETs every URL of argv[1]
// (JSON) in order over one keep-alive crypto/tls connection, and prints
// the statuses and latencies it measured (JSON).
func tlsClientMain() {
	var urls []string
	if err := json.Unmarshal([]byte(os.Args[1]), &urls); err != nil {
		fatalf("%v", err)
	}
	bufio.NewReader(os.Stdin).ReadString('\n')
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	var res clientResult
	for _, u := range urls {
		start := time.Now()
		r, err := c.Get(u)
		if err != nil {
			fatalf("%v", err)
		}
		n, _ := io.Copy(io.Discard, r.Body)
		r.Body.Close()
		res.Latencies = append(res.Latencies, time.Since(start).Nanoseconds())
		res.Statuses = append(res.Statuses, r.StatusCode)
		res.Bytes = append(res.Bytes, n)
	}
	json.NewEncoder(os.Stdout).Encode(res)
}

// startTLSRole re-executes the test binary in a TLS role.
func startTLSRole(t *testing.T, role string, args ...string) *proc {
	t.Helper()
	self, _ := os.Executable()
	cmd := exec.Command(self, args...)
	cmd.Env = append(os.Environ(), tlsRoleEnv+"="+role)
	return startProc(t, cmd)
}

// goTLSClient is the test binary in the Go TLS client role, asked for
// urls.
type goTLSClient struct {
	*proc
	addr string
	urls []string
}

// startGoTLSClient starts the client role for paths on the server at addr;
// it waits for "go" on stdin (result).
func startGoTLSClient(t *testing.T, addr string, paths ...string) *goTLSClient {
	t.Helper()
	c := &goTLSClient{addr: addr}
	for _, p := range paths {
		c.urls = append(c.urls, "https://"+addr+p)
	}
	b, _ := json.Marshal(c.urls)
	c.proc = startTLSRole(t, "client", string(b))
	return c
}

// result lets the client make its requests and returns what it got.
func (c *goTLSClient) result(t *testing.T) clientResult {
	t.Helper()
	io.WriteString(c.stdin, "go\n")
	var res clientResult
	if err := json.Unmarshal([]byte(c.line(t)), &res); err != nil {
		t.Fatal(err)
	}
	return res
}

// checkRows checks that the server (srv) and the client each traced
// exactly the requests the client made, with the statuses it got (res),
// and returns their rows.
func (c *goTLSClient) checkRows(t *testing.T, recs records, srv *proc, res clientResult) (server, client []api.HTTPEvent) {
	t.Helper()
	want := map[string]int{}
	for i, u := range c.urls {
		want[fmt.Sprintf("GET %s %d", strings.TrimPrefix(u, "https://"+c.addr), res.Statuses[i])]++
	}
	server = recs.byRole("server", srv.pid())
	client = recs.byRole("client", c.pid())
	t.Logf("client got %v; server rows %v; client rows %v", want, endpointCounts(server), endpointCounts(client))
	if !sameCounts(endpointCounts(server), want) {
		t.Errorf("server rows %v, want %v", endpointCounts(server), want)
	}
	if !sameCounts(endpointCounts(client), want) {
		t.Errorf("client rows %v, want %v", endpointCounts(client), want)
	}
	return server, client
}

// TestTraceGoTLS: a Go crypto/tls server and client (both stripped Go
// binaries, as go test builds them), traced by pid: exact per-endpoint
// counts on both sides against what the client got, latencies within the
// client's own measurements.
func TestTraceGoTLS(t *testing.T) {
	requirePrivileged(t)
	requireTLSArch(t)
	cert, key := writeCert(t, t.TempDir())
	srv := startTLSRole(t, "server", cert, key)
	addr := srv.line(t)
	cli := startGoTLSClient(t, addr, "/", "/status/404", "/", "/status/500", "/", "/status/404", "/", "/")
	// The agent attaches to the pids it was given before probe_ready.
	tr := startTrace(t, append(pidArgs(srv.pid(), cli.pid()), "--duration", "60s")...)
	res := cli.result(t)
	recs := tr.stop(t)
	if n := strings.Count(tr.errOut.String(), "TLS: go uprobes"); n != 2 {
		t.Errorf("want Go TLS probes on 2 processes, stderr:\n%s", tr.errOut.String())
	}
	server, client := cli.checkRows(t, recs, srv, res)
	_, portStr, _ := net.SplitHostPort(addr)
	port, _ := strconv.Atoi(portStr)
	for _, e := range server {
		if int(e.LocalPort) != port {
			t.Errorf("server row on port %d, want %d", e.LocalPort, port)
		}
	}
	maxLat := sortedInt64(res.Latencies)[len(res.Latencies)-1]
	for _, e := range client {
		if int(e.RemotePort) != port || e.Latency <= 0 || e.Latency > maxLat {
			t.Errorf("client row to port %d latency %v, want port %d and latency in (0, %v]", e.RemotePort, time.Duration(e.Latency), port, time.Duration(maxLat))
		}
	}
}

func sum(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

func sortedDur(d []time.Duration) []time.Duration {
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s
}

// TestTraceGoTLSLatency: the raw HTTP/1.1 client role over crypto/tls
// (timed right around tls.Conn's Write and the reads of the response) to
// the Go TLS server, both read through the Go TLS uprobes: the latency
// rule per request, p50 and p99 both ways. The client connects after the
// trace started: a server already blocked in tls.Conn.Read when the
// uprobes attach gives its first request unseen.
func TestTraceGoTLSLatency(t *testing.T) {
	requirePrivileged(t)
	requireTLSArch(t)
	cert, key := writeCert(t, t.TempDir())
	srv := startTLSRole(t, "server", cert, key)
	addr := srv.line(t)
	checkLatencyRerun(t, func(t *testing.T) latencyCase {
		cli, tr, res, recs := traceClientRun(t, srv, clientPlan{URLs: urls(addr, nPaths("/lat/%d", 200)...), Wait: true, TLS: true})
		client := recs.byRole("client", cli.pid())
		if len(client) == 0 {
			t.Fatalf("no client-side record (stderr: %s)", tr.errOut.String())
		}
		cl, sv := connLatencies(t, tr.out.Bytes(), api.TableHTTPEvents, client[0].LocalPort, func(e *api.HTTPEvent) bool { return strings.HasPrefix(e.ReqPath, "/lat/") })
		return latencyCase{name: "Go TLS GET", client: clientTimes{Lat: res.Latencies, Preempted: res.Preempted}, tracedClient: cl, tracedServer: sv}
	})
}

// TestTraceGoTLSStackGrowth: a Go client whose writes sometimes find the
// stack too small at tls.(*Conn).Write's stack check (each from a new
// goroutine, one frame deeper than the last), so that Write starts twice
// for one call, the first time only to grow the stack: each request is
// counted once, on both sides, with its own path.
func TestTraceGoTLSStackGrowth(t *testing.T) {
	requirePrivileged(t)
	requireTLSArch(t)
	cert, key := writeCert(t, t.TempDir())
	srv := startTLSRole(t, "server", cert, key)
	addr := srv.line(t)
	// 600 depths of a 32-byte frame: past the 8 KiB a goroutine starts
	// with, and a 16 KiB start too.
	const n = 600
	cli, _, res, recs := traceClientRun(t, srv, clientPlan{URLs: urls(addr, nPaths("/deep/%d", n)...), Wait: true, TLS: true, Deep: true})
	want := map[string]int{}
	for i, st := range res.Statuses {
		want[fmt.Sprintf("GET /deep/%d %d", i, st)]++
	}
	if len(want) != n {
		t.Fatalf("the client made %d requests, want %d", len(want), n)
	}
	for _, side := range []struct {
		role string
		pid  uint32
	}{{"server", srv.pid()}, {"client", cli.pid()}} {
		got := endpointCounts(recs.byRole(side.role, side.pid))
		if !sameCounts(got, want) {
			var extra, missing []string
			for k, v := range got {
				if v != want[k] {
					extra = append(extra, fmt.Sprintf("%s x%d", k, v))
				}
			}
			for k := range want {
				if got[k] == 0 {
					missing = append(missing, k)
				}
			}
			sort.Strings(extra)
			sort.Strings(missing)
			t.Errorf("%s side: %d rows for %d requests; counted otherwise than once: %v; missing: %v", side.role, sum(got), n, extra, missing)
		}
	}
}

// TestTraceNginxTLSLatency: a small C client (testdata/sslclient, timed
// right around its SSL_write and the SSL_read that ends each response) to
// nginx, both read through the OpenSSL uprobes: the latency rule per
// request, p50 and p99 both ways. Run twice: with SSL_write/SSL_read, and
// with SSL_write_ex/SSL_read_ex, whose probes fire only for a client that
// calls them (nginx and curl do not).
func TestTraceNginxTLSLatency(t *testing.T) {
	requirePrivileged(t)
	requireTLSArch(t)
	gcc := requireCmd(t, "gcc")
	bin := filepath.Join(t.TempDir(), "sslclient")
	if out, err := exec.Command(gcc, "-O2", "-Wall", "-o", bin, "testdata/sslclient/sslclient.c", "-lssl", "-lcrypto").CombinedOutput(); err != nil {
		t.Fatalf("building the OpenSSL client (libssl-dev): %v\n%s", err, out)
	}
	ng := startNginxTLS(t)
	host, port, _ := net.SplitHostPort(ng.addr)
	for _, ex := range []bool{false, true} {
		calls := map[bool]string{false: "SSL_write/SSL_read", true: "SSL_write_ex/SSL_read_ex"}[ex]
		t.Run(strings.ReplaceAll(calls, "/", "+"), func(t *testing.T) {
			const n = 200
			args := []string{host, port, "/index.html", strconv.Itoa(n)}
			if ex {
				args = append(args, "ex")
			}
			checkLatencyRerun(t, func(t *testing.T) latencyCase {
				tr, _, localPort, ct := traceSSLClient(t, ng, n, exec.Command(bin, args...))
				if !strings.Contains(tr.errOut.String(), "TLS: openssl uprobes") {
					t.Errorf("no TLS probe_log line on stderr:\n%s", tr.errOut.String())
				}
				cl, sv := connLatencies(t, tr.out.Bytes(), api.TableHTTPEvents, localPort, func(e *api.HTTPEvent) bool { return e.ReqPath == "/index.html" })
				return latencyCase{name: "OpenSSL GET (" + calls + ")", client: ct, tracedClient: cl, tracedServer: sv}
			})
		})
	}
}

// traceSSLClient runs cmd, testdata/sslclient making n requests to ng,
// under a trace of it and ng's worker; it returns the stopped trace, the
// client, its local port and the latencies it measured.
func traceSSLClient(t *testing.T, ng *nginx, n int, cmd *exec.Cmd) (*trace, *proc, uint16, clientTimes) {
	t.Helper()
	cli := startProc(t, cmd)
	tr := startTrace(t, append(pidArgs(ng.worker, cli.pid()), "--duration", "60s")...)
	fmt.Fprintln(cli.stdin, "go")
	localPort, err := strconv.ParseUint(cli.line(t), 10, 16)
	if err != nil {
		t.Fatal(err)
	}
	var ct clientTimes
	for range n {
		var ns int64
		var preempted int
		if _, err := fmt.Sscan(cli.line(t), &ns, &preempted); err != nil {
			t.Fatal(err)
		}
		ct.Lat, ct.Preempted = append(ct.Lat, ns), append(ct.Preempted, preempted != 0)
	}
	tr.stop(t)
	return tr, cli, uint16(localPort), ct
}

// TestTraceGoTLSExec: with --comm, a Go client exec'd during the trace and
// done within milliseconds (long before a scan of /proc could find it) is
// read from its first request: the Go probes sit on the executable, which
// the server, found by the scan, shares.
func TestTraceGoTLSExec(t *testing.T) {
	requirePrivileged(t)
	requireTLSArch(t)
	cert, key := writeCert(t, t.TempDir())
	srv := startTLSRole(t, "server", cert, key)
	addr := srv.line(t)
	comm, err := os.ReadFile("/proc/self/comm")
	if err != nil {
		t.Fatal(err)
	}
	tr := startTrace(t, "--comm", strings.TrimSpace(string(comm)), "--duration", "60s")
	cli := startGoTLSClient(t, addr, "/", "/status/404", "/", "/")
	res := cli.result(t)
	cli.checkRows(t, tr.stop(t), srv, res)
}
