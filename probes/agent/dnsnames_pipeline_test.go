//go:build linux

package agent

import (
	"bytes"
	"encoding/json"
	"net/netip"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"

	"github.com/kubectl-pixie/kubectl-pixie/probes/api"
	"github.com/kubectl-pixie/kubectl-pixie/probes/conn"
	"github.com/kubectl-pixie/kubectl-pixie/probes/protocols"
	"github.com/kubectl-pixie/kubectl-pixie/probes/socktrace"
)

// dnsExchange is one A query for name over UDP and its answer addr, as
// the socket tracer reports them for a client process.
func dnsExchange(t *testing.T, p *pipeline, id uint16, name string, addr [4]byte, now *uint64) {
	t.Helper()
	msg := func(resp bool) []byte {
		b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: id, Response: resp, RecursionDesired: true})
		q := dnsmessage.MustNewName(name + ".")
		if err := b.StartQuestions(); err != nil {
			t.Fatal(err)
		}
		if err := b.Question(dnsmessage.Question{Name: q, Type: dnsmessage.TypeA, Class: dnsmessage.ClassINET}); err != nil {
			t.Fatal(err)
		}
		if resp {
			if err := b.StartAnswers(); err != nil {
				t.Fatal(err)
			}
			if err := b.AResource(dnsmessage.ResourceHeader{Name: q, Class: dnsmessage.ClassINET, TTL: 60}, dnsmessage.AResource{A: addr}); err != nil {
				t.Fatal(err)
			}
		}
		m, err := b.Finish()
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	sock := conn.ID{TGID: 50, FD: 3, Gen: uint32(id)}
	for _, d := range []struct {
		dir  conn.Dir
		data []byte
	}{{conn.Egress, msg(false)}, {conn.Ingress, msg(true)}} {
		*now += 1000
		p.handle(&conn.Event{Kind: conn.KindData, ID: sock, PID: 50, Comm: "app", StartNs: *now, EndNs: *now + 10, Transport: conn.TransportUDP,
			Local: netip.MustParseAddrPort("127.0.0.1:40000"), Remote: netip.MustParseAddrPort("127.0.0.53:53"),
			Dir: d.dir, Size: uint32(len(d.data)), Data: d.data})
	}
}

// getOver makes one HTTP request from the client process to remote on a
// new connection, and closes it.
func getOver(p *pipeline, fd int32, remote string, now *uint64) {
	id := conn.ID{TGID: 50, FD: fd, Gen: 1}
	*now += 1000
	p.handle(&conn.Event{Kind: conn.KindOpen, ID: id, PID: 50, Comm: "app", StartNs: *now, EndNs: *now + 10, Role: conn.RoleClient,
		Transport: conn.TransportTCP, Local: netip.MustParseAddrPort("10.0.0.9:41000"), Remote: netip.MustParseAddrPort(remote)})
	req, resp := "GET /x HTTP/1.1\r\nHost: x\r\n\r\n", "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
	*now += 1000
	p.handle(&conn.Event{Kind: conn.KindData, ID: id, PID: 50, Comm: "app", StartNs: *now, EndNs: *now + 10,
		Dir: conn.Egress, Size: uint32(len(req)), Data: []byte(req), HasOtherPos: true})
	*now += 1000
	p.handle(&conn.Event{Kind: conn.KindData, ID: id, PID: 50, Comm: "app", StartNs: *now, EndNs: *now + 10,
		Dir: conn.Ingress, Size: uint32(len(resp)), Data: []byte(resp), OtherPos: uint64(len(req)), HasOtherPos: true})
	*now += 1000
	p.handle(&conn.Event{Kind: conn.KindClose, ID: id, StartNs: *now, EndNs: *now + 10})
}

// TestDNSNamesInPipeline: with room for two names, three answers make
// the oldest forgotten, counted in the final probe_stats; the peers still
// named get their name in client rows (peer_dns, in a trace and in a
// map), conn_stats (remote_dns) and records (remote_dns); the forgotten
// one stays an address everywhere.
func TestDNSNamesInPipeline(t *testing.T) {
	for _, mapMode := range []bool{false, true} {
		var buf bytes.Buffer
		cfg := api.TraceConfig{EmitEvents: true, Comms: []string{"app"}, Map: mapMode}
		traceDefaults(&cfg)
		p := newPipeline(&cfg, api.DataAccessRestricted, NewEmitter(&buf), protocols.All())
		p.dns = newDNSNames(2)
		now := uint64(1_000_000)
		dnsExchange(t, p, 1, "a.test", [4]byte{10, 0, 0, 1}, &now)
		dnsExchange(t, p, 2, "b.test", [4]byte{10, 0, 0, 2}, &now)
		dnsExchange(t, p, 3, "c.test", [4]byte{10, 0, 0, 3}, &now) // a.test's address goes
		getOver(p, 7, "10.0.0.1:80", &now)
		getOver(p, 8, "10.0.0.2:80", &now)
		p.emitStats(true, func(cs conn.Stats, records uint64) *api.ProbeStats {
			return probeStats(socktrace.Stats{}, cs, records, time.Second, time.Millisecond, true)
		})

		rowDNS, connDNS, eventDNS := map[string]string{}, map[string]string{}, map[string]string{}
		var final *api.ProbeStats
		for line := range bytes.Lines(buf.Bytes()) {
			var h api.Header
			if err := json.Unmarshal(line, &h); err != nil {
				t.Fatalf("%v: %s", err, line)
			}
			switch h.Table {
			case api.TableHTTPStats:
				var s api.HTTPStats
				if err := json.Unmarshal(line, &s); err != nil {
					t.Fatal(err)
				}
				for _, r := range s.Rows {
					if r.Protocol == "" {
						rowDNS[r.Peer] = r.PeerDNS
					}
				}
			case api.TableConnStats:
				var s api.ConnStats
				if err := json.Unmarshal(line, &s); err != nil {
					t.Fatal(err)
				}
				connDNS[s.RemoteAddr] = s.RemoteDNS
			case api.TableHTTPEvents:
				var e api.HTTPEvent
				if err := json.Unmarshal(line, &e); err != nil {
					t.Fatal(err)
				}
				eventDNS[e.RemoteAddr] = e.RemoteDNS
			case api.TableProbeStats:
				var s api.ProbeStats
				if err := json.Unmarshal(line, &s); err != nil {
					t.Fatal(err)
				}
				final = &s
			}
		}
		want := map[string]string{"10.0.0.1:80": "", "10.0.0.2:80": "b.test"}
		if len(rowDNS) != 2 || rowDNS["10.0.0.1:80"] != "" || rowDNS["10.0.0.2:80"] != "b.test" {
			t.Errorf("map %v: http rows' peer_dns %v, want %v", mapMode, rowDNS, want)
		}
		for name, got := range map[string]map[string]string{"conn_stats": connDNS, "http_events": eventDNS} {
			if len(got) != 2 || got["10.0.0.1"] != "" || got["10.0.0.2"] != "b.test" {
				t.Errorf("map %v: %s remote_dns by address %v, want 10.0.0.2 named b.test, 10.0.0.1 not", mapMode, name, got)
			}
		}
		if final == nil || final.DNSNamesEvicted != 1 || final.EventsLost != 0 {
			t.Errorf("map %v: final probe_stats %+v, want dns_names_evicted 1 and nothing lost", mapMode, final)
		}
		if !bytes.Contains(buf.Bytes(), []byte(`"dns_names_evicted":1`)) {
			t.Errorf("map %v: no dns_names_evicted in the records:\n%s", mapMode, buf.String())
		}
	}
}
