package http2

import (
	"encoding/binary"

	"github.com/kubectl-pixie/kubectl-pixie/probes/api"
	"github.com/kubectl-pixie/kubectl-pixie/probes/api/vocab"
	"github.com/kubectl-pixie/kubectl-pixie/probes/conn"
	"github.com/kubectl-pixie/kubectl-pixie/probes/protocols/internal/redact"
)

const (
	// maxStreams bounds the streams awaiting their response per
	// connection; past it the oldest is dropped (UnmatchedRequests).
	maxStreams = 256
	// maxTable bounds the HPACK dynamic table a peer may ask for; a
	// larger size update breaks the direction's decoding (counted).
	maxTable = 64 << 10
	// pendingFactor: what pending streams keep of their headers is
	// bounded by pendingFactor * MaxBufferedBytes; past it the oldest
	// streams are dropped (UnmatchedRequests), and new blocks past half of
	// it keep only the columns aggregates need.
	pendingFactor = 4
)

// Protocol is HTTP/2 (and gRPC over it) for the conn.Tracker registry.
type Protocol struct{}

// Name implements conn.Protocol.
func (Protocol) Name() string { return "http2" }

// Infer implements conn.Protocol: the client preface is certain (and
// says who is the client); frames at the start of a call without it (a
// connection open before tracing, or a server that writes its SETTINGS
// first) are a weak match, checked over up to three frames.
func (Protocol) Infer(b []byte, dir conn.Dir, transport uint8) conn.Inference {
	if transport == conn.TransportUDP || len(b) == 0 {
		return conn.Inference{}
	}
	if n := min(len(b), len(Preface)); string(b[:n]) == Preface[:n] {
		role := conn.RoleServer
		if dir == conn.Egress {
			role = conn.RoleClient
		}
		if n < len(Preface) {
			return conn.Inference{Conf: conn.NeedMore, Role: role}
		}
		return conn.Inference{Conf: conn.High, Role: role}
	}
	if plausibleRun(b, 3) && b[3] != frameContinuation {
		return conn.Inference{Conf: conn.Low}
	}
	return conn.Inference{}
}

// NewParser implements conn.Protocol.
func (Protocol) NewParser(env *conn.Env) conn.Parser { return NewParser(env) }

// stream is one request/response exchange.
type stream struct {
	id       uint32
	reqDir   conn.Dir
	start    uint64 // arrival of the request's first HEADERS frame
	req      *block
	resp     *block // the final response headers, once seen
	reqBody  []byte
	respBody []byte
	reqSize  int64
	respSize int64
	reqGap   bool // part of a body was lost: stop keeping it
	respGap  bool
	// bad: a header block of this stream could not be decoded (counted
	// once then): the stream is tracked only to be dropped quietly.
	bad bool
}

// side is one direction's frame parser and HPACK decoder.
type side struct {
	dir    conn.Dir
	synced bool // at a frame boundary we trust
	pre    int  // preface bytes matched so far; -1 when not expected
	hdr    [frameHeaderLen]byte
	hn     int
	// current frame
	fh      frameHeader
	inFrame bool
	left    int    // payload bytes still to come
	fstart  uint64 // arrival of the frame's first byte
	buf     []byte // payload of a buffered frame
	lost    bool   // bytes of the current frame were not seen
	skip    bool   // the payload is not needed
	padRead bool   // DATA: the pad length byte is read (or absent)
	dataLen int    // DATA: body bytes of the payload still to come
	// header block in progress (HEADERS or PUSH_PROMISE, CONTINUATIONs)
	blk       *block
	blkOpen   bool
	blkStream uint32
	blkEnd    bool // END_STREAM of its HEADERS
	blkPush   bool
	blkStart  uint64
	blkKeep   bool
	// blkLost: bytes of the block in progress were lost or over the bound.
	blkLost bool
	hbuf    []byte // the block in progress, decoded at END_HEADERS
	dec     tableDecoder
}

// Parser is the HTTP/2 parser of one connection.
type Parser struct {
	env     *conn.Env
	sides   [2]side
	streams map[uint32]*stream
	// pendingHdr: decoded header bytes held by pending streams.
	pendingHdr int
	// bodyBytes: body bytes kept by pending streams.
	bodyBytes int
	dead      bool
}

