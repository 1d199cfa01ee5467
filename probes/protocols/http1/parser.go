package http1

import (
	"bytes"

	"github.com/kubectl-pixie/kubectl-pixie/probes/api"
	"github.com/kubectl-pixie/kubectl-pixie/probes/conn"
	"github.com/kubectl-pixie/kubectl-pixie/probes/protocols/internal/redact"
)

const (
	// maxPending bounds pipelined requests waiting for a response; their
	// header bytes are bounded too (Env.MaxBufferedBytes).
	maxPending = 32
	// maxChunkLine bounds a chunk-size line (with extensions) and a
	// trailer line.
	maxChunkLine = 4 << 10
	// maxChunkSize rejects absurd chunk sizes (they mean lost framing).
	maxChunkSize = 1 << 40
)

// Protocol is HTTP/1.x for the conn.Tracker registry.
type Protocol struct {
	// H2C takes a connection over once it upgrades to HTTP/2 (a 101
	// answering Upgrade: h2c); without it the parser stops there.
	H2C Upgrader
}

// Name implements conn.Protocol.
func (Protocol) Name() string { return "http" }

// Infer implements conn.Protocol: a complete request line or status line
// at the start of a call is a certain match, a valid prefix of one asks
// for more bytes.
func (Protocol) Infer(b []byte, dir conn.Dir, transport uint8) conn.Inference {
	if transport == conn.TransportUDP || len(b) == 0 {
		return conn.Inference{}
	}
	if b[0] == 'H' {
		if r, _ := statusLine(b); r != lineBad {
			role := conn.RoleClient
			if dir == conn.Egress {
				role = conn.RoleServer
			}
			return conn.Inference{Conf: confidence(r, len(b), 13), Role: role}
		}
	}
	r, _ := requestLine(b)
	role := conn.RoleServer
	if dir == conn.Egress {
		role = conn.RoleClient
	}
	return conn.Inference{Conf: confidence(r, len(b), 256), Role: role}
}

// confidence: a complete start line is certain, and so is a long valid
// prefix of one (a long URL split over calls); a short prefix needs more.
// Only a parsed message makes a record, so certainty here invents nothing.
func confidence(r lineResult, n, long int) conn.Confidence {
	switch {
	case r == lineOK, r == linePrefix && n >= long:
		return conn.High
	case r == linePrefix:
		return conn.NeedMore
	}
	return conn.NoMatch
}

// NewParser implements conn.Protocol.
func (p Protocol) NewParser(env *conn.Env) conn.Parser {
	parser := NewParser(env)
	parser.h2c = p.H2C
	return parser
}

// Parser states of one direction.
const (
	stSync       uint8 = iota // looking for a start line
	stHeader                  // in (or expecting) a header block
	stBody                    // Content-Length body
	stChunkSize               // chunk-size line
	stChunkData               // chunk data
	stChunkCRLF               // CRLF after chunk data
	stTrailer                 // trailer section after the last chunk
	stUntilClose              // response body delimited by the connection close
	stChunkLost               // chunked body whose framing a gap hid (see chunkLost)
	stDead                    // not HTTP/1 anymore (upgrade, CONNECT tunnel)
)

// message is a request or a response being parsed.
type message struct {
	head
	start    uint64 // arrival of the first byte
	hdrBytes int    // size of the header block (memory accounting)
	end      uint64 // WireNs of the call with the last byte seen
	body     []byte // the first BodyLimit bytes
	bodySize int64
	bodyGap  bool // part of the body was not captured: stop keeping it
	done     bool
	req      *message // for a response: its request
	// lossAfter: request bytes were lost after this request, so a request
	// may be missing between it and the next one.
	lossAfter bool
}

