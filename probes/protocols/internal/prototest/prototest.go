// Package prototest drives a conn.Tracker with events the way the socket
// tracer does, for the protocol parsers' tests: one connection, calls in
// either direction with captured bytes, truncation and loss, open and
// close. Every protocol package tests through it.
package prototest

import (
	"net/netip"
	"testing"

	"github.com/kubectl-pixie/kubectl-pixie/probes/api"
	"github.com/kubectl-pixie/kubectl-pixie/probes/conn"
)

// Times of the events: the first call starts at Start, each call lasts
// Call and the next starts Step after the previous one.
const (
	Start = 1_000_000
	Step  = 1000
	Call  = 10
)

// Client is the client's address; the server's is given to New.
var Client = netip.MustParseAddrPort("127.0.0.1:40000")

// Harness is one traced connection and the records of type R its parser
// emitted.
type Harness[R any] struct {
	TB     testing.TB
	Tr     *conn.Tracker
	Recs   []R
	Pos    [3]uint64 // stream offset per conn.Dir
	Now    uint64
	ID     conn.ID
	Server netip.AddrPort
	// NoOtherPos: events do not carry the other direction's offset, as
	// from a tracer that cannot fill it.
	NoOtherPos bool
	// Last is the last data event handed to the Tracker.
	Last conn.Event
	// Opened: an open event gave the connection its addresses.
	Opened bool
}

// New builds a Tracker with opts (the protocol p when opts has none) whose
// records of type R are kept in Recs; other record types fail the test.
func New[R any](tb testing.TB, opts conn.Options, p conn.Protocol, server netip.AddrPort) *Harness[R] {
	if opts.Protocols == nil {
		opts.Protocols = []conn.Protocol{p}
	}
	h := &Harness[R]{TB: tb, Now: Start, ID: conn.ID{TGID: 42, FD: 7, Gen: 1}, Server: server}
	h.Tr = conn.NewTracker(opts, func(_ conn.Protocol, r api.Record) {
		rec, ok := r.(R)
		if !ok {
			tb.Fatalf("record of type %T, want %T", r, rec)
		}
		h.Recs = append(h.Recs, rec)
	})
	return h
}

// Open reports connect (client), accept (server) or a socket first seen
// mid-stream (unknown).
func (h *Harness[R]) Open(role conn.Role) {
	local, remote := Client, h.Server
	if role == conn.RoleServer {
		local, remote = h.Server, Client
	}
	h.Tr.Handle(&conn.Event{Kind: conn.KindOpen, ID: h.ID, PID: 42, Comm: "test", StartNs: h.Now, EndNs: h.Now + Call,
		Role: role, Transport: conn.TransportTCP, Local: local, Remote: remote})
	h.Opened = true
	h.Now += Step
}

// Call reports one syscall that moved size bytes (at least len(data)) of
// which data were captured, after skip bytes were lost.
func (h *Harness[R]) Call(dir conn.Dir, data string, size, skip int) {
	h.CallTail(dir, data, "", size, skip)
}

// CallTail is Call for a call cut by the capture: its first bytes (data)
// and its last (tail, as the tracer sends them after a cut).
func (h *Harness[R]) CallTail(dir conn.Dir, data, tail string, size, skip int) {
	h.call(dir, []byte(data), []byte(tail), nil, size, skip)
}

// CallCut reports one call of b cut by the capture: its first head bytes,
// the ranges of its middle in pieces (as the tracer reports HTTP/2 frame
// headers there), and its last tail bytes.
func (h *Harness[R]) CallCut(dir conn.Dir, b []byte, head, tail int, pieces [][2]int) {
	var ps []conn.Piece
	for _, r := range pieces {
		ps = append(ps, conn.Piece{Off: uint32(r[0]), Data: b[r[0]:r[1]]})
	}
	h.call(dir, b[:head], b[len(b)-tail:], ps, len(b), 0)
}