// streamOverhead is what a pending stream costs besides its headers and
// bodies (the struct, its blocks, the map entry).
const streamOverhead = 256

// HeldBytes implements conn.Sizer: the HPACK tables, the frame and header
// block buffers, and what pending streams keep.
func (p *Parser) HeldBytes() int {
	n := p.pendingHdr + p.bodyBytes + len(p.streams)*streamOverhead
	for i := range p.sides {
		s := &p.sides[i]
		n += s.dec.size + cap(s.buf) + cap(s.hbuf)
	}
	return n
}

// NewParser returns a parser for one connection.
func NewParser(env *conn.Env) *Parser {
	p := &Parser{env: env, streams: make(map[uint32]*stream)}
	for i := range p.sides {
		s := &p.sides[i]
		s.dir = conn.Dir(i + 1)
		s.pre = -1
		if env.Fresh {
			s.synced, s.pre = true, 0
		}
		p.resetTable(s)
	}
	return p
}

// resetTable empties s's dynamic table: bytes were lost (they may have
// held insertions), or a block could not be parsed to its end. That is
// always safe (see tableDecoder): references to what it held become
// unknown, never wrong. A connection traced from its middle starts so.
func (p *Parser) resetTable(s *side) {
	s.dec.reset()
	s.dec.maxLen = p.maxBuf()
}

func (p *Parser) maxBuf() int {
	if n := p.env.MaxBufferedBytes; n > 0 {
		return n
	}
	return conn.DefaultMaxBufferedBytes
}

// Feed implements conn.Parser.
func (p *Parser) Feed(c *conn.Chunk) {
	if p.dead || (c.Dir != conn.Egress && c.Dir != conn.Ingress) || c.EOF {
		return
	}
	s := &p.sides[c.Dir-1]
	if c.Gap > 0 && len(c.Data) == 0 {
		p.gap(s, c)
		return
	}
	b := c.Data
	if !s.synced && !p.resync(s, b) {
		p.env.Stats.DroppedBytes += uint64(len(b))
		return
	}
	// Every step consumes at least one byte.
	for len(b) > 0 && s.synced {
		b = b[p.step(s, b, c):]
	}
	if len(b) > 0 {
		p.env.Stats.DroppedBytes += uint64(len(b))
	}
}

// resync accepts a call that starts with the preface or a plausible
// frame as a frame boundary. The HPACK table starts over there: the
// bytes skipped until now may have added entries.
func (p *Parser) resync(s *side, b []byte) bool {
	if n := min(len(b), len(Preface)); string(b[:n]) == Preface[:n] {
		s.synced, s.pre = true, 0
	} else if len(b) >= frameHeaderLen && b[3] != frameContinuation && plausibleRun(b, -1) {
		// Every frame of the call must look right: a read that starts
		// inside a frame rarely passes that.
		s.synced, s.pre = true, -1
	} else {
		return false
	}
	p.resetTable(s)
	return true
}

// step consumes a prefix of b (at least one byte).
func (p *Parser) step(s *side, b []byte, c *conn.Chunk) int {
	if s.pre >= 0 {
		n := min(len(b), len(Preface)-s.pre)
		switch {
		case string(b[:n]) == Preface[s.pre:s.pre+n]:
			s.pre += n
			if s.pre == len(Preface) {
				s.pre = -1
			}
			return n
		case s.pre > 0:
			p.unsync(s, true)
			return n
		}
		s.pre = -1 // no preface (the server's side): frames from here
	}
	if !s.inFrame {
		if s.hn == 0 {
			s.fstart = c.WireNs()
		}
		n := min(len(b), frameHeaderLen-s.hn)
		copy(s.hdr[s.hn:], b[:n])
		s.hn += n
		if s.hn == frameHeaderLen {
			s.hn = 0
			p.begin(s, c)
		}
		return n
	}
	n := min(len(b), s.left)
	switch {
	case s.fh.typ == frameData:
		p.data(s, b[:n])
	case !s.skip:
		s.buf = append(s.buf, b[:n]...)
	}
	s.left -= n
	if s.left == 0 {
		p.end(s, c)
	}
	return n
}

