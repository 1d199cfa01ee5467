// Package amqp parses AMQP 0-9-1 (RabbitMQ) for the connection tracker:
// frames of both directions, synchronous methods paired by channel with
// the method that answers them (their -ok, or the close that refused
// them), asynchronous ones (basic.publish, deliver, ack) as one-way
// records without latency. Bodies are never kept, credentials never read.
package amqp

import (
	"bytes"
	"encoding/binary"

	"github.com/kubectl-pixie/kubectl-pixie/probes/api"
	"github.com/kubectl-pixie/kubectl-pixie/probes/api/vocab"
	"github.com/kubectl-pixie/kubectl-pixie/probes/conn"
	"github.com/kubectl-pixie/kubectl-pixie/probes/protocols/internal/framing"
)

// Frame types and the byte that ends every frame.
const (
	frameMethod    = 1
	frameHeader    = 2
	frameBody      = 3
	frameHeartbeat = 8
	frameEnd       = 0xCE
)

const (
	// maxFrameSize is far above any broker's frame_max (RabbitMQ allows
	// 128 MiB): a bigger size means the stream is not AMQP or out of sync.
	maxFrameSize = 1 << 28
	// keepMethod bounds the method arguments kept: the names records show
	// are short strings (<= 255 bytes) near the start.
	keepMethod = 1024
	// maxChannels bounds channel state per connection (RabbitMQ's default
	// channel_max is 2047).
	maxChannels = 4096
)

var protocolHeader = []byte("AMQP\x00\x00\x09\x01")

// Protocol implements conn.Protocol.
type Protocol struct{}

func (Protocol) Name() string { return vocab.ProtocolAMQP }

// Infer recognises the protocol header a client sends first, or (for a
// connection seen mid-stream) a whole method frame of a known method
// starting the call, checked by its frame-end byte.
func (Protocol) Infer(b []byte, dir conn.Dir, transport uint8) conn.Inference {
	if transport == conn.TransportUDP || len(b) == 0 {
		return conn.Inference{}
	}
	if b[0] == 'A' {
		n := min(len(b), len(protocolHeader))
		if !bytes.Equal(b[:n], protocolHeader[:n]) {
			return conn.Inference{}
		}
		if n < len(protocolHeader) {
			return conn.Inference{Conf: conn.NeedMore}
		}
		return conn.Inference{Conf: conn.High, Role: roleOf(fromClient, dir)}
	}
	m, conf := methodFrame(b)
	if conf != conn.High {
		return conn.Inference{Conf: conf}
	}
	return conn.Inference{Conf: conn.High, Role: roleOf(m.from, dir)}
}

// methodFrame tells whether b starts with a whole method frame of a known
// method (High), could (NeedMore), or does not.
func methodFrame(b []byte) (*method, conn.Confidence) {
	if len(b) == 0 || b[0] != frameMethod {
		return nil, conn.NoMatch
	}
	if len(b) < 11 {
		return nil, conn.NeedMore
	}
	size := binary.BigEndian.Uint32(b[3:7])
	m := methods[mkey(binary.BigEndian.Uint16(b[7:9]), binary.BigEndian.Uint16(b[9:11]))]
	if m == nil || size < 4 || size > maxFrameSize {
		return nil, conn.NoMatch
	}
	if uint64(len(b)) < 8+uint64(size) {
		if size > 4096 {
			return nil, conn.NoMatch // a capture too short to check the end
		}
		return nil, conn.NeedMore
	}
	if b[7+size] != frameEnd {
		return nil, conn.NoMatch
	}
	return m, conn.High
}

// roleOf is the role of the traced process that sees a method of from in
// direction dir.
func roleOf(from sender, dir conn.Dir) conn.Role {
	switch {
	case from == fromEither:
		return conn.RoleUnknown
	case (from == fromClient) == (dir == conn.Egress):
		return conn.RoleClient
	default:
		return conn.RoleServer
	}
}

func (Protocol) NewParser(env *conn.Env) conn.Parser { return NewParser(env) }

// request is a method waiting for its answer or its content header.
type request struct {
	ev    *api.AMQPEvent
	m     *method
	dir   conn.Dir
	start uint64
	end   uint64
}

