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

// stream is one direction's frame reassembly.
type stream struct {
	synced bool
	proto  int // bytes of the protocol header matched
	hdr    [7]byte
	nhdr   int
	typ    byte
	ch     uint16
	size   uint32
	got    uint32 // payload bytes consumed
	keep   int    // payload bytes to keep in buf
	buf    []byte
	start  uint64 // arrival of the frame's first byte
}

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
	dirs  [2]stream
	chans map[uint16]*channel
	keep  int
}

// NewParser returns a parser for a connection with env's role.
func NewParser(env *conn.Env) *Parser {
	p := &Parser{env: env, chans: map[uint16]*channel{}, keep: keepMethod}
	if env.MaxBufferedBytes > 0 {
		p.keep = max(min(p.keep, env.MaxBufferedBytes), 16)
	}
	p.dirs[0].synced = env.Fresh
	p.dirs[1].synced = env.Fresh
	return p
}

// Feed implements conn.Parser.
func (p *Parser) Feed(c *conn.Chunk) {
	if c.EOF || c.Dir != conn.Egress && c.Dir != conn.Ingress {
		return
	}
	s := &p.dirs[c.Dir-1]
	if c.Gap > 0 {
		if !s.synced {
			return
		}
		// Bytes of a payload past what is kept (bodies) may be missed.
		if s.nhdr == 7 && len(s.buf) >= s.keep && uint64(s.got)+c.Gap <= uint64(s.size) {
			s.got += uint32(c.Gap)
			return
		}
		p.lose(c.Dir)
		return
	}
	b := c.Data
	if !s.synced {
		if _, conf := methodFrame(b); conf != conn.High && !bytes.HasPrefix(b, protocolHeader) {
			p.env.Stats.DroppedBytes += uint64(len(b))
			return
		}
		*s = stream{synced: true, buf: s.buf[:0]}
	}
	for len(b) > 0 {
		if s.nhdr < 7 {
			if s.nhdr == 0 && (s.proto > 0 || b[0] == 'A') {
				// The protocol header, at the start or before a refusal.
				n := min(len(b), len(protocolHeader)-s.proto)
				if !bytes.Equal(b[:n], protocolHeader[s.proto:s.proto+n]) {
					p.bad(c.Dir)
					return
				}
				s.proto += n
				b = b[n:]
				if s.proto == len(protocolHeader) {
					s.proto = 0
				}
				continue
			}
			if s.nhdr == 0 {
				s.start = c.WireNs()
			}
			n := copy(s.hdr[s.nhdr:], b)
			s.nhdr += n
			b = b[n:]
			if s.nhdr < 7 {
				return
			}
			s.typ, s.ch = s.hdr[0], binary.BigEndian.Uint16(s.hdr[1:3])
			s.size = binary.BigEndian.Uint32(s.hdr[3:7])
			s.got, s.buf = 0, s.buf[:0]
			switch {
			case s.size > maxFrameSize:
				p.bad(c.Dir)
				return
			case s.typ == frameMethod && s.size >= 4:
				s.keep = 4 // the class and method decide how much more
			case s.typ == frameHeader && s.size >= 12:
				s.keep = 12 // class, weight, body size
			case s.typ == frameBody || s.typ == frameHeartbeat:
				s.keep = 0
			default:
				p.bad(c.Dir)
				return
			}
			continue
		}
		if s.got < s.size {
			if len(s.buf) < s.keep {
				n := min(s.keep-len(s.buf), len(b))
				s.buf = append(s.buf, b[:n]...)
				b = b[n:]
				s.got += uint32(n)
				if s.typ == frameMethod && len(s.buf) == 4 && s.keep == 4 {
					if m := methods[mkey(binary.BigEndian.Uint16(s.buf), binary.BigEndian.Uint16(s.buf[2:]))]; m != nil && !m.secret {
						s.keep = int(min(s.size, uint32(p.keep)))
					}
				}
				continue
			}
			n := uint32(min(uint64(len(b)), uint64(s.size-s.got)))
			b = b[n:]
			s.got += n
			continue
		}
		if b[0] != frameEnd {
			p.bad(c.Dir)
			return
		}
		b = b[1:]
		s.nhdr = 0
		p.frame(c, s)
	}
}

// bad: the stream is not framed as AMQP where it should be.
func (p *Parser) bad(dir conn.Dir) {
	p.env.Stats.ParseErrors++
	p.lose(dir)
}

// lose drops a direction's sync after lost or malformed bytes. Frames,
// and with them requests or answers, may be missing: every waiting
// request is given up rather than paired on a guess.
func (p *Parser) lose(dir conn.Dir) {
	p.env.Stats.Resyncs++
	s := &p.dirs[dir-1]
	*s = stream{buf: s.buf[:0]}
	p.dropAll()
}

