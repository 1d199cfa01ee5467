//go:build linux

package local

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// nginx is Debian's nginx on a loopback port, one worker, access log on
// (the server's own count of requests).
type nginx struct {
	dir    string
	addr   string
	master uint32
	worker uint32
}

// startNginx runs nginx serving html/ on a loopback port; locations are
// added to its server block.
func startNginx(t *testing.T, sendfile bool, locations ...string) *nginx {
	t.Helper()
	dir := nginxPrefix(t)
	os.WriteFile(filepath.Join(dir, "html", "index.html"), []byte("hello from nginx\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "html", "static.bin"), bytes.Repeat([]byte("s"), 200_000), 0o644)
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t, "tcp"))
	sf := "off"
	if sendfile {
		sf = "on"
	}
	return runNginx(t, dir, addr, fmt.Sprintf(`
  access_log %[1]s/logs/access.log;
  sendfile %[2]s;
  server { listen %[3]s; root %[1]s/html; keepalive_requests 100000; %[4]s }`, dir, sf, addr, strings.Join(locations, "\n")))
}

// nginxPrefix makes a prefix directory for nginx: html, logs and tmp, all
// readable by its workers (they drop root to nobody).
func nginxPrefix(t *testing.T) string {
	dir := t.TempDir()
	for d := dir; d != "/" && d != "/tmp"; d = filepath.Dir(d) {
		os.Chmod(d, 0o755)
	}
	for _, d := range []string{"html", "logs", "tmp"} {
		os.MkdirAll(filepath.Join(dir, d), 0o755)
	}
	return dir
}

// runNginx runs Debian's nginx in the foreground with one worker, from
// prefix dir, with http the directives of its http block; it is stopped
// when the test ends. It returns once addr answers and the worker exists.
func runNginx(t *testing.T, dir, addr, http string) *nginx {
	t.Helper()
	bin := requireCmd(t, "nginx")
	conf := fmt.Sprintf(`worker_processes 1;
daemon off;
pid %[1]s/nginx.pid;
error_log %[1]s/logs/error.log;
events { worker_connections 1024; }
http {
  client_body_temp_path %[1]s/tmp; proxy_temp_path %[1]s/tmp; fastcgi_temp_path %[1]s/tmp;
  uwsgi_temp_path %[1]s/tmp; scgi_temp_path %[1]s/tmp;
%[2]s
}
`, dir, http)
	cf := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(cf, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-c", cf, "-p", dir)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stopGently(cmd) }) // nginx's master then stops its workers
	waitTCP(t, addr)
	n := &nginx{dir: dir, addr: addr, master: uint32(cmd.Process.Pid)}
	n.worker = firstChild(t, n.master)
	return n
}

// accessCount is the number of requests nginx logged.
func (n *nginx) accessCount(t *testing.T) int {
	t.Helper()
	time.Sleep(200 * time.Millisecond) // nginx writes the log line after the response
	b, _ := os.ReadFile(filepath.Join(n.dir, "logs", "access.log"))
	return bytes.Count(b, []byte("\n"))
}

func requireCmd(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("PIXIE_REQUIRE_PRIVILEGED") == "1" {
			t.Fatalf("%s is not installed (make deps installs it)", name)
		}
		t.Skipf("SKIP: %s is not installed (make deps installs it)", name)
	}
	return p
}

// TestTraceNginxCurl: curl against nginx, both traced: static page, 404
// and HEAD, on one keep-alive connection.
func TestTraceNginxCurl(t *testing.T) {
	requirePrivileged(t)
	curl := requireCmd(t, "curl")
	ng := startNginx(t, false)
	tr := startTrace(t, append(pidArgs(ng.worker), "--comm", "curl", "--duration", "60s")...)
	base := "http://" + ng.addr
	out, err := exec.Command(curl, "-s", "-o", "/dev/null", "-o", "/dev/null", "-w", "%{http_code}\n", base+"/index.html", base+"/missing").CombinedOutput()
	if err != nil {
		t.Fatalf("curl: %v %s", err, out)
	}
	if out, err := exec.Command(curl, "-s", "-I", base+"/index.html").CombinedOutput(); err != nil {
		t.Fatalf("curl -I: %v %s", err, out)
	}
	recs := tr.stop(t)
	server := recs.byRole("server", ng.worker)
	client := recs.byRole("client", 0)
	if len(server) != 3 || len(client) != 3 {
		t.Fatalf("captured %d server-side and %d client-side requests, want 3 each", len(server), len(client))
	}
	want := []struct {
		method, path string
		status       int
		size         int64
	}{{"GET", "/index.html", 200, 17}, {"GET", "/missing", 404, -1}, {"HEAD", "/index.html", 200, 0}}
	for i, w := range want {
		for _, e := range []struct {
			m, p string
			s    int
			sz   int64
			role string
		}{{server[i].ReqMethod, server[i].ReqPath, server[i].RespStatus, server[i].RespBodySize, "server"}, {client[i].ReqMethod, client[i].ReqPath, client[i].RespStatus, client[i].RespBodySize, "client"}} {
			if e.m != w.method || e.p != w.path || e.s != w.status || (w.size >= 0 && e.sz != w.size) {
				t.Errorf("%s record %d = %s %s -> %d (%d bytes), want %s %s -> %d (%d bytes)", e.role, i, e.m, e.p, e.s, e.sz, w.method, w.path, w.status, w.size)
			}
		}
	}
	if got := ng.accessCount(t); got != 3 {
		t.Fatalf("nginx logged %d requests, want 3", got)
	}
}

