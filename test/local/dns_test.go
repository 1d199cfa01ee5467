//go:build linux

package local

import (
	"fmt"
	"net"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"

	"github.com/kubectl-pixie/kubectl-pixie/probes/api"
	"github.com/kubectl-pixie/kubectl-pixie/probes/api/vocab"
)

// dnsQuery sends one A query over conn and waits for its response; it
// returns the response's RCODE and the round trip.
func dnsQuery(t *testing.T, c net.Conn, id uint16, name string) (dnsmessage.RCode, time.Duration) {
	t.Helper()
	b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: id, RecursionDesired: true})
	_ = b.StartQuestions()
	_ = b.Question(dnsmessage.Question{Name: dnsmessage.MustNewName(name), Type: dnsmessage.TypeA, Class: dnsmessage.ClassINET})
	msg, err := b.Finish()
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if _, err := c.Write(msg); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1500)
	_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
	n, err := c.Read(buf)
	rtt := time.Since(start)
	if err != nil {
		return 0xff, rtt
	}
	var p dnsmessage.Parser
	h, err := p.Start(buf[:n])
	if err != nil || h.ID != id {
		t.Fatalf("bad response to %d: %+v %v", id, h, err)
	}
	return h.RCode, rtt
}

// goQueries sends n A queries for go.example.test one at a time, with
// IDs from id0, and returns the round trips the client measured.
func goQueries(t *testing.T, c net.Conn, id0, n int) clientTimes {
	t.Helper()
	return timeRequests(n, func(i int) time.Duration {
		rc, rtt := dnsQuery(t, c, uint16(id0+i), "go.example.test.")
		if rc != dnsmessage.RCodeSuccess {
			t.Fatalf("query %d: rcode %v", i, rc)
		}
		return rtt
	})
}

