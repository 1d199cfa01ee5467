//go:build linux

package local

import (
	"fmt"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kubectl-pixie/kubectl-pixie/probes/api"
	"github.com/kubectl-pixie/kubectl-pixie/probes/api/vocab"
)

// TestTraceDNSOverTCP: dnsmasq answering over TCP, queried by `dig +tcp
// +keepopen`, which sends all its queries on one connection, each after
// its 2-byte length. Both sides traced; per role, name and rcode the
// records equal what dig asked and what dnsmasq logged.
func TestTraceDNSOverTCP(t *testing.T) {
	requirePrivileged(t)
	dnsmasq := requireCmd(t, "dnsmasq")
	dig := requireCmd(t, "dig")
	port := freePort(t, "udp+tcp")
	_, log := startDaemon(t, dnsmasq, "--no-daemon", "--no-resolv", "--no-hosts", "--conf-file=/dev/null", "--pid-file=",
		"--user=root", "--bind-interfaces", "--listen-address=127.0.0.1", "--port", strconv.Itoa(port),
		"--address=/example.test/10.1.2.3", "--address=/nx.test/", "--log-queries", "--log-facility=-")
	waitTCP(t, fmt.Sprintf("127.0.0.1:%d", port))

	tr := startTrace(t, "--comm", "dnsmasq", "--comm", "dig", "--duration", "90s")
	const runs, okPer, nxPer = 3, 4, 2
	for r := range runs {
		args := []string{"-p", strconv.Itoa(port), "@127.0.0.1", "+tcp", "+keepopen", "+tries=1", "+time=5"}
		for range okPer {
			args = append(args, "example.test", "A")
		}
		for i := range nxPer {
			args = append(args, fmt.Sprintf("h%d-%d.nx.test", r, i), "A")
		}
		out, err := exec.Command(dig, args...).CombinedOutput()
		if err != nil || strings.Count(string(out), "10.1.2.3") != okPer || strings.Count(string(out), "status: NXDOMAIN") != nxPer {
			t.Fatalf("dig: %v\n%s", err, out)
		}
	}
	recs := tr.stop(t)

	events := tableLines[api.DNSEvent](t, tr.out.Bytes(), api.TableDNSEvents)
	type k struct{ role, name, rcode string }
	counts := map[k]int{}
	for _, e := range events {
		name := e.QueryName
		if strings.HasSuffix(name, ".nx.test") {
			name = "*.nx.test"
		}
		counts[k{e.TraceRole, name, e.RCodeName}]++
		if e.QueryType != "A" || e.Latency <= 0 || e.Latency > int64(5*time.Second) {
			t.Errorf("record %+v", e)
		}
		if e.TraceRole == vocab.RoleServer && e.LocalPort != uint16(port) || e.TraceRole == vocab.RoleClient && e.RemotePort != uint16(port) {
			t.Errorf("record columns %+v", e.ConnColumns)
		}
	}
	t.Logf("traced %d DNS records: %v (tables %v, lost_by %v)", len(events), counts, recs.tables, recs.stats[len(recs.stats)-1].LostBy)
	want := map[k]int{
		{"server", "example.test", "NOERROR"}: runs * okPer, {"client", "example.test", "NOERROR"}: runs * okPer,
		{"server", "*.nx.test", "NXDOMAIN"}: runs * nxPer, {"client", "*.nx.test", "NXDOMAIN"}: runs * nxPer,
	}
	for key, n := range want {
		if counts[key] != n {
			t.Errorf("traced %d %v, want %d", counts[key], key, n)
		}
	}
	if len(events) != 2*runs*(okPer+nxPer) {
		t.Errorf("traced %d records, want %d", len(events), 2*runs*(okPer+nxPer))
	}
	logged := len(regexp.MustCompile(`query\[A\] (example\.test|h\d-\d\.nx\.test) from 127\.0\.0\.1`).FindAllString(log.String(), -1))
	if logged != runs*(okPer+nxPer) {
		t.Errorf("dnsmasq logged %d queries, want %d", logged, runs*(okPer+nxPer))
	}
}
