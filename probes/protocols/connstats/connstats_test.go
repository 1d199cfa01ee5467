package connstats

import (
	"net/netip"
	"testing"

	"github.com/kubectl-pixie/kubectl-pixie/probes/api"
	"github.com/kubectl-pixie/kubectl-pixie/probes/conn"
)

var (
	server = netip.MustParseAddrPort("10.0.0.2:6379")
	caller = netip.MustParseAddrPort("10.0.0.9:41000")
)

func open(id conn.ID, role conn.Role, syscall string, local, remote netip.AddrPort) *conn.Event {
	return &conn.Event{Kind: conn.KindOpen, ID: id, Role: role, Syscall: syscall, Transport: conn.TransportTCP, Local: local, Remote: remote, Comm: "app"}
}

func closeEv(id conn.ID, sent, recv uint64) *conn.Event {
	return &conn.Event{Kind: conn.KindClose, ID: id, Transport: conn.TransportTCP, SentBytes: sent, RecvBytes: recv}
}

func redisOf(conn.ID) (string, conn.Role) { return "redis", conn.RoleUnknown }

type counts [5]uint64 // open, close, active, sent, recv

func rowCounts(r api.ConnStats) counts {
	return counts{r.ConnOpen, r.ConnClose, r.ConnActive, r.BytesSent, r.BytesRecv}
}

// Clients group by server, servers by caller address and port served;
// closed connections keep their totals, open ones take the kernel's counts.
func TestTable(t *testing.T) {
	tb := New()
	c1, c2 := conn.ID{TGID: 7, FD: 3, Gen: 1}, conn.ID{TGID: 7, FD: 4, Gen: 2}
	s1 := conn.ID{TGID: 9, FD: 5, Gen: 3}
	mid := conn.ID{TGID: 7, FD: 6, Gen: 4}
	tb.Event(open(c1, conn.RoleClient, "connect", netip.MustParseAddrPort("10.0.0.9:41000"), server), redisOf)
	tb.Event(open(c2, conn.RoleClient, "connect", netip.MustParseAddrPort("10.0.0.9:41001"), server), redisOf)
	tb.Event(open(s1, conn.RoleServer, "accept4", server, caller), redisOf)
	tb.Event(open(mid, conn.RoleUnknown, "read", netip.MustParseAddrPort("10.0.0.9:41002"), server), nil)
	tb.Event(&conn.Event{Kind: conn.KindOpen, ID: conn.ID{TGID: 7, FD: 8}, Transport: conn.TransportUDP}, nil)
	tb.Event(closeEv(c1, 100, 40), redisOf)
	tb.SetBytes(c2, 10, 4)
	tb.SetBytes(s1, 44, 110)
	tb.SetBytes(mid, 1, 2)

	got := map[api.ConnStatsKey]counts{}
	for _, r := range tb.Rows(5, redisOf) {
		got[r.Key()] = rowCounts(r)
	}
	want := map[api.ConnStatsKey]counts{
		// mid-stream: counted active, not opened; the protocol gives no role
		{PID: 7, RemoteAddr: "10.0.0.2", RemotePort: 6379, TraceRole: "client", Protocol: "redis"}:  {2, 1, 1, 110, 44},
		{PID: 7, RemoteAddr: "10.0.0.2", RemotePort: 6379, TraceRole: "unknown", Protocol: "redis"}: {0, 0, 1, 1, 2},
		{PID: 9, RemoteAddr: "10.0.0.9", LocalPort: 6379, TraceRole: "server", Protocol: "redis"}:   {1, 0, 1, 44, 110},
	}
	if len(got) != len(want) {
		t.Fatalf("rows %v, want %v", got, want)
	}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("%+v: %v, want %v", k, got[k], w)
		}
	}

	// Changed sends a row again only when its counts moved.
	if n := len(tb.Changed(6, redisOf, false)); n != 3 {
		t.Errorf("first Changed: %d rows, want 3", n)
	}
	tb.SetBytes(s1, 50, 110)
	if rows := tb.Changed(7, redisOf, false); len(rows) != 1 || rows[0].BytesSent != 50 {
		t.Errorf("Changed after one update: %+v, want the server row with 50 bytes sent", rows)
	}
	if n := len(tb.Changed(8, redisOf, true)); n != 3 {
		t.Errorf("final Changed: %d rows, want all 3", n)
	}
}