func (p *Parser) dropAll() {
	for _, ch := range p.chans {
		p.countEarly(ch)
		for _, r := range ch.pending {
			if r != nil {
				p.env.Stats.UnmatchedRequests++
			}
		}
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

func (p *Parser) countEarly(ch *channel) {
	for _, e := range ch.early {
		if e != nil {
			p.env.Stats.UnmatchedResponses++
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

// frame handles a complete frame of s, which ended in chunk c.
func (p *Parser) frame(c *conn.Chunk, s *stream) {
	switch s.typ {
	case frameMethod:
		p.method(c, s)
	case frameHeader:
		ch := p.chans[s.ch]
		if ch == nil || len(s.buf) < 12 {
			return
		}
		bodySize := int64(min(binary.BigEndian.Uint64(s.buf[4:12]), 1<<62))
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

func (p *Parser) method(c *conn.Chunk, s *stream) {
	class, id := binary.BigEndian.Uint16(s.buf), binary.BigEndian.Uint16(s.buf[2:])
	m := methods[mkey(class, id)]
	if m == nil {
		p.env.Stats.ParseErrors++
		return
	}
	ch := p.channel(s.ch)
	if ch == nil {
		p.env.Stats.UnmatchedRequests++
		return
	}
	end := c.WireNs()
	size := int64(s.size) + 8
	a := parseArgs(class, id, s.buf[4:])
	if r := ch.content; r != nil && r.dir == c.Dir {
		ch.content = nil // its content header never came
		p.emit(r)
	}
	other := 1 - (c.Dir - 1)
	if m.reply {
		r := ch.pending[other]
		if r == nil {
			// A client's writer thread can return from write(2) after
			// its reader got the answer: the tracer then reports the
			// answer first. Keep it for the request that follows.
			if ch.early[c.Dir-1] != nil {
				p.env.Stats.UnmatchedResponses++
			}
			ch.early[c.Dir-1] = &answer{class: class, id: id, name: m.name, queue: a.queue, size: size, end: end,
				exchange: a.exchange, routingKey: a.routingKey, needHeader: m.content}
			return
		}
		if !answers(r, class, id) || s.start < r.start {
			p.env.Stats.UnmatchedResponses++
			return
		}
		ch.pending[other] = nil
		p.answered(r, m.name, a.queue, size, end)
		if m.content {
			r.ev.Exchange, r.ev.RoutingKey = a.exchange, a.routingKey
			ch.content = r
			r.dir = c.Dir
			return
		}
		p.emit(r)
		if class == classChannel && id == 41 && ch.pending == [2]*request{} && ch.content == nil && ch.early == [2]*answer{} {
			delete(p.chans, s.ch) // closed: its id may be reused
		}
		return
	}
	if class == classConnection && id == 50 || class == classChannel && id == 40 {
		// A close answers the peer's waiting requests: they failed
		// (or the connection or channel ended under them).
		refuse := func(ch *channel) {
			if r := ch.pending[other]; r != nil && r.m.name != m.name {
				ch.pending[other] = nil
				r.ev.RespMethod, r.ev.ReplyCode = m.name, a.replyCode
				r.ev.RespBytes, r.end = size, end
				p.emit(r)
			}
		}
		if class == classConnection {
			for _, ch := range p.chans {
				refuse(ch)
			}
		} else {
			refuse(ch)
		}
	}
	ev := &api.AMQPEvent{
		Header:     api.Header{Table: api.TableAMQPEvents, V: api.Version},
		FrameType:  frameMethod,
		Channel:    int(s.ch),
		ClassID:    int(class),
		MethodID:   int(id),
		Exchange:   a.exchange,
		RoutingKey: a.routingKey,
		QueueName:  a.queue,
		Method:     m.name,
		ReplyCode:  a.replyCode,
		ReqBytes:   size,
	}
	r := &request{ev: ev, m: m, dir: c.Dir, start: s.start, end: s.start}
	switch {
	case len(m.replies) > 0 && !a.noWait:
		if e := ch.early[other]; e != nil {
			ch.early[other] = nil
			if answers(r, e.class, e.id) && e.end >= r.start {
				p.answered(r, e.name, e.queue, e.size, e.end)
				if m := methods[mkey(e.class, e.id)]; m.content {
					r.ev.Exchange, r.ev.RoutingKey, r.ev.BodySize = e.exchange, e.routingKey, e.bodySize
				}
				p.emit(r)
				return
			}
			p.env.Stats.UnmatchedResponses++
		}
		// A close the peer sent after this request started (reported
		// first, as above) refused it.
		for _, cl := range [...]*request{ch.pending[other], p.chans[0].pendingOf(other)} {
			if cl != nil && r.m != cl.m && (cl.m.name == "channel.close" && cl.ev.Channel == int(s.ch) || cl.m.name == "connection.close") && cl.start >= r.start {
				p.answered(r, cl.m.name, "", cl.ev.ReqBytes, cl.start)
				r.ev.ReplyCode = cl.ev.ReplyCode
				p.emit(r)
				return
			}
		}
		if ch.pending[c.Dir-1] != nil {
			p.env.Stats.UnmatchedRequests++ // a peer waits for one answer at a time
		}
		ch.pending[c.Dir-1] = r
	case m.content:
		ch.content = r
	default:
		p.emit(r)
	}
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
		p.countEarly(ch)
		for _, r := range ch.pending {
			if r != nil {
				p.env.Stats.UnmatchedRequests++
			}
		}
		if ch.content != nil {
			p.emit(ch.content)
		}
	}
	clear(p.chans)
}