// half is one direction: requests or responses.
type half struct {
	resp      bool
	state     uint8
	tentative bool // the header started at a resync candidate
	lineOK    bool // the start line in hbuf was validated
	sawCR     bool // stChunkCRLF: the CR was seen
	// skipped: bytes were lost or skipped since the last message, so
	// messages may be missing (responses: see Parser.response).
	skipped  bool
	lostFrom uint64 // the latest time known to precede the lost bytes
	// orphan: the request in progress may already have been answered
	// by a response that could not be paired; do not pair it.
	orphan bool
	hbuf   []byte
	scan   int
	lbuf   []byte // chunk-size or trailer line split over calls
	// lostCall: StartNs of the call last seen in stChunkLost.
	lostCall uint64
	trailer  int // trailer bytes so far
	remain   int64
	start    uint64 // arrival of the current header's first byte
	msg      *message
}

// Parser is the HTTP/1.x parser of one connection.
type Parser struct {
	env     *conn.Env
	reqDir  conn.Dir
	halves  [2]half // requests, responses
	pending []*message
	// pendingBytes: header bytes held by pending requests.
	pendingBytes int
	dead         bool
	h2c          Upgrader
	// next is the parser the connection was handed to (h2c).
	next conn.Parser
	// spare: messages of emitted exchanges, reused (no allocation per
	// request on a keep-alive connection).
	spare [2]*message
	// target, reason and path remember the last strings of the
	// connection, which repeat on most keep-alive connections: equal
	// bytes reuse them instead of allocating (see own, emit).
	target, reason lastString
	path           lastPath
	marks          lastMarks
}

// NewParser returns a parser for one connection.
func NewParser(env *conn.Env) *Parser {
	p := &Parser{env: env, reqDir: conn.Ingress}
	if env.Role == conn.RoleClient {
		p.reqDir = conn.Egress
	}
	p.halves[1].resp = true
	if env.Fresh {
		p.halves[0].state, p.halves[1].state = stHeader, stHeader
	}
	return p
}

func (p *Parser) maxHeader() int {
	if n := p.env.MaxBufferedBytes; n > 0 {
		return n
	}
	return conn.DefaultMaxBufferedBytes
}

// Feed implements conn.Parser.
func (p *Parser) Feed(c *conn.Chunk) {
	if p.next != nil {
		p.next.Feed(c)
		return
	}
	if p.dead {
		return
	}
	h := &p.halves[0]
	if c.Dir != p.reqDir {
		h = &p.halves[1]
	}
	if c.Gap > 0 && len(c.Data) == 0 {
		p.gap(h, c)
		return
	}
	if c.EOF {
		if h.state == stUntilClose {
			p.complete(h) // the body ended with its last call
		}
		return
	}
	b := c.Data
	// lineStart: b starts a call or a line, where a message may start.
	lineStart := true
	// Every step consumes bytes or changes state without looping back;
	// the guard only protects against a bug turning into a hang.
	for guard := 4*len(b) + 16; len(b) > 0 && guard > 0 && !p.dead; guard-- {
		n := p.step(h, b, c, lineStart)
		if n > 0 {
			lineStart = b[n-1] == '\n'
		}
		b = b[n:]
	}
	p.handOn(c, b)
}

// step consumes a prefix of b in h's current state.
func (p *Parser) step(h *half, b []byte, c *conn.Chunk, lineStart bool) int {
	switch h.state {
	case stSync:
		return p.sync(h, b, c, lineStart)
	case stHeader:
		return p.header(h, b, c)
	case stBody:
		n := int(min(h.remain, int64(len(b))))
		p.keep(h.msg, b[:n])
		h.msg.end = c.WireNs()
		h.remain -= int64(n)
		if h.remain == 0 {
			p.complete(h)
		}
		return n
	case stChunkSize, stTrailer:
		return p.chunkLine(h, b, c)
	case stChunkData:
		n := int(min(h.remain, int64(len(b))))
		p.keep(h.msg, b[:n])
		h.msg.bodySize += int64(n)
		h.msg.end = c.WireNs()
		h.remain -= int64(n)
		if h.remain == 0 {
			h.state, h.sawCR = stChunkCRLF, false
		}
		return n
	case stChunkCRLF:
		switch {
		case b[0] == '\r' && !h.sawCR:
			h.sawCR = true
		case b[0] == '\n':
			h.state = stChunkSize
		default:
			p.fail(h, c, true)
			return 0
		}
		h.msg.end = c.WireNs()
		return 1
	case stUntilClose:
		p.keep(h.msg, b)
		h.msg.bodySize += int64(len(b))
		h.msg.end = c.WireNs()
		return len(b)
	case stChunkLost:
		return p.chunkLost(h, b, c)
	}
	p.dead = true
	return len(b)
}

