package amqp

import (
	"github.com/kubectl-pixie/kubectl-pixie/probes/protocols/internal/fields"
	"github.com/kubectl-pixie/kubectl-pixie/probes/protocols/internal/names"
)

// Class ids of AMQP 0-9-1.
const (
	classConnection = 10
	classChannel    = 20
	classExchange   = 40
	classQueue      = 50
	classBasic      = 60
	classConfirm    = 85
	classTx         = 90
)

// sender says which peer may send a method.
type sender uint8

const (
	fromClient sender = 1 << iota
	fromServer
	fromEither = fromClient | fromServer
)

// method describes one class.method: its name, who sends it, the method
// ids that answer it (none: asynchronous), whether a content (header and
// body frames) follows it, and where its no-wait bit is (-1: none).
type method struct {
	name    string
	from    sender
	replies []uint16
	content bool
	// noWait: bit index in the bits octet after the fixed arguments read
	// by args; -1 when the method has no such bit.
	noWait int8
	// reply: this method answers another (an "-ok"); never a row itself.
	reply bool
	// secret: its arguments carry credentials; they are never read.
	secret bool
}

func mkey(class, id uint16) uint32 { return uint32(class)<<16 | uint32(id) }

var methods = map[uint32]*method{
	mkey(10, 10): {name: "connection.start", from: fromServer, replies: []uint16{11}, noWait: -1},
	mkey(10, 11): {name: "connection.start-ok", from: fromClient, reply: true, secret: true, noWait: -1},
	mkey(10, 20): {name: "connection.secure", from: fromServer, replies: []uint16{21}, secret: true, noWait: -1},
	mkey(10, 21): {name: "connection.secure-ok", from: fromClient, reply: true, secret: true, noWait: -1},
	mkey(10, 30): {name: "connection.tune", from: fromServer, replies: []uint16{31}, noWait: -1},
	mkey(10, 31): {name: "connection.tune-ok", from: fromClient, reply: true, noWait: -1},
	mkey(10, 40): {name: "connection.open", from: fromClient, replies: []uint16{41}, noWait: -1},
	mkey(10, 41): {name: "connection.open-ok", from: fromServer, reply: true, noWait: -1},
	mkey(10, 50): {name: "connection.close", from: fromEither, replies: []uint16{51}, noWait: -1},
	mkey(10, 51): {name: "connection.close-ok", from: fromEither, reply: true, noWait: -1},
	mkey(10, 60): {name: "connection.blocked", from: fromServer, noWait: -1},
	mkey(10, 61): {name: "connection.unblocked", from: fromServer, noWait: -1},
	mkey(10, 70): {name: "connection.update-secret", from: fromServer, replies: []uint16{71}, secret: true, noWait: -1},
	mkey(10, 71): {name: "connection.update-secret-ok", from: fromClient, reply: true, noWait: -1},

	mkey(20, 10): {name: "channel.open", from: fromClient, replies: []uint16{11}, noWait: -1},
	mkey(20, 11): {name: "channel.open-ok", from: fromServer, reply: true, noWait: -1},
	mkey(20, 20): {name: "channel.flow", from: fromEither, replies: []uint16{21}, noWait: -1},
	mkey(20, 21): {name: "channel.flow-ok", from: fromEither, reply: true, noWait: -1},
	mkey(20, 40): {name: "channel.close", from: fromEither, replies: []uint16{41}, noWait: -1},
	mkey(20, 41): {name: "channel.close-ok", from: fromEither, reply: true, noWait: -1},

	mkey(40, 10): {name: "exchange.declare", from: fromClient, replies: []uint16{11}, noWait: 4},
	mkey(40, 11): {name: "exchange.declare-ok", from: fromServer, reply: true, noWait: -1},
	mkey(40, 20): {name: "exchange.delete", from: fromClient, replies: []uint16{21}, noWait: 1},
	mkey(40, 21): {name: "exchange.delete-ok", from: fromServer, reply: true, noWait: -1},
	mkey(40, 30): {name: "exchange.bind", from: fromClient, replies: []uint16{31}, noWait: 0},
	mkey(40, 31): {name: "exchange.bind-ok", from: fromServer, reply: true, noWait: -1},
	mkey(40, 40): {name: "exchange.unbind", from: fromClient, replies: []uint16{51}, noWait: 0},
	mkey(40, 51): {name: "exchange.unbind-ok", from: fromServer, reply: true, noWait: -1},

	mkey(50, 10): {name: "queue.declare", from: fromClient, replies: []uint16{11}, noWait: 4},
	mkey(50, 11): {name: "queue.declare-ok", from: fromServer, reply: true, noWait: -1},
	mkey(50, 20): {name: "queue.bind", from: fromClient, replies: []uint16{21}, noWait: 0},
	mkey(50, 21): {name: "queue.bind-ok", from: fromServer, reply: true, noWait: -1},
	mkey(50, 30): {name: "queue.purge", from: fromClient, replies: []uint16{31}, noWait: 0},
	mkey(50, 31): {name: "queue.purge-ok", from: fromServer, reply: true, noWait: -1},
	mkey(50, 40): {name: "queue.delete", from: fromClient, replies: []uint16{41}, noWait: 2},
	mkey(50, 41): {name: "queue.delete-ok", from: fromServer, reply: true, noWait: -1},
	mkey(50, 50): {name: "queue.unbind", from: fromClient, replies: []uint16{51}, noWait: -1},
	mkey(50, 51): {name: "queue.unbind-ok", from: fromServer, reply: true, noWait: -1},

	mkey(60, 10):  {name: "basic.qos", from: fromClient, replies: []uint16{11}, noWait: -1},
	mkey(60, 11):  {name: "basic.qos-ok", from: fromServer, reply: true, noWait: -1},
	mkey(60, 20):  {name: "basic.consume", from: fromClient, replies: []uint16{21}, noWait: 3},
	mkey(60, 21):  {name: "basic.consume-ok", from: fromServer, reply: true, noWait: -1},
	mkey(60, 30):  {name: "basic.cancel", from: fromEither, replies: []uint16{31}, noWait: 0},
	mkey(60, 31):  {name: "basic.cancel-ok", from: fromEither, reply: true, noWait: -1},
	mkey(60, 40):  {name: "basic.publish", from: fromClient, content: true, noWait: -1},
	mkey(60, 50):  {name: "basic.return", from: fromServer, content: true, noWait: -1},
	mkey(60, 60):  {name: "basic.deliver", from: fromServer, content: true, noWait: -1},
	mkey(60, 70):  {name: "basic.get", from: fromClient, replies: []uint16{71, 72}, noWait: -1},
	mkey(60, 71):  {name: "basic.get-ok", from: fromServer, reply: true, content: true, noWait: -1},
	mkey(60, 72):  {name: "basic.get-empty", from: fromServer, reply: true, noWait: -1},
	mkey(60, 80):  {name: "basic.ack", from: fromEither, noWait: -1},
	mkey(60, 90):  {name: "basic.reject", from: fromClient, noWait: -1},
	mkey(60, 100): {name: "basic.recover-async", from: fromClient, noWait: -1},
	mkey(60, 110): {name: "basic.recover", from: fromClient, replies: []uint16{111}, noWait: -1},
	mkey(60, 111): {name: "basic.recover-ok", from: fromServer, reply: true, noWait: -1},
	mkey(60, 120): {name: "basic.nack", from: fromEither, noWait: -1},

	mkey(85, 10): {name: "confirm.select", from: fromClient, replies: []uint16{11}, noWait: 0},
	mkey(85, 11): {name: "confirm.select-ok", from: fromServer, reply: true, noWait: -1},

	mkey(90, 10): {name: "tx.select", from: fromClient, replies: []uint16{11}, noWait: -1},
	mkey(90, 11): {name: "tx.select-ok", from: fromServer, reply: true, noWait: -1},
	mkey(90, 20): {name: "tx.commit", from: fromClient, replies: []uint16{21}, noWait: -1},
	mkey(90, 21): {name: "tx.commit-ok", from: fromServer, reply: true, noWait: -1},
	mkey(90, 30): {name: "tx.rollback", from: fromClient, replies: []uint16{31}, noWait: -1},
	mkey(90, 31): {name: "tx.rollback-ok", from: fromServer, reply: true, noWait: -1},
}

