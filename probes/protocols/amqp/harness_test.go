package amqp

import (
	"encoding/binary"
	"net/netip"
	"testing"

	"github.com/kubectl-pixie/kubectl-pixie/probes/api"
	"github.com/kubectl-pixie/kubectl-pixie/probes/conn"
	"github.com/kubectl-pixie/kubectl-pixie/probes/protocols/internal/prototest"
)

// harness drives a conn.Tracker with the AMQP protocol through
// events, the way the socket tracer does (probes/protocols/internal/prototest).
type harness = prototest.Harness[*api.AMQPEvent]

const tStep = prototest.Step

func newHarness(tb testing.TB, opts conn.Options) *harness {
	return prototest.New[*api.AMQPEvent](tb, opts, Protocol{}, netip.MustParseAddrPort("127.0.0.1:5672"))
}

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
