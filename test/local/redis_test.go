//go:build linux

package local

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kubectl-pixie/kubectl-pixie/probes/api"
	"github.com/kubectl-pixie/kubectl-pixie/probes/api/vocab"
)

// freePort returns a TCP or UDP port on 127.0.0.1 nothing listens on now;
// "udp+tcp" (for dnsmasq, which binds both) a port free on both, taken
// below the kernel's ephemeral range (32768 up), so that no client
// connection of a test running meanwhile can take it before the server binds.
func freePort(t *testing.T, network string) int {
	t.Helper()
	if network == "udp+tcp" {
		for range 200 {
			port := 20000 + rand.IntN(12000)
			addr := fmt.Sprintf("127.0.0.1:%d", port)
			c, err := net.ListenPacket("udp", addr)
			if err != nil {
				continue
			}
			l, err := net.Listen("tcp", addr)
			c.Close()
			if err != nil {
				continue
			}
			l.Close()
			return port
		}
		t.Fatal("no port below 32768 free for both UDP and TCP on 127.0.0.1")
	}
	if network == "udp" {
		c, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return c.LocalAddr().(*net.UDPAddr).Port
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// syncBuffer collects a child's output while the test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startDaemon runs a real server in the foreground until the test ends;
// the buffer gets its output.
func startDaemon(t *testing.T, bin string, args ...string) (*exec.Cmd, *syncBuffer) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	errOut := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = errOut, errOut
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stopGently(cmd)
		if t.Failed() {
			t.Logf("%s output:\n%s", bin, errOut.String())
		}
	})
	return cmd, errOut
}

// tableLines decodes every record of table in a trace's NDJSON output.
func tableLines[T any](t *testing.T, out []byte, table string) []T {
	t.Helper()
	var recs []T
	prefix := []byte(`{"table":"` + table + `"`)
	for _, line := range bytes.Split(out, []byte("\n")) {
		if !bytes.HasPrefix(line, prefix) {
			continue
		}
		var r T
		if err := json.Unmarshal(line, &r); err != nil {
			t.Fatalf("bad %s record %s: %v", table, line, err)
		}
		recs = append(recs, r)
	}
	return recs
}

func summaries(t *testing.T, out []byte, protocol string) map[string]api.HTTPSummary {
	m := map[string]api.HTTPSummary{}
	for _, s := range tableLines[api.HTTPSummary](t, out, api.TableHTTPSummary) {
		if s.Protocol == protocol {
			k := s.ReqMethod + " " + s.ReqPath + " " + s.StatusClass
			prev := m[k]
			s.Count += prev.Count
			s.Errors += prev.Errors
			m[k] = s
		}
	}
	return m
}

// redisStats reads INFO commandstats and errorstats: calls per command
// (lower-case, as Redis names them) and errors per code.
func redisStats(t *testing.T, cli string, port int) (calls, errs map[string]int) {
	t.Helper()
	out, err := exec.Command(cli, "-p", strconv.Itoa(port), "INFO", "all").Output()
	if err != nil {
		t.Fatalf("redis-cli INFO: %v", err)
	}
	calls, errs = map[string]int{}, map[string]int{}
	cmdRe := regexp.MustCompile(`^cmdstat_([a-z|_-]+):calls=(\d+)`)
	errRe := regexp.MustCompile(`^errorstat_([A-Z]+):count=(\d+)`)
	for _, l := range strings.Split(string(out), "\n") {
		l = strings.TrimSpace(l)
		if m := cmdRe.FindStringSubmatch(l); m != nil {
			calls[m[1]], _ = strconv.Atoi(m[2])
		}
		if m := errRe.FindStringSubmatch(l); m != nil {
			errs[m[1]], _ = strconv.Atoi(m[2])
		}
	}
	return calls, errs
}