// sync looks for a start line at the start of b if it starts a call (a
// likely message boundary) or a line, or else after a line feed.
func (p *Parser) sync(h *half, b []byte, c *conn.Chunk, lineStart bool) int {
	i := 0
	if !lineStart {
		k := bytes.IndexByte(b, '\n')
		if k < 0 {
			p.lose(h, c)
			return len(b)
		}
		i = k + 1
	}
	for i < len(b) {
		if r, _ := p.startLine(h, b[i:]); r != lineBad && (h.resp || knownMethodAt(b[i:])) {
			h.state, h.tentative, h.lineOK = stHeader, true, false
			h.hbuf, h.scan = h.hbuf[:0], 0
			if i > 0 {
				p.lose(h, c)
			}
			return i
		}
		k := bytes.IndexByte(b[i:], '\n')
		if k < 0 {
			break
		}
		i += k + 1
	}
	p.lose(h, c)
	return len(b)
}

// lose records that h lost or skipped bytes (moved by calls at or after
// c.StartNs), so messages may be missing.
func (p *Parser) lose(h *half, c *conn.Chunk) {
	h.skipped = true
	h.lostFrom = max(h.lostFrom, c.StartNs)
	if !h.resp && len(p.pending) > 0 {
		p.pending[len(p.pending)-1].lossAfter = true
	}
}

func (p *Parser) startLine(h *half, b []byte) (lineResult, int) {
	if h.resp {
		return statusLine(b)
	}
	return requestLine(b)
}

// header accumulates a header block and parses it once complete. A
// failure on bytes of this call returns at least 1 when the header was a
// resync candidate, so the scan moves past it.
func (p *Parser) header(h *half, b []byte, c *conn.Chunk) int {
	if len(h.hbuf) == 0 {
		// Empty lines between messages are tolerated (RFC 9112 2.2).
		if !h.tentative && (b[0] == '\r' || b[0] == '\n') {
			return 1
		}
		h.start = c.WireNs()
		tentative := h.tentative
		r, _ := p.startLine(h, b)
		if r == lineBad {
			p.fail(h, c, true)
			return skip(tentative)
		}
		h.lineOK = r == lineOK
		if end := headerEnd(b, 0); end > 0 {
			if end > p.maxHeader() {
				return p.overflow(h, c, end)
			}
			if !p.parsed(h, b[:end], c) {
				return skip(tentative)
			}
			return end
		}
		if len(b) > p.maxHeader() {
			return p.overflow(h, c, len(b))
		}
		h.hbuf = append(h.hbuf, b...)
		h.scan = max(0, len(h.hbuf)-2)
		return len(b)
	}
	// The block started in an earlier call; this is the first step of
	// this call, so on failure the whole call is rescanned.
	prev := len(h.hbuf)
	take := min(len(b), p.maxHeader()-prev)
	h.hbuf = append(h.hbuf, b[:take]...)
	// Re-check the start line, except for a tiny piece of a long line
	// that does not end it: checking a long line on each of many tiny
	// calls would be quadratic.
	if !h.lineOK && (take >= 64 || prev < 512 || bytes.IndexByte(b[:take], '\n') >= 0 || len(h.hbuf) > maxLine) {
		r, _ := p.startLine(h, h.hbuf)
		if r == lineBad {
			p.fail(h, c, true)
			return 0
		}
		h.lineOK = r == lineOK
	}
	if end := headerEnd(h.hbuf, h.scan); end > 0 {
		if !p.parsed(h, h.hbuf[:end], c) {
			return 0
		}
		return end - prev
	}
	h.scan = max(0, len(h.hbuf)-2)
	if len(h.hbuf) >= p.maxHeader() {
		return p.overflow(h, c, take)
	}
	return take
}