// channel is one channel's state: per sending direction, the synchronous
// request awaiting an answer (a peer sends one at a time per channel), and
// the method waiting for its content header.
type channel struct {
	pending [2]*request
	content *request
	// early: by sending direction, an answer reported before its
	// request (see method).
	early [2]*answer
}

// answer is a reply method kept until its request is reported.
type answer struct {
	class, id            uint16
	name                 string
	queue                string
	exchange, routingKey string // basic.get-ok's
	size, bodySize       int64
	end                  uint64
	needHeader           bool // a get-ok whose content header is to come
}

// Parser pairs one connection's AMQP methods.
type Parser struct {
	env   *conn.Env
	fr    framing.Duplex
	chans map[uint16]*channel
	keep  int
}

// NewParser returns a parser for a connection with env's role.
func NewParser(env *conn.Env) *Parser {
	p := &Parser{env: env, chans: map[uint16]*channel{}, keep: keepMethod}
	if env.MaxBufferedBytes > 0 {
		p.keep = max(min(p.keep, env.MaxBufferedBytes), 16)
	}
	p.fr = framing.NewDuplex(env.Stats, env.Fresh, p)
	return p
}

// Feed implements conn.Parser.
func (p *Parser) Feed(c *conn.Chunk) { p.fr.Feed(c) }

var frameEnds = []byte{frameEnd}

// Head reads the protocol header (at the start, or before a refusal) or a
// frame header; a method frame's header takes its class and method, which
// decide how much of the arguments is kept (none of secret ones).
func (p *Parser) Head(dir conn.Dir, hdr []byte) (framing.Head, bool) {
	if hdr[0] == 'A' {
		n := len(hdr)
		if !bytes.Equal(hdr, protocolHeader[:n]) {
			return framing.Head{}, false
		}
		return framing.Head{Len: min(n+1, len(protocolHeader))}, true
	}
	if len(hdr) < 7 {
		return framing.Head{Len: 7}, true
	}
	typ, size := hdr[0], binary.BigEndian.Uint32(hdr[3:7])
	h := framing.Head{Len: 7, Size: int(size), End: frameEnds}
	switch {
	case size > maxFrameSize:
		return h, false
	case typ == frameMethod && size >= 4:
		h.Len, h.Size = 11, int(size)-4
		if len(hdr) == 11 {
			if m := methods[mkey(binary.BigEndian.Uint16(hdr[7:]), binary.BigEndian.Uint16(hdr[9:]))]; m != nil && !m.secret {
				h.Keep = p.keep - 4
			}
		}
	case typ == frameHeader && size >= 12:
		h.Keep = 12 // class, weight, body size
	case typ == frameBody || typ == frameHeartbeat:
	default:
		return h, false
	}
	return h, true
}

func (p *Parser) Message(m *framing.Message, c *conn.Chunk) bool {
	if len(m.Header) >= 7 {
		p.frame(c, m)
	}
	return true
}

// Resync starts a direction at a whole method frame or the protocol header.
func (p *Parser) Resync(c *conn.Chunk) bool {
	_, conf := methodFrame(c.Data)
	return conf == conn.High || bytes.HasPrefix(c.Data, protocolHeader)
}

// Lost: frames, and with them requests or answers, may be missing: every
// waiting request is given up rather than paired on a guess.
func (p *Parser) Lost(dir conn.Dir, broken bool) { p.dropAll() }

func (p *Parser) dropAll() {
	for _, ch := range p.chans {
		p.countUnpaired(ch)
		if ch.content != nil {
			p.env.Stats.UnmatchedRequests++
		}
	}
	clear(p.chans)
}

// pendingOf is the request that dir's peer waits an answer for (nil
// channel: none).
func (ch *channel) pendingOf(dir conn.Dir) *request {
	if ch == nil {
		return nil
	}
	return ch.pending[dir]
}

// countUnpaired counts ch's requests waiting for an answer and its
// answers waiting for a request.
func (p *Parser) countUnpaired(ch *channel) {
	for _, e := range ch.early {
		if e != nil {
			p.env.Stats.UnmatchedResponses++
		}
	}
	for _, r := range ch.pending {
		if r != nil {
			p.env.Stats.UnmatchedRequests++
		}
	}
}

