//go:build linux

package local

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kubectl-pixie/kubectl-pixie/plugin/mapview"
	"github.com/kubectl-pixie/kubectl-pixie/probes/api"
)

// TestMapLocal: this process (a Go client) calls nginx and a Go server,
// both traced (its children), and Redis, which is not (it daemonized:
// no longer a child). `map --local -o json` must have exactly three edges
// with the requests the client made: the HTTP ones counted once, from the
// servers' side (their caller named as this process), the Redis one from
// the client's side, its responder named from the port it listens on.
func TestMapLocal(t *testing.T) {
	requirePrivileged(t)
	ng := startNginx(t, false, "location /fail { return 500; }")
	redisBin := requireCmd(t, "redis-server")
	rport := freePort(t, "tcp")
	raddr := fmt.Sprintf("127.0.0.1:%d", rport)
	redisPID := startDetachedRedis(t, redisBin, rport)
	waitTCP(t, raddr)
	plain, paddr := startServer(t, "127.0.0.1:0")

	// --pid traces this process's children too: nginx and the Go server.
	self := uint32(os.Getpid())
	m := startMap(t, append(pidArgs(self), "-o", "json", "--duration", "90s")...)
	client := &http.Client{Transport: &http.Transport{}}
	get := func(url string) {
		t.Helper()
		resp, err := client.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	for range 20 {
		get("http://" + ng.addr + "/index.html")
	}
	for range 4 {
		get("http://" + ng.addr + "/fail")
	}
	for range 6 {
		get("http://" + paddr + "/")
	}
	c, err := net.Dial("tcp", raddr)
	if err != nil {
		t.Fatal(err)
	}
	rd := bufio.NewReader(c)
	for range 10 {
		fmt.Fprint(c, "*1\r\n$4\r\nPING\r\n")
		if _, err := rd.ReadString('\n'); err != nil {
			t.Fatal(err)
		}
	}
	c.Close()
	client.CloseIdleConnections()
	edges := m.stop(t)

	me := api.ProcessName("local.test", self)
	type want struct {
		requests, errors uint64
	}
	wants := map[[3]string]want{
		{me, api.ProcessName("nginx", ng.worker), "http"}:        {24, 4},
		{me, api.ProcessName("redis-server", redisPID), "redis"}: {10, 0},
		{me, api.ProcessName("local.test", plain.pid()), "http"}: {6, 0},
	}
	got := map[[3]string]mapview.Record{}
	for _, e := range edges {
		got[[3]string{e.RequestorService, e.ResponderService, e.Protocol}] = e
	}
	for k, w := range wants {
		e, ok := got[k]
		if !ok {
			t.Errorf("no edge %v; edges: %+v", k, edges)
			continue
		}
		if e.Requests != w.requests || e.Errors != w.errors {
			t.Errorf("edge %v: %d requests, %d errors; want %d, %d", k, e.Requests, e.Errors, w.requests, w.errors)
		}
		if e.BytesRecv == 0 || e.LatencyP99 <= 0 || e.RequestThroughput <= 0 { // GETs send no body
			t.Errorf("edge %v: bytes, latency or throughput missing: %+v", k, e)
		}
	}
	if len(edges) != len(wants) {
		t.Errorf("%d edges, want %d: %+v", len(edges), len(wants), edges)
	}
}

// mapRun is a running `kubectl pixie map --local`.
type mapRun struct {
	cmd         *exec.Cmd
	out, errOut syncBuffer
}

// startMap runs the map and waits until its probes are attached (the
// agent's data access note on stderr follows the attach).
func startMap(t *testing.T, args ...string) *mapRun {
	t.Helper()
	m := &mapRun{}
	m.cmd = exec.Command(pluginBin, append([]string{"map", "--local"}, args...)...)
	m.cmd.Stdout, m.cmd.Stderr = &m.out, &m.errOut
	if err := m.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.cmd.Process.Kill() })
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(m.errOut.String(), "data access:") {
		if time.Now().After(deadline) {
			t.Fatalf("map's probes not attached after 30s:\n%s", m.errOut.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	return m
}

// stop ends the map like Ctrl-C and returns its service_map records.
func (m *mapRun) stop(t *testing.T) []mapview.Record {
	t.Helper()
	time.Sleep(300 * time.Millisecond) // let the last events cross the ring buffer
	_ = m.cmd.Process.Signal(syscall.SIGINT)
	if err := m.cmd.Wait(); err != nil {
		t.Fatalf("map failed: %v\nstderr:\n%s", err, m.errOut.String())
	}
	var recs []mapview.Record
	for _, line := range bytes.Split([]byte(m.out.String()), []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		var r mapview.Record
		if err := json.Unmarshal(line, &r); err != nil || r.Table != mapview.TableServiceMap {
			t.Fatalf("bad map line %q: %v", line, err)
		}
		recs = append(recs, r)
	}
	return recs
}

// startDetachedRedis runs Redis daemonized (it forks away: not a child of
// this process) and returns its PID.
func startDetachedRedis(t *testing.T, bin string, port int) uint32 {
	t.Helper()
	dir := t.TempDir()
	pidFile := dir + "/redis.pid"
	out, err := exec.Command(bin, "--save", "", "--appendonly", "no", "--port", strconv.Itoa(port), "--bind", "127.0.0.1",
		"--dir", dir, "--daemonize", "yes", "--pidfile", pidFile, "--protected-mode", "no").CombinedOutput()
	if err != nil {
		t.Fatalf("redis-server: %v\n%s", err, out)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, err := os.ReadFile(pidFile)
		if pid, perr := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && perr == nil && pid > 0 {
			t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGKILL) })
			return uint32(pid)
		}
		if time.Now().After(deadline) {
			t.Fatalf("redis wrote no pid file %s", pidFile)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