// skip is what a failed header consumed: a resync candidate is skipped by
// one byte so the scan moves on; otherwise the bytes are rescanned.
func skip(tentative bool) int {
	if tentative {
		return 1
	}
	return 0
}

// overflow drops a header block larger than the bound.
func (p *Parser) overflow(h *half, c *conn.Chunk, n int) int {
	p.env.Stats.DroppedBytes += uint64(max(len(h.hbuf), n))
	h.hbuf = h.hbuf[:0]
	p.fail(h, c, true)
	return n
}

// parsed handles a complete header block.
func (p *Parser) parsed(h *half, block []byte, c *conn.Chunk) bool {
	m := p.newMessage()
	m.start, m.end, m.hdrBytes = h.start, c.WireNs(), len(block)
	keep := !p.env.NoHeaders
	ok := parseHead(block, h.resp, keep, &m.head)
	if ok && !keep {
		p.own(&m.head, h.resp) // before block is reused
	}
	h.hbuf = h.hbuf[:0]
	if cap(h.hbuf) > 4<<10 {
		h.hbuf = nil // do not pin a large buffer on an idle connection
	}
	if !ok || (!h.resp && m.otherTE) || (h.tentative && !h.resp && !knownMethodAt(block)) {
		p.fail(h, c, true)
		return false
	}
	h.tentative = false
	if h.resp {
		p.response(h, m)
	} else {
		p.request(h, m)
	}
	return true
}

func (p *Parser) request(h *half, m *message) {
	if h.orphan {
		h.orphan = false
		p.env.Stats.UnmatchedRequests++
		h.msg = m
		p.requestBody(h, m)
		return
	}
	for len(p.pending) > 0 && (len(p.pending) >= maxPending || p.pendingBytes+m.hdrBytes > p.maxHeader()) {
		p.pop()
		p.env.Stats.UnmatchedRequests++
	}
	p.pending = append(p.pending, m)
	p.pendingBytes += m.hdrBytes
	h.msg = m
	p.requestBody(h, m)
}

func (p *Parser) requestBody(h *half, m *message) {
	switch {
	case m.chunked:
		h.state = stChunkSize
	case m.contentLength > 0:
		m.bodySize = m.contentLength
		h.state, h.remain = stBody, m.contentLength
	default:
		p.complete(h)
	}
}

func (p *Parser) response(h *half, m *message) {
	if m.status >= 100 && m.status < 200 && m.status != 101 {
		// Interim (100 Continue, 103 Early Hints): the final response follows.
		h.state, h.msg = stHeader, nil
		return
	}
	if h.skipped {
		// Responses may have been lost: in request/response order this
		// one answers the newest request sent before it, and the older
		// ones lost their answers. (Wrong only for a client pipelining
		// across a loss; FIFO alone would be wrong after any loss.) If
		// requests were lost too, among those candidates, the answered
		// request is unknown: drop them all rather than guess.
		h.skipped = false
		k, ambiguous := -1, false
		for i, q := range p.pending {
			if q.start > m.start {
				break
			}
			k, ambiguous = i, ambiguous || q.lossAfter
		}
		// Bytes lost after the newest candidate was sent may have been
		// its answer.
		if k >= 0 && h.lostFrom >= p.pending[k].start {
			ambiguous = true
		}
		h.lostFrom = 0
		// A request still arriving (its header incomplete) is the newest
		// candidate of all.
		if rq := &p.halves[0]; rq.state == stHeader && len(rq.hbuf) > 0 && rq.start <= m.start {
			ambiguous, rq.orphan = true, true
		}
		drop := k
		if ambiguous {
			drop = k + 1
		}
		for range max(drop, 0) {
			p.pop()
			p.env.Stats.UnmatchedRequests++
		}
	}
	// A response answers the oldest request, never one sent after it.
	if len(p.pending) == 0 || p.pending[0].start > m.start {
		p.env.Stats.UnmatchedResponses++
		if m.status == 101 {
			p.dead = true
			return
		}
		// Without its request the body framing is unknown (the answer to
		// a HEAD announces a length it does not send): skip to the next
		// status line instead of trusting it.
		h.state, h.msg = stSync, nil
		return
	}
	m.req = p.pop()
	h.msg = m
	method := m.req.method
	switch {
	case m.status == 101 && m.h2c && m.req.h2c && p.h2c != nil:
		p.upgrade(h, m)
	case m.status == 101 || method == "CONNECT" && m.status < 300:
		// The connection stops speaking HTTP/1.
		p.complete(h)
		p.dead = true
	case method == "HEAD" || m.status == 204 || m.status == 304 || m.status < 200:
		p.complete(h)
	case m.chunked:
		h.state = stChunkSize
	case m.contentLength >= 0 && !m.otherTE:
		m.bodySize = m.contentLength
		if m.contentLength == 0 {
			p.complete(h)
		} else {
			h.state, h.remain = stBody, m.contentLength
		}
	default:
		h.state = stUntilClose
	}
}