// The kernel's counts never go back, and events beyond the bounds are
// counted or folded, not kept.
func TestTableBounds(t *testing.T) {
	tb := New()
	id := conn.ID{TGID: 1, FD: 3}
	tb.Event(open(id, conn.RoleClient, "connect", caller, server), nil)
	tb.SetBytes(id, 50, 60)
	tb.Event(closeEv(id, 40, 60), nil) // an older count than the last read
	if r := tb.Rows(0, nil); len(r) != 1 || r[0].BytesSent != 50 || r[0].Protocol != "unknown" {
		t.Errorf("rows %+v, want one unknown row with 50 bytes sent", r)
	}
	for i := range MaxConns + 2 {
		tb.Event(open(conn.ID{TGID: 2, FD: int32(i)}, conn.RoleClient, "connect", caller, server), nil)
	}
	if tb.Dropped != 2 {
		t.Errorf("dropped %d, want 2", tb.Dropped)
	}
	tb = New()
	for i := range MaxRows + 5 {
		id := conn.ID{TGID: 3, FD: int32(i)}
		peer := netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)}), 80)
		tb.Event(open(id, conn.RoleClient, "connect", caller, peer), nil)
		tb.Event(closeEv(id, 1, 1), nil)
	}
	rows := tb.Rows(0, nil)
	if len(rows) != MaxRows+1 {
		t.Fatalf("%d rows, want %d and one without a peer", len(rows), MaxRows+1)
	}
	if r := rows[0]; r.RemoteAddr != "" || r.ConnClose != 5 {
		t.Errorf("overflow row %+v, want no peer and 5 closes", r)
	}
}

// An open connection's row moves to another key once its protocol is
// recognised: Changed retracts the old key (a zero row), once.
func TestTableRetractsMovedRows(t *testing.T) {
	tb := New()
	id := conn.ID{TGID: 7, FD: 3, Gen: 1}
	proto := func(conn.ID) (string, conn.Role) { return "", conn.RoleUnknown }
	recognised := func(conn.ID) (string, conn.Role) { return proto(id) }
	tb.Event(open(id, conn.RoleClient, "connect", caller, server), recognised)
	unknown := api.ConnStatsKey{PID: 7, RemoteAddr: "10.0.0.2", RemotePort: 6379, TraceRole: "client", Protocol: "unknown"}
	if rows := tb.Changed(1, recognised, false); len(rows) != 1 || rows[0].Key() != unknown || rows[0].Retracted() {
		t.Fatalf("before any data: %+v, want one active row of protocol unknown", rows)
	}
	proto = redisOf
	tb.SetBytes(id, 10, 4)
	rows := tb.Changed(2, recognised, false)
	if len(rows) != 2 || rows[0].Protocol != "redis" || rowCounts(rows[0]) != (counts{1, 0, 1, 10, 4}) {
		t.Fatalf("once redis: %+v, want the redis row, then the unknown one retracted", rows)
	}
	if r := rows[1]; r.Key() != unknown || !r.Retracted() || r.Time != 2 || r.Comm != "app" {
		t.Errorf("retraction %+v, want the unknown key with zero counts at time 2", r)
	}
	tb.Event(closeEv(id, 12, 4), recognised)
	rows = tb.Changed(3, recognised, true)
	if len(rows) != 1 || rowCounts(rows[0]) != (counts{1, 1, 0, 12, 4}) {
		t.Errorf("final: %+v, want only the redis row, closed (the retraction is sent once)", rows)
	}
}