// begin starts a frame whose header is in s.hdr.
func (p *Parser) begin(s *side, c *conn.Chunk) {
	h := parseFrameHeader(s.hdr[:])
	if s.blkOpen != (h.typ == frameContinuation) || (s.blkOpen && h.stream != s.blkStream) {
		// A header block must continue on its stream without any other
		// frame in between: these bytes are not what we think.
		p.unsync(s, true)
		return
	}
	s.fh, s.inFrame, s.left = h, true, h.length
	s.buf, s.lost, s.skip = s.buf[:0], false, false
	switch h.typ {
	case frameData:
		s.padRead = h.flags&flagPadded == 0
		s.dataLen = h.length
	case frameHeaders, frameContinuation, framePushPromise, frameRSTStream, frameGoAway:
		if h.length > p.maxBuf() {
			s.skip, s.lost = true, true
			p.env.Stats.DroppedBytes += uint64(h.length)
		}
	default:
		s.skip = true
	}
	if s.left == 0 {
		p.end(s, c)
	}
}

// data handles DATA payload bytes.
func (p *Parser) data(s *side, b []byte) {
	if !s.padRead && len(b) > 0 {
		s.padRead = true
		s.dataLen = s.fh.length - 1 - int(b[0])
		b = b[1:]
		if s.dataLen < 0 {
			p.env.Stats.ParseErrors++
			s.dataLen = 0
		}
	}
	n := min(len(b), s.dataLen)
	s.dataLen -= n
	if n == 0 {
		return
	}
	st := p.streams[s.fh.stream]
	if st == nil || st.bad {
		return
	}
	if s.dir == st.reqDir {
		st.reqSize += int64(n)
		if !st.reqGap {
			st.reqBody = p.keep(st.reqBody, b[:n])
		}
	} else if st.resp != nil {
		st.respSize += int64(n)
		if !st.respGap {
			st.respBody = p.keep(st.respBody, b[:n])
		}
	}
}

// keep appends up to BodyLimit bytes (under full data access: the other
// modes keep no body).
func (p *Parser) keep(body, b []byte) []byte {
	if p.env.Mode() != api.DataAccessFull {
		return body
	}
	if room := p.env.BodyLimit - len(body); room > 0 {
		n := min(room, len(b))
		body = append(body, b[:n]...)
		p.bodyBytes += n
	}
	return body
}

// end handles a complete frame.
func (p *Parser) end(s *side, c *conn.Chunk) {
	s.inFrame = false
	h := s.fh
	buf := s.buf
	if cap(s.buf) > 16<<10 {
		s.buf = nil // do not pin a large buffer on an idle connection
	}
	switch h.typ {
	case frameData:
		if h.flags&flagEndStream != 0 {
			p.endStream(s, h.stream, c)
		}
	case frameHeaders, framePushPromise:
		frag, ok := fragment(h, buf)
		s.blk, s.blkOpen, s.blkStream = &block{}, true, h.stream
		s.blkEnd = h.typ == frameHeaders && h.flags&flagEndStream != 0
		s.blkPush = h.typ == framePushPromise
		s.blkStart = s.fstart
		s.blkKeep = !p.env.NoHeaders && !s.blkPush && p.pendingHdr < pendingFactor*p.maxBuf()/2
		p.fragment(s, frag, ok && !s.lost, h.flags&flagEndHeaders != 0, c)
	case frameContinuation:
		p.fragment(s, buf, !s.lost, h.flags&flagEndHeaders != 0, c)
	case frameRSTStream:
		if !s.lost && len(buf) == 4 {
			p.reset(h.stream)
		}
	case frameGoAway:
		if !s.lost && len(buf) >= 8 {
			p.goAway(s, binary.BigEndian.Uint32(buf)&0x7fffffff)
		}
	}
}