func (p *Parser) pop() *message {
	m := p.pending[0]
	p.pendingBytes -= m.hdrBytes
	n := copy(p.pending, p.pending[1:])
	p.pending[n] = nil
	p.pending = p.pending[:n]
	if n == 0 && cap(p.pending) > 4 {
		p.pending = nil // let a pipelining burst's array go
	}
	return m
}

// keep stores the first BodyLimit body bytes (under full data access:
// the other modes keep no body).
func (p *Parser) keep(m *message, b []byte) {
	if m.bodyGap || p.env.Mode() != api.DataAccessFull {
		return
	}
	if room := p.env.BodyLimit - len(m.body); room > 0 {
		m.body = append(m.body, b[:min(room, len(b))]...)
	}
}

// chunkLine handles a chunk-size line or a trailer line.
func (p *Parser) chunkLine(h *half, b []byte, c *conn.Chunk) int {
	h.msg.end = c.WireNs()
	k := bytes.IndexByte(b, '\n')
	if k < 0 {
		if len(h.lbuf)+len(b) > maxChunkLine {
			return p.fail(h, c, true) + len(b)
		}
		h.lbuf = append(h.lbuf, b...)
		return len(b)
	}
	line := b[:k]
	if len(h.lbuf) > 0 {
		if len(h.lbuf)+k > maxChunkLine {
			return p.fail(h, c, true) + k + 1
		}
		h.lbuf = append(h.lbuf, line...)
		line = h.lbuf
	}
	line = bytes.TrimSuffix(line, []byte{'\r'})
	if h.state == stTrailer {
		h.lbuf = h.lbuf[:0]
		if len(line) == 0 {
			p.complete(h)
			return k + 1
		}
		h.trailer += len(line)
		if h.trailer > p.maxHeader() {
			return p.fail(h, c, true) + k + 1
		}
		return k + 1
	}
	size, ok := chunkSize(line)
	h.lbuf = h.lbuf[:0]
	if !ok {
		return p.fail(h, c, true) + k + 1
	}
	if size == 0 {
		h.state, h.trailer = stTrailer, 0
	} else {
		h.state, h.remain = stChunkData, size
	}
	return k + 1
}

// chunkSize parses `hex [; ext]` (whitespace before ';' tolerated).
func chunkSize(line []byte) (int64, bool) {
	var n int64
	i := 0
	for ; i < len(line); i++ {
		c := line[i]
		var d byte
		switch {
		case c >= '0' && c <= '9':
			d = c - '0'
		case c >= 'a' && c <= 'f':
			d = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			d = c - 'A' + 10
		default:
			goto rest
		}
		n = n<<4 | int64(d)
		if n > maxChunkSize {
			return 0, false
		}
	}
rest:
	if i == 0 {
		return 0, false
	}
	for ; i < len(line); i++ {
		switch line[i] {
		case ' ', '\t':
			continue
		case ';':
			return n, true
		}
		return 0, false
	}
	return n, true
}