func (h *Harness[R]) call(dir conn.Dir, data, tail []byte, pieces []conn.Piece, size, skip int) {
	size = max(size, len(data)+len(tail))
	h.Pos[dir] += uint64(skip)
	other := dir.Other()
	h.Last = conn.Event{Kind: conn.KindData, ID: h.ID, PID: 43, Comm: "test", StartNs: h.Now, EndNs: h.Now + Call,
		Dir: dir, Pos: h.Pos[dir], Size: uint32(size), Data: data, Pieces: pieces}
	if len(tail) > 0 {
		h.Last.Tail = tail
	}
	if !h.NoOtherPos {
		h.Last.OtherPos, h.Last.HasOtherPos = h.Pos[other], true
	}
	h.Tr.Handle(&h.Last)
	h.Pos[dir] += uint64(size)
	h.Now += Step
}

// CallBytes is Call for binary protocols' builders.
func (h *Harness[R]) CallBytes(dir conn.Dir, data []byte, size, skip int) {
	h.Call(dir, string(data), size, skip)
}

// Send is a whole call of b in dir.
func (h *Harness[R]) Send(dir conn.Dir, b []byte) { h.Call(dir, string(b), 0, 0) }

// Lose is a call whose event was lost: only the offsets move.
func (h *Harness[R]) Lose(dir conn.Dir, n int) {
	h.Pos[dir] += uint64(n)
	h.Now += Step
}

// Out and In are whole calls sent and received by the traced process.
func (h *Harness[R]) Out(data string) { h.Call(conn.Egress, data, 0, 0) }
func (h *Harness[R]) In(data string)  { h.Call(conn.Ingress, data, 0, 0) }

// Close reports the socket closed.
func (h *Harness[R]) Close() {
	h.Tr.Handle(&conn.Event{Kind: conn.KindClose, ID: h.ID, StartNs: h.Now, EndNs: h.Now + Call})
	h.Now += Step
}

// Stats are the Tracker's counters.
func (h *Harness[R]) Stats() conn.Stats { return h.Tr.Stats() }

// Fuzz flags of Feed.
const (
	FuzzTruncate = 1 << iota // some calls capture fewer bytes than they moved
	FuzzLose                 // some calls follow lost bytes
)

// Feed cuts a request stream and a response stream into calls of 1 to 64
// bytes, interleaved and (with flags) truncated or after a loss, chosen by
// seed: the shape of the fuzz targets.
func (h *Harness[R]) Feed(req, resp []byte, reqDir, respDir conn.Dir, seed uint64, flags int) {
	rnd := seed | 1
	next := func(n int) int {
		rnd ^= rnd >> 12
		rnd ^= rnd << 25
		rnd ^= rnd >> 27
		return int((rnd*2685821657736338717)>>33) % max(n, 1)
	}
	streams := [2][]byte{req, resp}
	dirs := [2]conn.Dir{reqDir, respDir}
	for len(streams[0])+len(streams[1]) > 0 {
		i := next(2)
		if len(streams[i]) == 0 {
			i = 1 - i
		}
		b := streams[i]
		n := 1 + next(min(len(b), 64))
		data, size, skip := b[:n], n, 0
		if flags&FuzzTruncate != 0 && next(4) == 0 {
			data = data[:next(n)]
		}
		if flags&FuzzLose != 0 && next(8) == 0 {
			skip = 1 + next(16)
		}
		h.Call(dirs[i], string(data), size, skip)
		streams[i] = b[n:]
	}
}

// FuzzConn plays a request stream and a response stream over one
// connection the way the protocols' fuzz targets agree to read their flags
// byte: bit 0 the traced process is the client (else the server), bit 1 the
// connection is seen from its open, bit 2 some calls follow lost bytes,
// bit 3 some captures are truncated; then the socket closes.
func (h *Harness[R]) FuzzConn(req, resp []byte, seed uint64, flags uint8) {
	role := conn.RoleServer
	reqDir, respDir := conn.Ingress, conn.Egress
	if flags&1 != 0 {
		role, reqDir, respDir = conn.RoleClient, conn.Egress, conn.Ingress
	}
	if flags&2 != 0 {
		h.Open(role)
	}
	var ff int
	if flags&8 != 0 {
		ff |= FuzzTruncate
	}
	if flags&4 != 0 {
		ff |= FuzzLose
	}
	h.Feed(req, resp, reqDir, respDir, seed, ff)
	h.Close()
}
