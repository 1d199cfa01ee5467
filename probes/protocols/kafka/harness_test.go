package kafka

import (
	"encoding/binary"
	"net/netip"
	"testing"

	"github.com/kubectl-pixie/kubectl-pixie/probes/api"
	"github.com/kubectl-pixie/kubectl-pixie/probes/conn"
	"github.com/kubectl-pixie/kubectl-pixie/probes/protocols/internal/prototest"
)

// harness drives a conn.Tracker with the Kafka protocol through
// events, the way the socket tracer does (probes/protocols/internal/prototest).
type harness = prototest.Harness[*api.KafkaEvent]

const tStep = prototest.Step

func newHarness(tb testing.TB, opts conn.Options) *harness {
	return prototest.New[*api.KafkaEvent](tb, opts, Protocol{}, netip.MustParseAddrPort("127.0.0.1:9092"))
}

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