// complete ends the current message of h.
func (p *Parser) complete(h *half) {
	m := h.msg
	h.msg = nil
	h.state, h.tentative = stHeader, false
	h.lbuf = h.lbuf[:0]
	if m == nil {
		return
	}
	m.done = true
	if h.resp && m.req != nil {
		p.emit(m.req, m)
		if m.req.done {
			p.recycle(m.req)
		}
		p.recycle(m)
	}
}

func (p *Parser) emit(req, resp *message) {
	reqSize := req.bodySize
	mode := p.env.Mode()
	ev := &api.HTTPEvent{
		Header:       api.Header{Table: api.TableHTTPEvents, V: api.Version},
		MajorVersion: 1,
		MinorVersion: req.minor,
		ReqMethod:    req.method,
		ReqPath:      p.path.redact(req.target, mode),
		ReqHeaders:   req.headers,
		ReqBody:      string(req.body),
		ReqBodySize:  reqSize,
		RespStatus:   resp.status,
		RespMessage:  resp.reason,
		RespHeaders:  resp.headers,
		RespBody:     string(resp.body),
		RespBodySize: resp.bodySize,
	}
	redact.HTTPPathDone(ev, mode, &p.marks)
	p.env.Out.Emit(ev, req.start, resp.end)
}

// gap handles bytes missing from h's stream.
func (p *Parser) gap(h *half, c *conn.Chunk) {
	n := c.Gap
	switch h.state {
	case stDead:
		return
	case stSync:
		p.lose(h, c)
		return
	case stBody, stChunkData:
		m := h.msg
		m.bodyGap = true
		m.end = c.WireNs()
		if n < uint64(h.remain) {
			h.remain -= int64(n)
			if h.state == stChunkData {
				m.bodySize += int64(n)
			}
			return
		}
		n -= uint64(h.remain)
		if h.state == stChunkData {
			m.bodySize += h.remain
			h.remain = 0
			h.state, h.sawCR = stChunkCRLF, false
			switch {
			case n > 0 && c.Cut:
				p.loseChunks(h, c, n)
			case n > 0:
				// The chunk framing after the data is lost.
				p.fail(h, c, true)
			}
			return
		}
		h.remain = 0
		p.complete(h)
		if n > 0 {
			// The start of the next message is lost.
			p.fail(h, c, false)
		}
	case stUntilClose:
		h.msg.bodyGap = true
		h.msg.bodySize += int64(n)
		h.msg.end = c.WireNs()
	case stChunkSize, stChunkCRLF, stChunkLost:
		if !c.Cut {
			// Lost calls may hold the body's end, even the next message.
			p.fail(h, c, true)
			return
		}
		h.msg.end = c.WireNs()
		p.loseChunks(h, c, n)
	case stHeader:
		if len(h.hbuf) == 0 && !h.tentative {
			p.fail(h, c, false) // a message start is lost
			return
		}
		p.fail(h, c, true) // a gap inside headers
	default:
		p.fail(h, c, true)
	}
}

// The ends chunkLost looks for: the last chunk after a chunk's CRLF, and
// the end of a trailer section.
var (
	lastChunk   = []byte("\r\n0\r\n\r\n")
	sectionEnd  = []byte("\r\n\r\n")
	lostKeepLen = len(lastChunk) - 1
)

// loseChunks: the middle of a cut call (more than the capture, Chunk.Cut)
// hid n bytes with chunk-size lines of h's body. The call's last bytes
// (its tail) follow, so the body's end shows where a call ends with the
// last chunk: the server ends the body with the call that writes its last
// data, the client's read returns with it. Walking the chunks in the
// kernel would need HTTP/1 framing there (headers, lengths, on every call
// of every connection) for what the tail already shows in a keep-alive
// exchange. The body size then counts the lost framing bytes too, and the
// next message pairs as after any loss (Parser.response), in case the end
// and another message were both hidden. Lost calls (not cut ones) still
// resynchronise (fail): nothing shows what they held.
func (p *Parser) loseChunks(h *half, c *conn.Chunk, n uint64) {
	p.lose(h, c)
	h.state, h.remain = stChunkLost, 0
	h.msg.bodyGap = true
	h.msg.bodySize += int64(n)
	h.lbuf = h.lbuf[:0]
	h.lostCall = c.StartNs
}

