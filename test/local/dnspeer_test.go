package local

import (
	"fmt"
	"net"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"

	"github.com/kubectl-pixie/kubectl-pixie/probes/api"
)

// The name dnsmasq resolves in these tests, and the loopback addresses of
// its server and of a server called by address.
const (
	shopName          = "shop.pixie.test"
	shopIP, otherIP   = "127.0.0.77", "127.0.0.78"
	dnsReadinessProbe = "ready." + shopName
)

// dnsmasq is a running dnsmasq that resolves shopName to shopIP.
type dnsmasq struct {
	cmd      *exec.Cmd
	log      *syncBuffer // --log-queries: one line per query
	resolver string      // ip:port
}

// startDNSMasq starts dnsmasq on a free loopback port and waits until it
// answers.
func startDNSMasq(t *testing.T) *dnsmasq {
	t.Helper()
	bin := requireCmd(t, "dnsmasq")
	port := freePort(t, "udp+tcp")
	d := &dnsmasq{resolver: fmt.Sprintf("127.0.0.1:%d", port)}
	d.cmd, d.log = startDaemon(t, bin, "--no-daemon", "--no-resolv", "--no-hosts", "--conf-file=/dev/null", "--pid-file=",
		"--user=root", "--bind-interfaces", "--listen-address=127.0.0.1", "--port", strconv.Itoa(port),
		"--address=/"+shopName+"/"+shopIP, "--log-queries", "--log-facility=-")
	c, err := net.Dial("udp", d.resolver)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if rc, _ := dnsQuery(t, c, 1, dnsReadinessProbe+"."); rc == dnsmessage.RCodeSuccess {
			return d
		}
		if time.Now().After(deadline) {
			t.Fatalf("dnsmasq does not answer on %s:\n%s", d.resolver, d.log.String())
		}
	}
}

// shopQueries counts the queries for shopName dnsmasq logged (its
// readiness probe's name aside): the queries the clients made.
func (d *dnsmasq) shopQueries() int {
	n := 0
	for l := range strings.Lines(d.log.String()) {
		if strings.Contains(l, "query[") && strings.Contains(l, " "+shopName+" from ") {
			n++
		}
	}
	return n
}