// fragment strips padding, priority and the promised stream id from a
// HEADERS or PUSH_PROMISE payload.
func fragment(h frameHeader, b []byte) ([]byte, bool) {
	pad := 0
	if h.flags&flagPadded != 0 {
		if len(b) < 1 {
			return nil, false
		}
		pad, b = int(b[0]), b[1:]
	}
	skip := 0
	if h.typ == frameHeaders && h.flags&flagPriority != 0 {
		skip = 5
	}
	if h.typ == framePushPromise {
		skip = 4
	}
	if len(b) < skip+pad {
		return nil, false
	}
	return b[skip : len(b)-pad], true
}

// fragment adds a header block fragment and decodes the block at
// END_HEADERS.
func (p *Parser) fragment(s *side, frag []byte, ok, endHeaders bool, c *conn.Chunk) {
	switch {
	case !ok:
		s.blkLost = true
	case s.blkLost:
	case len(s.hbuf)+len(frag) > p.maxBuf():
		p.env.Stats.DroppedBytes += uint64(len(s.hbuf) + len(frag))
		s.blkLost = true
	default:
		s.hbuf = append(s.hbuf, frag...)
	}
	if !endHeaders {
		return
	}
	bad := s.blkLost
	if !bad {
		blk := s.blk
		bad = s.dec.decode(s.hbuf, func(name, value string, known bool) {
			if known {
				blk.field(name, value, s.blkKeep, p.maxBuf())
			} else {
				blk.unknown++
			}
		}) != nil
	}
	s.hbuf, s.blkLost = s.hbuf[:0], false
	if cap(s.hbuf) > 16<<10 {
		s.hbuf = nil
	}
	if bad {
		// The block's insertions are lost with it.
		p.resetTable(s)
	}
	p.finish(s, c, bad)
}

// finish handles a complete header block.
func (p *Parser) finish(s *side, c *conn.Chunk, bad bool) {
	blk, id := s.blk, s.blkStream
	s.blk, s.blkOpen = nil, false
	if s.blkPush {
		if !bad {
			p.env.Stats.Pushes++ // pushed responses have no request
		}
		return
	}
	st := p.streams[id]
	// Which message the block is follows from the stream's state; the
	// fields a block needs for that must have decoded. A block of a
	// stream not seen yet is a request (or a response whose request we
	// missed): it needs its pseudo-headers.
	switch {
	case bad:
	case st != nil && !st.bad && s.dir == st.reqDir:
		if blk.method != "" || blk.path != "" {
			bad = true // a second request on one stream: not what we think
		}
	case st != nil && !st.bad && st.resp == nil:
		bad = blk.status == "" // response headers whose :status is unknown
	case st == nil && id%2 == 0 && blk.status != "":
	case st == nil && id%2 == 1:
		switch {
		case blk.method != "" && blk.path != "", blk.status != "":
		case blk.unknown > 0 || blk.method != "" || blk.path != "":
			bad = true // a request whose :method or :path is unknown or missing
		}
		// Else trailers of a stream that began before the trace.
		if !bad && blk.method == "" && blk.status == "" && s.blkEnd {
			p.env.Stats.UnmatchedResponses++
		}
	}
	if bad {
		// The block referred to table entries never seen (the trace
		// started mid-connection, or bytes were lost) or its own bytes
		// were lost: the fields that say what it is are unknown, so the
		// stream makes no record.
		p.env.Stats.ParseErrors++
		switch {
		case st != nil && !st.bad:
			st.bad = true
			p.env.Stats.UnmatchedRequests++
		case st == nil && p.room():
			st = &stream{id: id, reqDir: s.dir, bad: true}
			p.streams[id] = st
		}
		if st != nil && s.blkEnd && s.dir != st.reqDir {
			p.remove(st)
		}
		return
	}
	switch {
	case st != nil && s.dir == st.reqDir:
		p.trailers(s, st, blk, c) // request trailers
	case blk.method != "":
		p.request(s, id, blk)
	case blk.status != "" && st == nil && id%2 == 0:
		// A pushed response (counted at its PUSH_PROMISE): no request.
	case blk.status != "":
		p.response(s, st, blk, c)
	case st != nil:
		p.trailers(s, st, blk, c)
	}
}

// room makes room for one more stream, dropping the oldest if needed.
func (p *Parser) room() bool {
	if len(p.streams) >= maxStreams {
		p.dropOldest(nil)
	}
	return true
}