// chunkLost consumes body bytes after lost chunk framing up to the body's
// end: a last chunk that ends the bytes of a call (or of its captured
// head), or the end of a last chunk or trailer section followed at once
// by a new message; or a new call that starts a message. h.lbuf keeps the
// last bytes of the previous piece, for an end split over calls.
func (p *Parser) chunkLost(h *half, b []byte, c *conn.Chunk) int {
	m := h.msg
	if c.StartNs != h.lostCall {
		h.lostCall = c.StartNs
		if p.bodyEnds(h, b, true) {
			p.complete(h)
			return 0
		}
	}
	m.end = c.WireNs()
	var join [2 * 8]byte
	j := append(join[:0], h.lbuf...)
	j = append(j, b[:min(len(b), lostKeepLen)]...)
	if end, ok := p.lostEnd(h, j, b, len(h.lbuf)); ok {
		m.bodySize += int64(end)
		p.complete(h)
		return end
	}
	if end, ok := p.lostEnd(h, b, b, 0); ok {
		m.bodySize += int64(end)
		p.complete(h)
		return end
	}
	m.bodySize += int64(len(b))
	keep := min(len(j), lostKeepLen)
	if len(b) >= lostKeepLen {
		h.lbuf = append(h.lbuf[:0], b[len(b)-keep:]...)
	} else {
		h.lbuf = append(h.lbuf[:0], j[len(j)-keep:]...)
	}
	return len(b)
}

// lostEnd finds in s (b, or the kept bytes then b's start: b starts at
// s[from:]) the first end of a lost body, as an offset in b.
func (p *Parser) lostEnd(h *half, s, b []byte, from int) (int, bool) {
	for n, pat := range [][]byte{lastChunk, sectionEnd} {
		for i := 0; i < len(s); {
			k := bytes.Index(s[i:], pat)
			if k < 0 {
				break
			}
			end := i + k + len(pat) - from
			if end > 0 && p.bodyEnds(h, b[end:], n == 1) {
				return end, true
			}
			i += k + 1
		}
	}
	return 0, false
}

// bodyEnds: rest, the bytes after a possible end of a lost body, starts
// the next message of h; or is empty (the end of a call) and may be.
func (p *Parser) bodyEnds(h *half, rest []byte, needMsg bool) bool {
	if len(rest) == 0 {
		return !needMsg
	}
	r, _ := p.startLine(h, rest)
	return r != lineBad && (h.resp || knownMethodAt(rest))
}

// fail abandons the current message and resynchronises h at the next
// message boundary. It returns 0 so callers can add the bytes they used.
func (p *Parser) fail(h *half, c *conn.Chunk, parseErr bool) int {
	st := p.env.Stats
	p.lose(h, c)
	if h.tentative {
		// A resync candidate that did not pan out: still syncing.
		h.state, h.tentative = stSync, false
		h.hbuf = h.hbuf[:0]
		return 0
	}
	if parseErr {
		st.ParseErrors++
	}
	st.Resyncs++
	if m := h.msg; m != nil && h.resp && m.req != nil {
		st.UnmatchedRequests++ // its response is lost
	}
	p.lose(h, c)
	h.msg = nil
	h.state = stSync
	h.hbuf = h.hbuf[:0]
	h.lbuf = h.lbuf[:0]
	h.orphan = false
	return 0
}

// End implements conn.Parser.
func (p *Parser) End(endNs uint64, why conn.EndReason) {
	if p.next != nil {
		p.next.End(endNs, why)
		return
	}
	r := &p.halves[1]
	if m := r.msg; m != nil && !p.dead {
		if r.state == stUntilClose && why == conn.EndClose {
			p.complete(r)
		} else if m.req != nil {
			p.env.Stats.UnmatchedRequests++
		}
	}
	p.env.Stats.UnmatchedRequests += uint64(len(p.pending))
	p.pending, p.pendingBytes = nil, 0
	p.dead = true
}