// pingLatencies sends n PINGs one at a time on one connection and returns
// the round trips the client measured, and its local port.
func pingLatencies(t *testing.T, addr string, n int) (clientTimes, uint16) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r := bufio.NewReader(c)
	ct := timeRequests(n, func(int) time.Duration {
		start := time.Now()
		if _, err := c.Write([]byte("*1\r\n$4\r\nPING\r\n")); err != nil {
			t.Fatal(err)
		}
		line, err := r.ReadString('\n')
		d := time.Since(start)
		if err != nil || line != "+PONG\r\n" {
			t.Fatalf("PING: %q %v", line, err)
		}
		return d
	})
	return ct, uint16(c.LocalAddr().(*net.TCPAddr).Port)
}

// subscribe runs a redis-cli subscriber and publishes three messages to
// it with other redis-cli runs: the messages are pushes, not replies.
func subscribe(t *testing.T, cli, port string) {
	t.Helper()
	sub := exec.Command(cli, "-p", port, "SUBSCRIBE", "news")
	out, err := sub.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := sub.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = sub.Process.Kill(); _ = sub.Wait() }()
	lines := make(chan string, 64)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	waitLine := func(want string) {
		t.Helper()
		timeout := time.After(10 * time.Second)
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					t.Fatalf("subscriber ended before %q", want)
				}
				if l == want {
					return
				}
			case <-timeout:
				t.Fatalf("subscriber did not print %q", want)
			}
		}
	}
	waitLine("subscribe")
	for i := range 3 {
		msg := fmt.Sprint("m", i)
		if out, err := exec.Command(cli, "-p", port, "PUBLISH", "news", msg).CombinedOutput(); err != nil || strings.TrimSpace(string(out)) != "1" {
			t.Fatalf("PUBLISH: %v %s", err, out)
		}
		waitLine(msg)
	}
}