// fit drops the oldest streams other than keep while the kept headers
// exceed their bound.
func (p *Parser) fit(keep *stream) {
	for p.pendingHdr > pendingFactor*p.maxBuf() && len(p.streams) > 1 {
		p.dropOldest(keep)
	}
}

func (p *Parser) dropOldest(keep *stream) {
	var oldest *stream
	for _, st := range p.streams {
		if st != keep && (oldest == nil || st.id < oldest.id) {
			oldest = st
		}
	}
	if oldest == nil {
		return
	}
	if !oldest.bad {
		p.env.Stats.UnmatchedRequests++
	}
	p.remove(oldest)
}

func (p *Parser) request(s *side, id uint32, blk *block) {
	if p.env.Role == conn.RoleUnknown {
		// Requests are sent by clients (the Tracker reads Role when it
		// fills a record's trace_role).
		p.env.Role = conn.RoleServer
		if s.dir == conn.Egress {
			p.env.Role = conn.RoleClient
		}
	}
	if old := p.streams[id]; old != nil {
		if !old.bad {
			p.env.Stats.UnmatchedRequests++
		}
		p.remove(old)
	}
	p.room()
	st := &stream{id: id, reqDir: s.dir, start: s.blkStart, req: blk}
	p.streams[id] = st
	p.pendingHdr += blk.mem
	p.fit(st)
}

func (p *Parser) response(s *side, st *stream, blk *block, c *conn.Chunk) {
	if st == nil || st.reqDir == s.dir {
		p.env.Stats.UnmatchedResponses++
		return
	}
	if st.bad {
		if s.blkEnd {
			p.remove(st)
		}
		return
	}
	if code := statusCode(blk.status); code >= 100 && code < 200 {
		return // interim (100 Continue, 103 Early Hints): the final one follows
	}
	if st.resp != nil {
		p.env.Stats.ParseErrors++ // a second final response
		return
	}
	st.resp = blk
	p.pendingHdr += blk.mem
	p.fit(st)
	if s.blkEnd {
		p.complete(st, c)
	}
}

// trailers merges a block without pseudo-headers into the stream's
// request or response.
func (p *Parser) trailers(s *side, st *stream, blk *block, c *conn.Chunk) {
	if st.bad {
		if s.blkEnd && s.dir != st.reqDir {
			p.remove(st)
		}
		return
	}
	to := st.req
	if s.dir != st.reqDir {
		if st.resp == nil {
			// Trailers before any response headers: malformed.
			p.env.Stats.ParseErrors++
			p.env.Stats.UnmatchedRequests++
			p.remove(st)
			return
		}
		to = st.resp
	}
	to.unknown += blk.unknown
	if blk.grpcStatus != "" {
		to.grpcStatus = blk.grpcStatus
	}
	if blk.grpcMessage != "" {
		to.grpcMessage = blk.grpcMessage
	}
	for k, v := range blk.headers {
		size := len(k) + len(v) + 32
		if to.mem+size > p.maxBuf() {
			to.dropped = true
			continue
		}
		if to.headers == nil {
			to.headers = make(map[string]string, len(blk.headers))
		}
		to.headers[k] = v
		to.mem += size
		p.pendingHdr += size
	}
	p.fit(st)
	if s.blkEnd && s.dir != st.reqDir {
		p.complete(st, c)
	}
}

// endStream handles END_STREAM on a DATA frame.
func (p *Parser) endStream(s *side, id uint32, c *conn.Chunk) {
	st := p.streams[id]
	if st == nil || s.dir == st.reqDir || st.resp == nil {
		return
	}
	p.complete(st, c)
}

// reset handles RST_STREAM: the exchange ended without its response.
func (p *Parser) reset(id uint32) {
	if st := p.streams[id]; st != nil {
		if !st.bad {
			p.env.Stats.UnmatchedRequests++
		}
		p.remove(st)
	}
}

// goAway drops the streams a server says it never processed.
func (p *Parser) goAway(s *side, last uint32) {
	for id, st := range p.streams {
		if id > last && st.reqDir != s.dir {
			if !st.bad {
				p.env.Stats.UnmatchedRequests++
			}
			p.remove(st)
		}
	}
}