func (p *Parser) channel(id uint16) *channel {
	ch := p.chans[id]
	if ch == nil {
		if len(p.chans) >= maxChannels {
			return nil
		}
		ch = &channel{}
		p.chans[id] = ch
	}
	return ch
}

// frame handles a complete frame, which ended in chunk c.
func (p *Parser) frame(c *conn.Chunk, m *framing.Message) {
	switch m.Header[0] {
	case frameMethod:
		p.method(c, m)
	case frameHeader:
		ch := p.chans[binary.BigEndian.Uint16(m.Header[1:])]
		if ch == nil || len(m.Body) < 12 {
			return
		}
		bodySize := int64(min(binary.BigEndian.Uint64(m.Body[4:12]), 1<<62))
		if e := ch.early[c.Dir-1]; ch.content == nil && e != nil && e.needHeader {
			e.bodySize, e.needHeader = bodySize, false
			return
		}
		if ch.content == nil || ch.content.dir != c.Dir {
			return // content of a method not seen (mid-stream)
		}
		r := ch.content
		ch.content = nil
		r.ev.BodySize = bodySize
		p.emit(r)
	}
}

// got is a whole method frame.
type got struct {
	m         *method
	class, id uint16
	ch        uint16
	dir       conn.Dir
	start     uint64
	end       uint64
	size      int64 // on the wire
	a         args
}

// other is the direction of the peer's methods.
func (g *got) other() conn.Dir { return 1 - (g.dir - 1) }

func (p *Parser) method(c *conn.Chunk, f *framing.Message) {
	g := got{class: binary.BigEndian.Uint16(f.Header[7:]), id: binary.BigEndian.Uint16(f.Header[9:]),
		ch: binary.BigEndian.Uint16(f.Header[1:]), dir: c.Dir, start: f.Start, end: c.WireNs(),
		size: int64(len(f.Header)+f.Size) + 1}
	g.m = methods[mkey(g.class, g.id)]
	if g.m == nil {
		p.env.Stats.ParseErrors++
		return
	}
	ch := p.channel(g.ch)
	if ch == nil {
		p.env.Stats.UnmatchedRequests++
		return
	}
	g.a = parseArgs(g.class, g.id, f.Body)
	if r := ch.content; r != nil && r.dir == c.Dir {
		ch.content = nil // its content header never came
		p.emit(r)
	}
	if g.m.reply {
		p.reply(ch, &g)
		return
	}
	if g.class == classConnection && g.id == 50 || g.class == classChannel && g.id == 40 {
		p.closing(ch, &g)
	}
	p.request(ch, &g)
}

// reply pairs an answer with the request the peer waits on, or keeps it
// for a request reported after it.
func (p *Parser) reply(ch *channel, g *got) {
	other := g.other()
	r := ch.pending[other]
	if r == nil {
		// A client's writer thread can return from write(2) after
		// its reader got the answer: the tracer then reports the
		// answer first. Keep it for the request that follows.
		if ch.early[g.dir-1] != nil {
			p.env.Stats.UnmatchedResponses++
		}
		ch.early[g.dir-1] = &answer{class: g.class, id: g.id, name: g.m.name, queue: g.a.queue, size: g.size, end: g.end,
			exchange: g.a.exchange, routingKey: g.a.routingKey, needHeader: g.m.content}
		return
	}
	if !answers(r, g.class, g.id) || g.start < r.start {
		p.env.Stats.UnmatchedResponses++
		return
	}
	ch.pending[other] = nil
	p.answered(r, g.m.name, g.a.queue, g.size, g.end)
	if g.m.content {
		r.ev.Exchange, r.ev.RoutingKey = g.a.exchange, g.a.routingKey
		ch.content = r
		r.dir = g.dir
		return
	}
	p.emit(r)
	if g.class == classChannel && g.id == 41 && ch.pending == [2]*request{} && ch.content == nil && ch.early == [2]*answer{} {
		delete(p.chans, g.ch) // closed: its id may be reused
	}
}

