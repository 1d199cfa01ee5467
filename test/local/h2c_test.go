//go:build linux

package local

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kubectl-pixie/kubectl-pixie/probes/api"
	"github.com/kubectl-pixie/kubectl-pixie/probes/api/vocab"
)

// TestTraceH2CUpgrade: curl --http2 on http:// URLs asks to upgrade with
// its first request (Upgrade: h2c), Go's server (x/net's h2c handler)
// answers 101 and then that request on HTTP/2 stream 1, and curl's next
// URLs go as streams on the same connection. Both sides traced: per
// method, path and status, the records equal what the server served and
// what curl reported; each connection's upgrading request is one HTTP/2
// record per side, no 101 record, nothing unparsed; its latency is
// bounded by curl's own time for it, server-side by client-side.
func TestTraceH2CUpgrade(t *testing.T) {
	requirePrivileged(t)
	curl := requireCmd(t, "curl")
	srvBin := filepath.Join(t.TempDir(), "h2csrv")
	if b, err := exec.Command("go", "build", "-o", srvBin, "./testdata/http2/h2cpeer").CombinedOutput(); err != nil {
		t.Fatalf("building the h2c server: %v\n%s", err, b)
	}
	srv := startProc(t, exec.Command(srvBin, "127.0.0.1:0"))
	addr := srv.line(t)
	tr := startTrace(t, "--comm", "h2csrv", "--comm", "curl", "--duration", "90s")
	base := "http://" + addr
	// Each invocation is one connection: the first URL upgrades it.
	plans := [][]string{
		{"/ok", "/missing", "/big", "/ok"},
		{"/missing", "/ok"},
		{"/big"},
		{"/ok", "/ok", "/ok", "/missing", "/big"},
		{"/echo"},
	}
	reported := map[string]int{}
	// curl's time for each connection's upgrading request, by its port.
	firstTimes := map[uint16]time.Duration{}
	for _, plan := range plans {
		args := []string{"-s", "--http2", "-w", "%{http_code} %{http_version} %{time_total} %{local_port}\\n"}
		method := "GET"
		if plan[0] == "/echo" {
			args, method = append(args, "--data-binary", "hello h2c"), "POST"
		}
		for _, p := range plan {
			args = append(args, "-o", os.DevNull, base+p)
		}
		out, err := exec.Command(curl, args...).Output()
		if err != nil {
			t.Fatalf("curl %v: %v\n%s", args, err, out)
		}
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		if len(lines) != len(plan) {
			t.Fatalf("curl %v printed %q", args, out)
		}
		for i, l := range lines {
			f := strings.Fields(l)
			if len(f) != 4 || f[1] != "2" {
				t.Fatalf("curl transfer %s: %q, want HTTP/2", plan[i], l)
			}
			reported[fmt.Sprintf("%s %s %s", method, plan[i], f[0])]++
			if i == 0 {
				s, _ := strconv.ParseFloat(f[2], 64)
				port, _ := strconv.Atoi(f[3])
				firstTimes[uint16(port)] = time.Duration(s * float64(time.Second))
			}
		}
	}
	recs := tr.stop(t)
	srv.stdin.Close()
	var served map[string]int
	if err := json.Unmarshal([]byte(srv.line(t)), &served); err != nil {
		t.Fatal(err)
	}
	if served["upgraded"] != len(plans) {
		t.Fatalf("the server upgraded %d requests, want %d (one per connection): %v", served["upgraded"], len(plans), served)
	}
	delete(served, "upgraded")
	if !maps.Equal(served, reported) {
		t.Fatalf("the server served %v, curl reported %v", served, reported)
	}
	checkH2C(t, recs, addr, reported, firstTimes)
}

// checkH2C compares both sides' records with want and checks each
// connection's upgrading request (its record keeps the HTTP/1.1 headers).
func checkH2C(t *testing.T, recs records, addr string, want map[string]int, firstTimes map[uint16]time.Duration) {
	t.Helper()
	port, _ := strconv.Atoi(addr[strings.LastIndexByte(addr, ':')+1:])
	server, client := map[string]int{}, map[string]int{}
	upgraded := map[string]map[uint16]api.HTTPEvent{vocab.RoleServer: {}, vocab.RoleClient: {}}
	for _, e := range recs.events {
		var clientPort uint16
		switch {
		case e.Comm == "h2csrv" && e.TraceRole == vocab.RoleServer:
			server[h2Key(e.ReqMethod, e.ReqPath, e.RespStatus)]++
			clientPort = e.RemotePort
		case e.Comm == "curl" && e.TraceRole == vocab.RoleClient && int(e.RemotePort) == port:
			client[h2Key(e.ReqMethod, e.ReqPath, e.RespStatus)]++
			clientPort = e.LocalPort
		case e.Comm == "curl":
			continue // another test's curl
		default:
			t.Fatalf("record from %s as %s: %s %s %d", e.Comm, e.TraceRole, e.ReqMethod, e.ReqPath, e.RespStatus)
		}
		if e.MajorVersion != 2 || e.Latency <= 0 {
			t.Errorf("record %s %s %d: HTTP/%d, latency %d", e.ReqMethod, e.ReqPath, e.RespStatus, e.MajorVersion, e.Latency)
		}
		if e.ReqHeaders["upgrade"] == "h2c" {
			upgraded[e.TraceRole][clientPort] = e
		}
		if e.ReqPath == "/echo" && (e.ReqBody != "hello h2c" || e.RespBody != "hello h2c") {
			t.Errorf("/echo bodies %q %q", e.ReqBody, e.RespBody)
		}
		if e.ReqPath == "/big" && e.RespBodySize != 3000 {
			t.Errorf("/big body size %d", e.RespBodySize)
		}
	}
	t.Logf("server %v client %v", server, client)
	if !maps.Equal(server, want) || !maps.Equal(client, want) {
		t.Errorf("traced server-side %v, client-side %v; curl and the server saw %v", server, client, want)
	}
	final := recs.stats[len(recs.stats)-1]
	if n := final.LostBy["parse_errors"] + final.LostBy["unmatched_requests"] + final.LostBy["unmatched_responses"]; n != 0 {
		t.Errorf("probe_stats lost_by %v", final.LostBy)
	}
	checkUpgradeLatency(t, upgraded, firstTimes)
}

// checkUpgradeLatency: one upgrading request per connection and side;
// client-side it lasts no longer than curl's own time for it (which also
// holds the connect), server-side no longer than client-side.
func checkUpgradeLatency(t *testing.T, upgraded map[string]map[uint16]api.HTTPEvent, firstTimes map[uint16]time.Duration) {
	t.Helper()
	cl, sv := upgraded[vocab.RoleClient], upgraded[vocab.RoleServer]
	if len(cl) != len(firstTimes) || len(sv) != len(firstTimes) {
		t.Fatalf("upgrading requests traced: %d client-side, %d server-side; want %d each", len(cl), len(sv), len(firstTimes))
	}
	for port, curlTime := range firstTimes {
		c, s := cl[port], sv[port]
		// curl prints its times in µs.
		if c.Latency <= 0 || s.Latency <= 0 || time.Duration(c.Latency) > curlTime+time.Microsecond || s.Latency > c.Latency {
			t.Errorf("connection from port %d: upgrading request %v client-side, %v server-side; curl timed it %v",
				port, time.Duration(c.Latency), time.Duration(s.Latency), curlTime)
		}
	}
}