// TestTraceRedis: a real redis-server driven by redis-benchmark (plain
// and pipelined), redis-cli (errors of two kinds, pub/sub) and a Go client
// timing its PINGs. Traced by command name: the per-command counts and error
// counts must equal what Redis itself counted (INFO commandstats and
// errorstats), and server-side latencies must stay within the client's.
func TestTraceRedis(t *testing.T) {
	requirePrivileged(t)
	server := requireCmd(t, "redis-server")
	cli := requireCmd(t, "redis-cli")
	bench := requireCmd(t, "redis-benchmark")
	port := freePort(t, "tcp")
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	startDaemon(t, server, "--save", "", "--appendonly", "no", "--port", strconv.Itoa(port), "--bind", "127.0.0.1",
		"--dir", t.TempDir(), "--daemonize", "no", "--protected-mode", "no")
	waitTCP(t, addr)

	tr := startTrace(t, "--comm", "redis-server", "--duration", "90s", "--data-access", "restricted")
	p := strconv.Itoa(port)
	run := func(bin string, args ...string) {
		t.Helper()
		if out, err := exec.Command(bin, append([]string{"-p", p}, args...)...).CombinedOutput(); err != nil {
			t.Fatalf("%s %v: %v\n%s", bin, args, err, out)
		}
	}
	run(bench, "-t", "set", "-n", "300", "-c", "2", "-q")
	run(bench, "-t", "get", "-n", "400", "-c", "2", "-P", "16", "-q") // pipelined
	run(cli, "RPUSH", "list", "a", "b")
	for range 3 {
		run(cli, "NOSUCHCMD", "x") // -ERR unknown command (redis-cli exits 0)
	}
	run(cli, "GET", "list") // -WRONGTYPE
	run(cli, "AUTH", "hunter2")
	subscribe(t, cli, p)
	pingLatencies(t, addr, 200)
	recs := tr.stop(t)
	calls, errs := redisStats(t, cli, port)
	t.Logf("redis counted calls %v errors %v", calls, errs)

	events := tableLines[api.RedisEvent](t, tr.out.Bytes(), api.TableRedisEvents)
	byCmd := map[string]int{}
	errByCode := map[string]int{}
	for _, e := range events {
		if e.TraceRole != vocab.RoleServer || e.LocalPort != uint16(port) || e.RemoteAddr != "127.0.0.1" || e.Comm != "redis-server" {
			t.Fatalf("record with wrong connection columns: %+v", e.ConnColumns)
		}
		if e.Latency <= 0 || e.Latency > int64(time.Second) {
			t.Errorf("%s latency %v", e.ReqCmd, time.Duration(e.Latency))
		}
		byCmd[e.ReqCmd]++
		if e.RespError != "" {
			errByCode[e.RespError]++
		}
		if strings.Contains(e.ReqArgs, "hunter2") {
			t.Errorf("AUTH password in %s", e.ReqArgs)
		}
		if e.ReqCmd == "SET" && !strings.Contains(e.ReqArgs, `"<redacted 3 bytes>"`) {
			t.Errorf("SET value not redacted: %s", e.ReqArgs)
		}
		if e.ReqCmd == "PUBLISH" && e.Resp != "1" || e.ReqCmd == "SUBSCRIBE" && e.Resp != "[<redacted 9 bytes>, <redacted 4 bytes>, 1]" {
			t.Errorf("%s reply %q", e.ReqCmd, e.Resp)
		}
	}
	t.Logf("traced %d commands: %v, errors %v (tables %v)", len(events), byCmd, errByCode, recs.tables)
	for cmd, want := range map[string]int{"RPUSH": 1, "NOSUCHCMD": 3, "AUTH": 1, "SUBSCRIBE": 1, "PUBLISH": 3} {
		if byCmd[cmd] != want {
			t.Errorf("traced %d %s, want %d", byCmd[cmd], cmd, want)
		}
	}
	if calls["set"] < 300 || calls["get"] < 401 {
		t.Errorf("redis counted set=%d get=%d: the test's load is not what it meant", calls["set"], calls["get"])
	}
	// Every command Redis counted was traced, no more (the INFO that
	// read the counts came after the trace and counts only after it ran).
	for name, n := range calls {
		want := n
		if got := byCmd[strings.ToUpper(strings.ReplaceAll(name, "|", " "))]; got != want {
			t.Errorf("traced %d %s, redis counted %d", got, name, want)
		}
	}
	for code, n := range errs {
		if errByCode[code] != n {
			t.Errorf("traced %d %s errors, redis counted %d", errByCode[code], code, n)
		}
	}
	if errByCode["ERR"] != 4 || errByCode["WRONGTYPE"] != 1 { // 3 unknown commands, AUTH without a password set
		t.Errorf("traced errors %v, want ERR:4 WRONGTYPE:1", errByCode)
	}

	// The Go client's PINGs again, traced on both sides this time.
	var clientLat clientTimes
	var pingPort uint16
	out := selfTrace(t, func() { clientLat, pingPort = pingLatencies(t, addr, 200) }, "--comm", "redis-server")
	cl, sv := connLatencies(t, out, api.TableRedisEvents, pingPort, func(e *api.RedisEvent) bool { return e.ReqCmd == "PING" })
	checkLatency(t, latencyCase{name: "redis PING", client: clientLat, tracedClient: cl, tracedServer: sv})

	// The aggregated rows (http_summary with protocol redis) agree.
	sum := summaries(t, tr.out.Bytes(), vocab.ProtocolRedis)
	if s := sum["SET  OK"]; s.Count != uint64(calls["set"]) || s.Errors != 0 || s.LatencyP50 <= 0 || s.LatencyP99 < s.LatencyP50 {
		t.Errorf("SET summary %+v", s)
	}
	if s := sum["NOSUCHCMD  ERR"]; s.Count != 3 || s.Errors != 3 {
		t.Errorf("NOSUCHCMD summary %+v", s)
	}
	if s := sum["GET  WRONGTYPE"]; s.Count != 1 || s.Errors != 1 {
		t.Errorf("GET WRONGTYPE summary %+v (all: %v)", s, sum)
	}
	for _, s := range recs.stats {
		if s.Final && (s.LostBy["parse_errors"] != 0 || s.LostBy["unmatched_responses"] != 0) {
			t.Errorf("final probe_stats lost %v", s.LostBy)
		}
	}
}