// closing: a close answers the peer's waiting requests: they failed (or
// the connection or channel ended under them).
func (p *Parser) closing(ch *channel, g *got) {
	other := g.other()
	refuse := func(ch *channel) {
		if r := ch.pending[other]; r != nil && r.m.name != g.m.name {
			ch.pending[other] = nil
			r.ev.RespMethod, r.ev.ReplyCode = g.m.name, g.a.replyCode
			r.ev.RespBytes, r.end = g.size, g.end
			p.emit(r)
		}
	}
	if g.class == classConnection {
		for _, ch := range p.chans {
			refuse(ch)
		}
	} else {
		refuse(ch)
	}
}

// request records a method that is not an answer: one-way, waiting for
// its content, or waiting for its answer.
func (p *Parser) request(ch *channel, g *got) {
	ev := &api.AMQPEvent{
		Header:     api.Header{Table: api.TableAMQPEvents, V: api.Version},
		FrameType:  frameMethod,
		Channel:    int(g.ch),
		ClassID:    int(g.class),
		MethodID:   int(g.id),
		Exchange:   g.a.exchange,
		RoutingKey: g.a.routingKey,
		QueueName:  g.a.queue,
		Method:     g.m.name,
		ReplyCode:  g.a.replyCode,
		ReqBytes:   g.size,
	}
	r := &request{ev: ev, m: g.m, dir: g.dir, start: g.start, end: g.start}
	switch {
	case len(g.m.replies) > 0 && !g.a.noWait:
		if p.answeredBefore(ch, r, g.other()) {
			p.emit(r)
			return
		}
		if ch.pending[g.dir-1] != nil {
			p.env.Stats.UnmatchedRequests++ // a peer waits for one answer at a time
		}
		ch.pending[g.dir-1] = r
	case g.m.content:
		ch.content = r
	default:
		p.emit(r)
	}
}

// answeredBefore fills r's answer when it was reported before r: a reply
// kept early, or a close the peer sent after r started.
func (p *Parser) answeredBefore(ch *channel, r *request, other conn.Dir) bool {
	if e := ch.early[other]; e != nil {
		ch.early[other] = nil
		if answers(r, e.class, e.id) && e.end >= r.start {
			p.answered(r, e.name, e.queue, e.size, e.end)
			if m := methods[mkey(e.class, e.id)]; m.content {
				r.ev.Exchange, r.ev.RoutingKey, r.ev.BodySize = e.exchange, e.routingKey, e.bodySize
			}
			return true
		}
		p.env.Stats.UnmatchedResponses++
	}
	for _, cl := range [...]*request{ch.pending[other], p.chans[0].pendingOf(other)} {
		if cl != nil && r.m != cl.m && (cl.m.name == "channel.close" && cl.ev.Channel == r.ev.Channel || cl.m.name == "connection.close") && cl.start >= r.start {
			p.answered(r, cl.m.name, "", cl.ev.ReqBytes, cl.start)
			r.ev.ReplyCode = cl.ev.ReplyCode
			return true
		}
	}
	return false
}

// answered fills r's answer columns.
func (p *Parser) answered(r *request, name, queue string, size int64, end uint64) {
	r.ev.RespMethod = name
	r.ev.RespBytes = size
	r.end = end
	if r.ev.QueueName == "" {
		r.ev.QueueName = queue // a server-named queue
	}
}

// answers tells whether method class.id answers r.
func answers(r *request, class, id uint16) bool {
	if int(class) != r.ev.ClassID {
		return false
	}
	for _, want := range r.m.replies {
		if want == id {
			return true
		}
	}
	return false
}

func (p *Parser) emit(r *request) {
	p.env.Out.Emit(r.ev, r.start, r.end)
}

// End implements conn.Parser: methods waiting for their content header
// are shown without its body size; requests without answer are counted.
func (p *Parser) End(endNs uint64, why conn.EndReason) {
	for _, ch := range p.chans {
		p.countUnpaired(ch)
		if ch.content != nil {
			p.emit(ch.content)
		}
	}
	clear(p.chans)
}
