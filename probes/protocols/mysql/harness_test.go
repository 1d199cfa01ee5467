package mysql

import (
	"net/netip"
	"testing"

	"github.com/kubectl-pixie/kubectl-pixie/probes/api"
	"github.com/kubectl-pixie/kubectl-pixie/probes/conn"
)

// harness drives a conn.Tracker with the MySQL protocol through events,
// the way the socket tracer does.
type harness struct {
	tb   testing.TB
	tr   *conn.Tracker
	recs []*api.MySQLEvent
	pos  [3]uint64
	now  uint64
	id   conn.ID
}

var (
	clientAddr = netip.MustParseAddrPort("127.0.0.1:40000")
	serverAddr = netip.MustParseAddrPort("127.0.0.1:3306")
)

const (
	tStart = 1_000_000
	tStep  = 1000
	tCall  = 10
)

func newHarness(tb testing.TB, opts conn.Options) *harness {
	if opts.Protocols == nil {
		opts.Protocols = []conn.Protocol{Protocol{}}
	}
	h := &harness{tb: tb, now: tStart, id: conn.ID{TGID: 42, FD: 7, Gen: 1}}
	h.tr = conn.NewTracker(opts, func(r any) { h.recs = append(h.recs, r.(*api.MySQLEvent)) })
	return h
}

func (h *harness) open(role conn.Role) {
	local, remote := clientAddr, serverAddr
	if role == conn.RoleServer {
		local, remote = serverAddr, clientAddr
	}
	h.tr.Handle(&conn.Event{Kind: conn.KindOpen, ID: h.id, PID: 42, Comm: "test", StartNs: h.now, EndNs: h.now + tCall,
		Role: role, Transport: conn.TransportTCP, Local: local, Remote: remote})
	h.now += tStep
}

// call reports one syscall that moved size bytes of which data were
// captured, after skip bytes were lost.
func (h *harness) call(dir conn.Dir, data string, size, skip int) {
	if size < len(data) {
		size = len(data)
	}
	h.pos[dir] += uint64(skip)
	other := conn.Egress
	if dir == conn.Egress {
		other = conn.Ingress
	}
	h.tr.Handle(&conn.Event{Kind: conn.KindData, ID: h.id, PID: 43, Comm: "test", StartNs: h.now, EndNs: h.now + tCall,
		Dir: dir, Pos: h.pos[dir], Size: uint32(size), Data: []byte(data),
		OtherPos: h.pos[other], HasOtherPos: true})
	h.pos[dir] += uint64(size)
	h.now += tStep
}

func (h *harness) out(data string) { h.call(conn.Egress, data, 0, 0) }
func (h *harness) in(data string)  { h.call(conn.Ingress, data, 0, 0) }

func (h *harness) close() {
	h.tr.Handle(&conn.Event{Kind: conn.KindClose, ID: h.id, StartNs: h.now, EndNs: h.now + tCall})
	h.now += tStep
}

func (h *harness) stats() conn.Stats { return h.tr.Stats() }