func (p *Parser) remove(st *stream) {
	if st.req != nil {
		p.pendingHdr -= st.req.mem
	}
	if st.resp != nil {
		p.pendingHdr -= st.resp.mem
	}
	p.bodyBytes -= len(st.reqBody) + len(st.respBody)
	delete(p.streams, st.id)
}

// complete emits a stream whose response ended.
func (p *Parser) complete(st *stream, c *conn.Chunk) {
	p.remove(st)
	req, resp := st.req, st.resp
	ev := &api.HTTPEvent{
		Header:       api.Header{Table: api.TableHTTPEvents, V: api.Version},
		MajorVersion: 2,
		ReqMethod:    req.method,
		ReqPath:      req.path,
		ReqHeaders:   req.headers,
		ReqBody:      string(st.reqBody),
		ReqBodySize:  st.reqSize,
		RespStatus:   statusCode(resp.status),
		RespHeaders:  resp.headers,
		RespBody:     string(st.respBody),
		RespBodySize: st.respSize,
	}
	// Fields that did not decode may hide the content type (is it gRPC?)
	// or the grpc-status: then the call is counted, not guessed.
	unsure := func(b *block) bool { return b.contentType == "" && b.unknown > 0 }
	switch {
	case isGRPC(req.contentType) || isGRPC(resp.contentType):
		if resp.grpcStatus == "" && resp.unknown > 0 {
			p.env.Stats.ParseErrors++
			return
		}
		ev.Protocol = vocab.ProtocolGRPC
		ev.GRPCStatus = resp.grpcStatus
		ev.RespMessage = resp.grpcMessage
	case req.method == "POST" && unsure(req) && unsure(resp):
		// gRPC calls are POSTs: another method cannot be one.
		p.env.Stats.ParseErrors++
		return
	}
	redact.HTTP(ev, p.env.Mode())
	p.env.Out.Emit(ev, st.start, c.WireNs())
}

// gap handles bytes missing from s's stream.
func (p *Parser) gap(s *side, c *conn.Chunk) {
	if !s.synced {
		return
	}
	if !s.inFrame || s.pre >= 0 || c.Gap > uint64(s.left) {
		// A frame header was lost: the frame boundaries are unknown.
		p.unsync(s, false)
		return
	}
	n := int(c.Gap)
	s.left -= n
	switch s.fh.typ {
	case frameData:
		if st := p.streams[s.fh.stream]; st != nil {
			if s.dir == st.reqDir {
				st.reqGap = true
			} else {
				st.respGap = true
			}
		}
		if !s.padRead {
			s.padRead = true
			s.dataLen = s.left // the padding is unknown: count it as body
			n = 0
		}
		k := min(n, s.dataLen)
		s.dataLen -= k
		if st := p.streams[s.fh.stream]; st != nil && k > 0 {
			if s.dir == st.reqDir {
				st.reqSize += int64(k)
			} else if st.resp != nil {
				st.respSize += int64(k)
			}
		}
	default:
		s.lost = true
	}
	if s.left == 0 {
		p.end(s, c)
	}
}

// unsync gives up on s's frame boundaries until a call starts with a
// plausible frame. Header blocks may have been lost with the bytes, so
// the direction's HPACK table starts over (see resetTable).
func (p *Parser) unsync(s *side, parseErr bool) {
	if parseErr {
		p.env.Stats.ParseErrors++
	}
	p.env.Stats.Resyncs++
	if s.blkOpen {
		p.finish(s, nil, true)
	}
	s.synced, s.inFrame, s.hn, s.pre = false, false, 0, -1
	s.blkLost, s.hbuf = false, s.hbuf[:0]
	p.resetTable(s)
	s.buf = s.buf[:0]
}

// End implements conn.Parser.
func (p *Parser) End(endNs uint64, why conn.EndReason) {
	for _, st := range p.streams {
		if !st.bad {
			p.env.Stats.UnmatchedRequests++
		}
	}
	p.streams = nil
	p.pendingHdr, p.bodyBytes = 0, 0
	for i := range p.sides {
		s := &p.sides[i]
		s.dec.reset()
		s.buf, s.hbuf = nil, nil
	}
	p.dead = true
}