// TestTraceNginxSendfile: the body goes out with sendfile and never passes
// a traced buffer; the response still counts, sized from its headers.
func TestTraceNginxSendfile(t *testing.T) {
	requirePrivileged(t)
	curl := requireCmd(t, "curl")
	ng := startNginx(t, true)
	tr := startTrace(t, append(pidArgs(ng.worker), "--duration", "60s")...)
	for i := 0; i < 5; i++ {
		if out, err := exec.Command(curl, "-s", "-o", "/dev/null", "http://"+ng.addr+"/static.bin").CombinedOutput(); err != nil {
			t.Fatalf("curl: %v %s", err, out)
		}
	}
	recs := tr.stop(t)
	server := recs.byRole("server", ng.worker)
	if len(server) != 5 {
		t.Fatalf("captured %d requests, want 5", len(server))
	}
	for _, e := range server {
		if e.RespStatus != 200 || e.RespBodySize != 200_000 {
			t.Fatalf("record %s -> %d with %d body bytes, want 200 with 200000", e.ReqPath, e.RespStatus, e.RespBodySize)
		}
	}
}

var wrkRequests = regexp.MustCompile(`(\d+) requests in`)

// TestTraceNginxWrk: wrk's own count of completed requests equals the
// client-side records, and nginx's access log equals the server-side ones.
// wrk and nginx fill both CPUs, and with -o json the agent waits on its
// output, which the plugin and this test read record by record on the
// same two CPUs: a stall of a tenth of a second fills the ring buffer,
// which the agent counts (lost_by ring_full) but which leaves the records
// short (2 of 4 runs on this host on 2026-12-07). Such a run is run again,
// up to three runs, all logged; records missing without a counted loss, or
// a third run losing too, fail.
func TestTraceNginxWrk(t *testing.T) {
	requirePrivileged(t)
	wrk := requireCmd(t, "wrk")
	const runs = 3
	for attempt := 1; ; attempt++ {
		ringFull, ok := nginxWrkRun(t, wrk, attempt == runs)
		if ok || ringFull == 0 || attempt == runs {
			return
		}
		t.Logf("run %d lost %d events to a full ring buffer (counted by the agent): again", attempt, ringFull)
	}
}

// nginxWrkRun traces wrk against a new nginx and compares the counts; a
// mismatch fails the test when last is set or nothing was counted lost,
// else it is only logged for a retry.
func nginxWrkRun(t *testing.T, wrk string, last bool) (ringFull uint64, ok bool) {
	t.Helper()
	ng := startNginx(t, false)
	tr := startTrace(t, append(pidArgs(ng.worker), "--comm", "wrk", "--duration", "60s")...)
	out, err := exec.Command(wrk, "-t1", "-c4", "-d2s", "http://"+ng.addr+"/index.html").CombinedOutput()
	if err != nil {
		t.Fatalf("wrk: %v %s", err, out)
	}
	m := wrkRequests.FindSubmatch(out)
	if m == nil {
		t.Fatalf("wrk printed %s", out)
	}
	wrkCount, _ := strconv.Atoi(string(m[1]))
	recs := tr.stop(t)
	server := len(recs.byRole("server", ng.worker))
	client := len(recs.byRole("client", 0))
	logged := ng.accessCount(t)
	t.Logf("wrk %d, client-side %d, nginx logged %d, server-side %d; stats %+v", wrkCount, client, logged, server, recs.stats)
	for _, s := range recs.stats {
		ringFull += s.LostBy["ring_full"]
	}
	var errs []string
	if client != wrkCount {
		errs = append(errs, fmt.Sprintf("client-side records %d, wrk counted %d", client, wrkCount))
	}
	if server != logged {
		errs = append(errs, fmt.Sprintf("server-side records %d, nginx logged %d", server, logged))
	}
	if len(errs) == 0 {
		return ringFull, true
	}
	if last || ringFull == 0 {
		for _, e := range errs {
			t.Error(e)
		}
	} else {
		t.Logf("%s (with %d events counted lost)", strings.Join(errs, "; "), ringFull)
	}
	return ringFull, false
}