// args are the arguments a record shows, read from a method frame.
type args struct {
	exchange, routingKey, queue string
	replyCode                   int
	noWait                      bool
}

// reader reads AMQP fields from a method payload.
type reader struct{ fields.Reader }

// shortstr reads a short string (at most 255 bytes) as printable text.
func (r *reader) shortstr() string {
	return names.Printable(r.Take(r.U8()))
}

// parseArgs reads the arguments of class.id that records show. Secret
// methods are never read.
func parseArgs(class, id uint16, p []byte) args {
	r := reader{fields.New(p)}
	var a args
	bit := func(i int8) {
		if i >= 0 {
			v := r.U8()
			a.noWait = r.OK && v&(1<<uint(i)) != 0
		}
	}
	m := methods[mkey(class, id)]
	if m == nil || m.secret {
		return a
	}
	switch mkey(class, id) {
	case mkey(10, 50), mkey(20, 40): // close: reply-code, reply-text, class, method
		a.replyCode = r.U16()
	case mkey(40, 10): // exchange.declare: reserved, exchange, type, bits
		r.Skip(2)
		a.exchange = r.shortstr()
		r.shortstr()
		bit(m.noWait)
	case mkey(40, 20): // exchange.delete
		r.Skip(2)
		a.exchange = r.shortstr()
		bit(m.noWait)
	case mkey(40, 30), mkey(40, 40): // exchange.bind/unbind: destination, source, key
		r.Skip(2)
		r.shortstr()
		a.exchange = r.shortstr()
		a.routingKey = r.shortstr()
		bit(m.noWait)
	case mkey(50, 10), mkey(50, 30), mkey(50, 40): // queue.declare/purge/delete
		r.Skip(2)
		a.queue = r.shortstr()
		bit(m.noWait)
	case mkey(50, 20), mkey(50, 50): // queue.bind/unbind: queue, exchange, key
		r.Skip(2)
		a.queue = r.shortstr()
		a.exchange = r.shortstr()
		a.routingKey = r.shortstr()
		bit(m.noWait)
	case mkey(50, 11): // queue.declare-ok: the (server-named) queue
		a.queue = r.shortstr()
	case mkey(60, 20): // basic.consume: queue, consumer-tag, bits
		r.Skip(2)
		a.queue = r.shortstr()
		r.shortstr()
		bit(m.noWait)
	case mkey(60, 30): // basic.cancel: consumer-tag, bits
		r.shortstr()
		bit(m.noWait)
	case mkey(60, 40): // basic.publish: reserved, exchange, key
		r.Skip(2)
		a.exchange = r.shortstr()
		a.routingKey = r.shortstr()
	case mkey(60, 50): // basic.return: reply-code, text, exchange, key
		a.replyCode = r.U16()
		r.shortstr()
		a.exchange = r.shortstr()
		a.routingKey = r.shortstr()
	case mkey(60, 60): // basic.deliver: consumer-tag, delivery-tag, redelivered, exchange, key
		r.shortstr()
		r.Skip(9)
		a.exchange = r.shortstr()
		a.routingKey = r.shortstr()
	case mkey(60, 70): // basic.get: reserved, queue
		r.Skip(2)
		a.queue = r.shortstr()
	case mkey(60, 71): // basic.get-ok: delivery-tag, redelivered, exchange, key
		r.Skip(9)
		a.exchange = r.shortstr()
		a.routingKey = r.shortstr()
	case mkey(85, 10): // confirm.select
		bit(m.noWait)
	}
	return a
}
