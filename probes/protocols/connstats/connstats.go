// Package connstats counts the traced processes' TCP connections and their
// bytes per peer, whatever the protocol (Pixie's conn_stats). It needs no
// payload: connections come from the tracer's open and close events, bytes
// from the kernel's per-connection counts (a close carries the totals, and
// the tracer reads those of open connections on demand).
package connstats

import (
	"net/netip"
	"sort"

	"github.com/kubectl-pixie/kubectl-pixie/probes/api"
	"github.com/kubectl-pixie/kubectl-pixie/probes/api/vocab"
	"github.com/kubectl-pixie/kubectl-pixie/probes/conn"
)

// Bounds of a Table: beyond MaxConns open connections new ones are not
// counted (lost close events must not grow it forever); beyond MaxRows
// peers, closed connections of new peers go to one row without a peer.
const (
	MaxConns = 65536 // the tracer's connection table holds as many
	MaxRows  = 4096
)

// ProtocolOf names the protocol recognised on a connection so far and the
// role it implies ("" and RoleUnknown when none): the Tracker's Protocol.
type ProtocolOf func(conn.ID) (string, conn.Role)

// Table is the connection stats of one trace. It is not safe for
// concurrent use.
type Table struct {
	open    map[conn.ID]*state
	closed  map[api.ConnStatsKey]*api.ConnStats
	sent    map[api.ConnStatsKey]api.ConnStats // rows as last returned by Changed
	byLocal map[netip.AddrPort]conn.ID         // open connections by local address
	pids    map[uint32]bool                    // processes seen with a TCP connection
	Dropped uint64                             // connections not counted: MaxConns open
}

// state is one open connection.
type state struct {
	pid        uint32
	comm       string
	role       conn.Role
	remote     string
	remotePort uint16
	localPort  uint16
	local      netip.AddrPort
	opened     bool // seen from connect or accept, not mid-stream
	proto      string
	sent, recv uint64
}

// New returns an empty Table.
func New() *Table {
	return &Table{open: map[conn.ID]*state{}, closed: map[api.ConnStatsKey]*api.ConnStats{}, sent: map[api.ConnStatsKey]api.ConnStats{},
		byLocal: map[netip.AddrPort]conn.ID{}, pids: map[uint32]bool{}}
}

// Event counts an open or close event of a TCP connection; other events
// are ignored. proto names the protocol of a closing connection (its
// parser is gone once the Tracker has seen the close).
func (t *Table) Event(e *conn.Event, proto ProtocolOf) {
	if e.Transport != conn.TransportTCP {
		return
	}
	switch e.Kind {
	case conn.KindOpen:
		if t.open[e.ID] == nil && len(t.open) >= MaxConns {
			t.Dropped++
			return
		}
		t.open[e.ID] = &state{
			pid: e.ID.TGID, comm: e.Comm, role: e.Role,
			remote: e.Remote.Addr().Unmap().String(), remotePort: e.Remote.Port(), localPort: e.Local.Port(),
			opened: e.Syscall == "connect" || e.Syscall == "accept" || e.Syscall == "accept4",
			local:  unmap(e.Local),
		}
		t.byLocal[unmap(e.Local)] = e.ID
		t.pids[e.ID.TGID] = true
	case conn.KindClose:
		s := t.open[e.ID]
		if s == nil {
			return // opened before a MaxConns drop, or never reported
		}
		delete(t.open, e.ID)
		if t.byLocal[s.local] == e.ID {
			delete(t.byLocal, s.local)
		}
		t.learn(e.ID, s, proto)
		s.sent, s.recv = max(s.sent, e.SentBytes), max(s.recv, e.RecvBytes)
		row := t.closedRow(s)
		row.ConnClose++
		add(row, s)
	}
}

// Owner returns the process and command name of the traced connection
// whose local address is addr (the caller behind a server's peer address
// on this host).
func (t *Table) Owner(addr netip.AddrPort) (pid uint32, comm string, ok bool) {
	id, ok := t.byLocal[unmap(addr)]
	if !ok {
		return 0, "", false
	}
	s := t.open[id]
	if s == nil {
		return 0, "", false
	}
	return s.pid, s.comm, true
}

// Seen tells whether process pid had a TCP connection while traced.
func (t *Table) Seen(pid uint32) bool { return t.pids[pid] }

func unmap(a netip.AddrPort) netip.AddrPort { return netip.AddrPortFrom(a.Addr().Unmap(), a.Port()) }

// SetBytes records the kernel's counts of an open connection so far.
func (t *Table) SetBytes(id conn.ID, sent, recv uint64) {
	if s := t.open[id]; s != nil {
		s.sent, s.recv = max(s.sent, sent), max(s.recv, recv)
	}
}

