package kafka

import (
	"encoding/binary"
	"net/netip"
	"testing"

	"github.com/kubectl-pixie/kubectl-pixie/probes/api"
	"github.com/kubectl-pixie/kubectl-pixie/probes/conn"
)

// harness drives a conn.Tracker with the Kafka protocol through events,
// the way the socket tracer does.
type harness struct {
	tb   testing.TB
	tr   *conn.Tracker
	recs []*api.KafkaEvent
	pos  [3]uint64
	now  uint64
	id   conn.ID
	// opened: an open event gave the addresses.
	opened bool
}

var (
	clientAddr = netip.MustParseAddrPort("127.0.0.1:40000")
	serverAddr = netip.MustParseAddrPort("127.0.0.1:9092")
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
	h.tr = conn.NewTracker(opts, func(r any) { h.recs = append(h.recs, r.(*api.KafkaEvent)) })
	return h
}

func (h *harness) open(role conn.Role) {
	h.opened = true
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

func (h *harness) close() {
	h.tr.Handle(&conn.Event{Kind: conn.KindClose, ID: h.id, StartNs: h.now, EndNs: h.now + tCall})
	h.now += tStep
}

func (h *harness) stats() conn.Stats { return h.tr.Stats() }

// enc builds Kafka messages, classic or compact (flex).
type enc struct {
	b    []byte
	flex bool
}

func (e *enc) i8(v int) *enc  { e.b = append(e.b, byte(v)); return e }
func (e *enc) i16(v int) *enc { e.b = binary.BigEndian.AppendUint16(e.b, uint16(v)); return e }
func (e *enc) i32(v int) *enc { e.b = binary.BigEndian.AppendUint32(e.b, uint32(v)); return e }
func (e *enc) i64(v int) *enc { e.b = binary.BigEndian.AppendUint64(e.b, uint64(v)); return e }
func (e *enc) raw(b []byte) *enc {
	e.b = append(e.b, b...)
	return e
}
func (e *enc) uvarint(v int) *enc { e.b = binary.AppendUvarint(e.b, uint64(v)); return e }

func (e *enc) str(s string) *enc {
	if e.flex {
		e.uvarint(len(s) + 1)
	} else {
		e.i16(len(s))
	}
	return e.raw([]byte(s))
}

func (e *enc) null() *enc {
	if e.flex {
		return e.uvarint(0)
	}
	return e.i16(-1)
}

func (e *enc) arr(n int) *enc {
	if e.flex {
		return e.uvarint(n + 1)
	}
	return e.i32(n)
}

// tags writes no tagged fields, or one (tag 0) with a payload.
func (e *enc) tags(payload ...byte) *enc {
	if !e.flex {
		return e
	}
	if len(payload) == 0 {
		return e.uvarint(0)
	}
	return e.uvarint(1).uvarint(0).uvarint(len(payload)).raw(payload)
}

func framed(b []byte) string {
	return string(append(binary.BigEndian.AppendUint32(nil, uint32(len(b))), b...))
}

// req is a whole request: header (v1, or v2 with tags when flexible)
// and body.
func req(key, ver, corr int, clientID string, body *enc) string {
	h := &enc{}
	h.i16(key).i16(ver).i32(corr).str(clientID)
	if flexible(key, ver) {
		h.flex = true
		h.tags()
	}
	return framed(append(h.b, body.b...))
}

// resp is a whole response: correlation id (and header tags when
// flexible, except for ApiVersions) and body.
func resp(key, ver, corr int, body *enc) string {
	h := &enc{}
	h.i32(corr)
	if flexible(key, ver) && key != apiApiVersions {
		h.flex = true
		h.tags(7) // a tagged field a client would skip
	}
	return framed(append(h.b, body.b...))
}