// TestTraceDNS: a real dnsmasq answering example.test (10.1.2.3) and
// NXDOMAIN for nx.test, queried by dig and by a Go client that times its
// queries. Both dnsmasq (server side) and dig (client side) are traced;
// per-name and per-rcode counts must match what was sent and what
// dnsmasq logged, and server-side latencies stay within the client's.
func TestTraceDNS(t *testing.T) {
	requirePrivileged(t)
	dnsmasq := requireCmd(t, "dnsmasq")
	dig := requireCmd(t, "dig")
	port := freePort(t, "udp+tcp")
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	_, log := startDaemon(t, dnsmasq, "--no-daemon", "--no-resolv", "--no-hosts", "--conf-file=/dev/null", "--pid-file=",
		"--user=root", "--bind-interfaces", "--listen-address=127.0.0.1", "--port", strconv.Itoa(port),
		"--address=/example.test/10.1.2.3", "--address=/nx.test/", "--log-queries", "--log-facility=-")
	c, err := net.Dial("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if rc, _ := dnsQuery(t, c, 1, "ready.example.test."); rc == dnsmessage.RCodeSuccess {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("dnsmasq does not answer on %s:\n%s", addr, log.String())
		}
		time.Sleep(100 * time.Millisecond)
	}

	tr := startTrace(t, "--comm", "dnsmasq", "--comm", "dig", "--duration", "90s")
	const nOK, nNX, nGo = 12, 4, 60
	digArgs := []string{"-p", strconv.Itoa(port), "@127.0.0.1", "+tries=1", "+time=2"}
	for range nOK / 4 { // four queries per dig run
		args := append([]string{}, digArgs...)
		for range 4 {
			args = append(args, "example.test", "A")
		}
		if out, err := exec.Command(dig, args...).CombinedOutput(); err != nil || strings.Count(string(out), "10.1.2.3") != 4 {
			t.Fatalf("dig: %v\n%s", err, out)
		}
	}
	for i := range nNX {
		out, err := exec.Command(dig, append(digArgs, fmt.Sprintf("host%d.nx.test", i), "A")...).CombinedOutput()
		if err != nil || !strings.Contains(string(out), "status: NXDOMAIN") {
			t.Fatalf("dig: %v\n%s", err, out)
		}
	}
	goQueries(t, c, 100, nGo)
	recs := tr.stop(t)

	events := tableLines[api.DNSEvent](t, tr.out.Bytes(), api.TableDNSEvents)
	type k struct{ role, name, rcode string }
	counts := map[k]int{}
	for _, e := range events {
		counts[k{e.TraceRole, e.QueryName, e.RCodeName}]++
		if e.QueryType != "A" || e.Latency <= 0 || e.Latency > int64(time.Second) {
			t.Errorf("record %+v", e)
		}
		if e.TraceRole == vocab.RoleServer {
			if e.LocalPort != uint16(port) || e.RemoteAddr != "127.0.0.1" || e.RemotePort == 0 {
				t.Errorf("server record columns %+v", e.ConnColumns)
			}
		} else if e.RemotePort != uint16(port) {
			t.Errorf("client record columns %+v", e.ConnColumns)
		}
		if e.QueryName == "example.test" && !strings.Contains(e.RespBody, `"addr":"10.1.2.3"`) {
			t.Errorf("resp_body %s", e.RespBody)
		}
		if !strings.Contains(e.ReqHeader, `"txid"`) || !strings.Contains(e.ReqBody, `"queries"`) {
			t.Errorf("req columns %s %s", e.ReqHeader, e.ReqBody)
		}
	}
	t.Logf("traced %d DNS records: %v (tables %v)", len(events), counts, recs.tables)
	nx := 0
	for key, n := range counts {
		if strings.HasSuffix(key.name, ".nx.test") && key.rcode == "NXDOMAIN" {
			nx += n
		}
	}
	want := map[k]int{
		{"server", "example.test", "NOERROR"}:    nOK,
		{"client", "example.test", "NOERROR"}:    nOK,
		{"server", "go.example.test", "NOERROR"}: nGo,
	}
	for key, n := range want {
		if counts[key] != n {
			t.Errorf("traced %d %v, want %d", counts[key], key, n)
		}
	}
	if nx != 2*nNX {
		t.Errorf("traced %d NXDOMAIN records, want %d (client and server side)", nx, 2*nNX)
	}
	if len(events) != 2*nOK+2*nNX+nGo {
		t.Errorf("traced %d records, want %d", len(events), 2*nOK+2*nNX+nGo)
	}
	// dnsmasq's own log agrees on what it answered while traced.
	logged := len(regexp.MustCompile(`query\[A\] (example\.test|go\.example\.test|host\d\.nx\.test) from 127\.0\.0\.1`).FindAllString(log.String(), -1))
	if logged != nOK+nNX+nGo {
		t.Errorf("dnsmasq logged %d queries, want %d", logged, nOK+nNX+nGo)
	}

	// The Go client's queries again, traced on both sides this time.
	var clientLat clientTimes
	out := selfTrace(t, func() { clientLat = goQueries(t, c, 1000, 200) }, "--comm", "dnsmasq")
	goPort := uint16(c.LocalAddr().(*net.UDPAddr).Port)
	cl, sv := connLatencies(t, out, api.TableDNSEvents, goPort, func(e *api.DNSEvent) bool { return e.QueryName == "go.example.test" })
	checkLatency(t, latencyCase{name: "DNS A", client: clientLat, tracedClient: cl, tracedServer: sv})

	// The aggregated rows: errors are the NXDOMAIN ones.
	var sumCount, sumErr uint64
	for _, s := range summaries(t, tr.out.Bytes(), vocab.ProtocolDNS) {
		sumCount += s.Count
		sumErr += s.Errors
		if s.ReqMethod != "A" {
			t.Errorf("summary %+v", s)
		}
	}
	if sumCount != uint64(len(events)) || sumErr != 2*nNX {
		t.Errorf("dns summaries: %d requests, %d errors; want %d, %d", sumCount, sumErr, len(events), 2*nNX)
	}
}