// learn keeps the protocol (and the role it implies) once recognised: the
// Tracker may forget an idle connection before it closes.
func (t *Table) learn(id conn.ID, s *state, proto ProtocolOf) {
	if s.proto != "" || proto == nil {
		return
	}
	name, role := proto(id)
	s.proto = name
	if s.role == conn.RoleUnknown {
		s.role = role
	}
}

// key is the row of a connection: a client's server, a server's caller
// address and the port it serves.
func (s *state) key() api.ConnStatsKey {
	k := api.ConnStatsKey{PID: s.pid, RemoteAddr: s.remote, TraceRole: roleName(s.role), Protocol: s.proto}
	if k.Protocol == "" {
		k.Protocol = "unknown"
	}
	if s.role == conn.RoleServer {
		k.LocalPort = s.localPort
	} else {
		k.RemotePort = s.remotePort
	}
	return k
}

func (t *Table) closedRow(s *state) *api.ConnStats {
	k := s.key()
	if r := t.closed[k]; r != nil {
		return r
	}
	if len(t.closed) >= MaxRows {
		k = api.ConnStatsKey{PID: s.pid, TraceRole: k.TraceRole, Protocol: k.Protocol}
		if r := t.closed[k]; r != nil {
			return r
		}
	}
	r := newRow(k, s.comm)
	t.closed[k] = r
	return r
}

func newRow(k api.ConnStatsKey, comm string) *api.ConnStats {
	return &api.ConnStats{
		Header: api.Header{Table: api.TableConnStats, V: api.Version},
		PID:    k.PID, Comm: comm, RemoteAddr: k.RemoteAddr, RemotePort: k.RemotePort, LocalPort: k.LocalPort,
		TraceRole: k.TraceRole, Protocol: k.Protocol,
	}
}

// add counts connection s into row.
func add(row *api.ConnStats, s *state) {
	if s.opened {
		row.ConnOpen++
	}
	row.BytesSent += s.sent
	row.BytesRecv += s.recv
}

// Rows returns every row with its counts so far, stamped with timeNs,
// sorted by process, role and peer.
func (t *Table) Rows(timeNs int64, proto ProtocolOf) []api.ConnStats {
	rows := make(map[api.ConnStatsKey]*api.ConnStats, len(t.closed))
	for k, r := range t.closed {
		c := *r
		rows[k] = &c
	}
	for id, s := range t.open {
		t.learn(id, s, proto)
		k := s.key()
		r := rows[k]
		if r == nil {
			r = newRow(k, s.comm)
			rows[k] = r
		}
		r.ConnActive++
		add(r, s)
	}
	out := make([]api.ConnStats, 0, len(rows))
	for _, r := range rows {
		r.Time = timeNs
		out = append(out, *r)
	}
	sort.Slice(out, func(i, j int) bool { return less(out[i].Key(), out[j].Key()) })
	return out
}

// Changed returns the rows whose counts changed since the last call (all
// of them when all is set): what the agent sends each interval. A row sent
// before and gone since comes back with zero counts (api.ConnStats
// Retracted): an open connection's row moves to another key once its
// protocol (or role) is recognised, and the receiver keeps the last row
// of each key, so the old one would stay as a connection never closed.
func (t *Table) Changed(timeNs int64, proto ProtocolOf, all bool) []api.ConnStats {
	rows := t.Rows(timeNs, proto)
	live := make(map[api.ConnStatsKey]bool, len(rows))
	out := rows[:0]
	for _, r := range rows {
		live[r.Key()] = true
		prev, seen := t.sent[r.Key()]
		prev.Time, prev.Header = r.Time, r.Header
		if all || !seen || prev != r {
			t.sent[r.Key()] = r
			out = append(out, r)
		}
	}
	var gone []api.ConnStats
	for k, prev := range t.sent {
		if !live[k] {
			delete(t.sent, k)
			r := newRow(k, prev.Comm)
			r.Time = timeNs
			gone = append(gone, *r)
		}
	}
	sort.Slice(gone, func(i, j int) bool { return less(gone[i].Key(), gone[j].Key()) })
	return append(out, gone...)
}

func less(a, b api.ConnStatsKey) bool {
	switch {
	case a.PID != b.PID:
		return a.PID < b.PID
	case a.TraceRole != b.TraceRole:
		return a.TraceRole < b.TraceRole
	case a.RemoteAddr != b.RemoteAddr:
		return a.RemoteAddr < b.RemoteAddr
	case a.RemotePort != b.RemotePort:
		return a.RemotePort < b.RemotePort
	case a.LocalPort != b.LocalPort:
		return a.LocalPort < b.LocalPort
	}
	return a.Protocol < b.Protocol
}

func roleName(r conn.Role) string {
	switch r {
	case conn.RoleClient:
		return vocab.RoleClient
	case conn.RoleServer:
		return vocab.RoleServer
	}
	return "unknown"
}
