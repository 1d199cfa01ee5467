package local

import (
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"

	"github.com/kubectl-pixie/kubectl-pixie/probes/api"
)

// TestDNSNamedPeer: a traced client resolves shop.pixie.test through
// dnsmasq (a loopback address where a server listens) and calls it; its
// rows and records name that server shop.pixie.test. Another client
// calling a second server by its address, which no traced answer gave,
// gets no DNS name.
func TestDNSNamedPeer(t *testing.T) {
	requirePrivileged(t)
	dnsmasq := requireCmd(t, "dnsmasq")
	const shopIP, otherIP = "127.0.0.77", "127.0.0.78"
	port := freePort(t, "udp+tcp")
	resolver := fmt.Sprintf("127.0.0.1:%d", port)
	_, log := startDaemon(t, dnsmasq, "--no-daemon", "--no-resolv", "--no-hosts", "--conf-file=/dev/null", "--pid-file=",
		"--user=root", "--bind-interfaces", "--listen-address=127.0.0.1", "--port", strconv.Itoa(port),
		"--address=/shop.pixie.test/"+shopIP, "--log-queries", "--log-facility=-")
	c, err := net.Dial("udp", resolver)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if rc, _ := dnsQuery(t, c, 1, "ready.shop.pixie.test."); rc == dnsmessage.RCodeSuccess {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("dnsmasq does not answer on %s:\n%s", resolver, log.String())
		}
	}
	_, shopAddr := startServer(t, shopIP+":0")
	_, otherAddr := startServer(t, otherIP+":0")
	_, shopPort, _ := net.SplitHostPort(shopAddr)

	const nShop, nOther = 5, 3
	shop := startRole(t, "client", planArg(clientPlan{URLs: slices.Repeat(urls("shop.pixie.test:"+shopPort, "/dns"), nShop), Resolver: resolver, Wait: true}))
	other := startRole(t, "client", planArg(clientPlan{URLs: slices.Repeat(urls(otherAddr, "/ip"), nOther), Wait: true}))
	for _, cli := range []*proc{shop, other} {
		if cli.line(t) != "ready" {
			t.Fatal("client not ready")
		}
	}
	tr := startTrace(t, append(pidArgs(shop.pid(), other.pid()), "--duration", "60s")...)
	for _, cli := range []*proc{shop, other} {
		fmt.Fprintln(cli.stdin)
		parseClient(t, cli.line(t))
	}
	recs := tr.stop(t)

	named := map[string]int{} // path -> records named shop.pixie.test
	for _, e := range recs.events {
		if e.TraceRole == "client" && e.RemoteDNS == "shop.pixie.test" {
			named[e.ReqPath]++
		}
	}
	if named["/dns"] != nShop || named["/ip"] != 0 {
		t.Errorf("client records named shop.pixie.test by path %v, want /dns %d and /ip 0 (tables %v)", named, nShop, recs.tables)
	}
	peers := map[string]uint64{}
	for _, s := range tableLines[api.HTTPSummary](t, tr.out.Bytes(), api.TableHTTPSummary) {
		if s.TraceRole == "client" {
			peers[s.ReqPath+" -> "+s.Peer] += s.Count
		}
	}
	if peers["/dns -> shop.pixie.test"] != nShop {
		t.Errorf("client summaries %v, want /dns -> shop.pixie.test %d", peers, nShop)
	}
	byIP := uint64(0)
	for k, n := range peers {
		if strings.HasPrefix(k, "/ip -> ") {
			byIP += n
			if strings.Contains(k, "shop.pixie.test") {
				t.Errorf("summary %q named by DNS", k)
			}
		}
	}
	if byIP != nOther {
		t.Errorf("client summaries %v, want %d requests to /ip", peers, nOther)
	}
}
