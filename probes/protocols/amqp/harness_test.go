package amqp

import (
	"encoding/binary"
	"net/netip"
	"testing"

	"github.com/kubectl-pixie/kubectl-pixie/probes/api"
	"github.com/kubectl-pixie/kubectl-pixie/probes/conn"
)

// harness drives a conn.Tracker with the AMQP protocol through events,
// the way the socket tracer does.
type harness struct {
	tb   testing.TB
	tr   *conn.Tracker
	recs []*api.AMQPEvent
	pos  [3]uint64
	now  uint64
	id   conn.ID
	// opened: an open event gave the addresses.
	opened bool
}

var (
	clientAddr = netip.MustParseAddrPort("127.0.0.1:40000")
	serverAddr = netip.MustParseAddrPort("127.0.0.1:5672")
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
	h.tr = conn.NewTracker(opts, func(r any) { h.recs = append(h.recs, r.(*api.AMQPEvent)) })
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

// Frame builders.

func frame(typ byte, ch uint16, payload []byte) string {
	b := []byte{typ, byte(ch >> 8), byte(ch), 0, 0, 0, 0}
	binary.BigEndian.PutUint32(b[3:], uint32(len(payload)))
	b = append(b, payload...)
	return string(append(b, frameEnd))
}

// meth is a method frame; args are raw argument bytes.
func meth(ch, class, id uint16, args ...[]byte) string {
	p := []byte{byte(class >> 8), byte(class), byte(id >> 8), byte(id)}
	for _, a := range args {
		p = append(p, a...)
	}
	return frame(frameMethod, ch, p)
}

func sstr(s string) []byte { return append([]byte{byte(len(s))}, s...) }
func u16(v int) []byte     { return []byte{byte(v >> 8), byte(v)} }
func u32(v int) []byte     { return binary.BigEndian.AppendUint32(nil, uint32(v)) }
func u64(v int) []byte     { return binary.BigEndian.AppendUint64(nil, uint64(v)) }
func bits(v byte) []byte   { return []byte{v} }
func table() []byte        { return u32(0) }

// contentHeader is a basic-class content header with no properties.
func contentHeader(ch uint16, size int) string {
	p := append(append(u16(classBasic), u16(0)...), u64(size)...)
	return frame(frameHeader, ch, append(p, u16(0)...))
}

func body(ch uint16, s string) string { return frame(frameBody, ch, []byte(s)) }

// Common methods.

func queueDeclare(ch uint16, q string, noWait bool) string {
	var b byte
	if noWait {
		b = 1 << 4
	}
	return meth(ch, 50, 10, u16(0), sstr(q), bits(b), table())
}

func queueDeclareOk(ch uint16, q string) string { return meth(ch, 50, 11, sstr(q), u32(0), u32(0)) }

func publish(ch uint16, ex, key string) string {
	return meth(ch, 60, 40, u16(0), sstr(ex), sstr(key), bits(0))
}

func deliver(ch uint16, ex, key string, tag int) string {
	return meth(ch, 60, 60, sstr("ctag"), u64(tag), bits(0), sstr(ex), sstr(key))
}

func getReq(ch uint16, q string) string { return meth(ch, 60, 70, u16(0), sstr(q), bits(0)) }

func getOk(ch uint16, ex, key string) string {
	return meth(ch, 60, 71, u64(1), bits(0), sstr(ex), sstr(key), u32(0))
}

func getEmpty(ch uint16) string { return meth(ch, 60, 72, sstr("")) }

func closeCh(ch uint16, code int, text string, class, id int) string {
	return meth(ch, 20, 40, u16(code), sstr(text), u16(class), u16(id))
}

func closeConn(code int, text string) string {
	return meth(0, 10, 50, u16(code), sstr(text), u16(0), u16(0))
}

func ack(ch uint16, tag int) string { return meth(ch, 60, 80, u64(tag), bits(0)) }