// TestDNSNamedPeer: a traced client resolves shop.pixie.test through
// dnsmasq (a loopback address where a server listens) and calls it; its
// rows, records and conn_stats name that server shop.pixie.test, and a
// map of the same traffic has an edge to a node of that name. Another
// client calling a second server by its address, which no traced answer
// gave, gets no DNS name: in the map that server is its listening
// process.
func TestDNSNamedPeer(t *testing.T) {
	requirePrivileged(t)
	dns := startDNSMasq(t)
	shopSrv, shopAddr := startServer(t, shopIP+":0")
	otherSrv, otherAddr := startServer(t, otherIP+":0")
	_, shopPort, _ := net.SplitHostPort(shopAddr)

	const nShop, nOther = 5, 3
	shop := startRole(t, "client", planArg(clientPlan{URLs: slices.Repeat(urls(shopName+":"+shopPort, "/dns"), nShop), Resolver: dns.resolver, Wait: true}))
	other := startRole(t, "client", planArg(clientPlan{URLs: slices.Repeat(urls(otherAddr, "/ip"), nOther), Wait: true}))
	for _, cli := range []*proc{shop, other} {
		if cli.line(t) != "ready" {
			t.Fatal("client not ready")
		}
	}
	targets := pidArgs(shop.pid(), other.pid())
	tr := startTrace(t, append(targets, "--duration", "60s")...)
	m := startMap(t, append(targets, "-o", "json", "--duration", "60s")...)
	for _, cli := range []*proc{shop, other} {
		fmt.Fprintln(cli.stdin)
		parseClient(t, cli.line(t))
	}
	recs := tr.stop(t)
	edges := m.stop(t)

	named := map[string]int{} // path -> records named shop.pixie.test
	for _, e := range recs.events {
		if e.TraceRole == "client" && e.RemoteDNS == shopName {
			named[e.ReqPath]++
		}
	}
	if named["/dns"] != nShop || named["/ip"] != 0 {
		t.Errorf("client records named %s by path %v, want /dns %d and /ip 0 (tables %v)", shopName, named, nShop, recs.tables)
	}
	peers := map[string]uint64{}
	for _, s := range tableLines[api.HTTPSummary](t, tr.out.Bytes(), api.TableHTTPSummary) {
		if s.TraceRole == "client" {
			peers[s.ReqPath+" -> "+s.Peer] += s.Count
		}
	}
	if peers["/dns -> "+shopName] != nShop {
		t.Errorf("client summaries %v, want /dns -> %s %d", peers, shopName, nShop)
	}
	byIP := uint64(0)
	for k, n := range peers {
		if strings.HasPrefix(k, "/ip -> ") {
			byIP += n
			if strings.Contains(k, shopName) {
				t.Errorf("summary %q named by DNS", k)
			}
		}
	}
	if byIP != nOther {
		t.Errorf("client summaries %v, want %d requests to /ip", peers, nOther)
	}

	// conn_stats: each client's one connection, named as its records are.
	conns := map[string]string{} // "pid -> addr" -> remote_dns
	for _, c := range tableLines[api.ConnStats](t, tr.out.Bytes(), api.TableConnStats) {
		if c.TraceRole == "client" && c.Protocol == "http" {
			if c.ConnOpen != 1 {
				t.Errorf("conn_stats %+v: %d connections opened, want 1", c, c.ConnOpen)
			}
			conns[fmt.Sprintf("%d -> %s", c.PID, c.RemoteAddr)] = c.RemoteDNS
		}
	}
	wantConns := map[string]string{fmt.Sprintf("%d -> %s", shop.pid(), shopIP): shopName, fmt.Sprintf("%d -> %s", other.pid(), otherIP): ""}
	if fmt.Sprint(conns) != fmt.Sprint(wantConns) {
		t.Errorf("client conn_stats remote_dns %v, want %v", conns, wantConns)
	}
	for _, s := range recs.stats {
		if s.DNSNamesEvicted != 0 {
			t.Errorf("probe_stats %+v: DNS names evicted with 2 answers", s)
		}
	}

	// The map: the DNS-named server is a node of its name (not the process
	// listening there: it is not traced), the other its listening process,
	// and the shop client's lookups an edge to dnsmasq. The trace counted
	// the same lookups, and dnsmasq logged them.
	lookups := 0
	for _, e := range tableLines[api.DNSEvent](t, tr.out.Bytes(), api.TableDNSEvents) {
		if e.TraceRole == "client" && e.PID == shop.pid() && e.QueryName == shopName {
			lookups++
		}
	}
	if q := dns.shopQueries(); lookups == 0 || lookups != q {
		t.Errorf("the trace has %d lookups of %s by the client, dnsmasq logged %d", lookups, shopName, q)
	}
	shopCli, otherCli := api.ProcessName("local.test", shop.pid()), api.ProcessName("local.test", other.pid())
	type edge struct {
		from, to, proto, ip, dns string
		req                      uint64
	}
	want := map[edge]bool{
		{shopCli, shopName, "http", shopIP, shopName, nShop}:                                                        true,
		{otherCli, api.ProcessName("local.test", otherSrv.pid()), "http", otherIP, "", nOther}:                      true,
		{shopCli, api.ProcessName("dnsmasq", uint32(dns.cmd.Process.Pid)), "dns", "127.0.0.1", "", uint64(lookups)}: true,
	}
	var got []edge
	for _, e := range edges {
		got = append(got, edge{e.RequestorService, e.ResponderService, e.Protocol, e.ResponderIP, e.ResponderDNS, e.Requests})
	}
	if len(got) != len(want) {
		t.Errorf("%d map edges, want %d: %+v", len(got), len(want), got)
	}
	for _, e := range got {
		if !want[e] {
			t.Errorf("map edge %+v not among %+v", e, want)
		}
		if e.to == api.ProcessName("local.test", shopSrv.pid()) {
			t.Errorf("the DNS-named server is named by its process: %+v", e)
		}
	}
}
