package redis

import (
	"bytes"

	"github.com/kubectl-pixie/kubectl-pixie/probes/api"
	"github.com/kubectl-pixie/kubectl-pixie/probes/conn"
)

// Bounds of the decoder, whatever the stream says.
const (
	maxDepth    = 32      // nested aggregates
	maxLine     = 1 << 16 // a type line (simple strings and errors are lines)
	maxAggCount = 1 << 24 // elements of one aggregate
	maxBulk     = 1 << 30 // bytes of one bulk string (Redis allows 512 MiB)
	nameKeep    = 64      // bytes kept of a command name or a push kind
)

// frame is one open aggregate.
type frame struct {
	left  int64 // elements still to come
	kind  byte
	first bool // no element rendered yet
}

// half decodes one direction's RESP stream, message by message. It keeps
// no byte of the stream beyond the current line and the bounded parts of
// the current message it renders.
type half struct {
	req    bool // this direction carries commands
	synced bool

	line     []byte
	stack    []frame
	inBulk   bool
	bulkType byte
	bulkLeft int64 // payload bytes still to come
	bulkCRLF int   // CRLF bytes after the payload still to come
	bulkLen  int64
	bulkGap  bool
	cur      []byte // kept prefix of the current bulk payload

	// The current top-level message.
	active   bool
	start    uint64
	size     int64
	typ      byte // top-level type, after any attribute
	attrs    int  // attribute frames open: their content is not the reply
	elems    int  // top-level elements seen (requests: command and args)
	cmd      string
	sub      string
	head     string // a reply's first element, for pub/sub pushes
	errKind  string
	render   []byte
	cut      bool // render was cut at the limit
	redactAt int  // requests: arguments from this index are secrets (0: none)
}

func (h *half) reset() {
	h.line = h.line[:0]
	h.stack = h.stack[:0]
	h.inBulk = false
	h.cur = h.cur[:0]
	h.resetMsg()
}

func (h *half) resetMsg() {
	h.active = false
	h.size = 0
	h.typ = 0
	h.attrs = 0
	h.elems = 0
	h.cmd, h.sub, h.head, h.errKind = "", "", "", ""
	h.render = h.render[:0]
	h.cut = false
	h.redactAt = 0
}

// feed decodes b (all of it, or until the stream is lost: then it reports
// false and the caller resynchronises).
func (p *Parser) feed(h *half, b []byte, c *conn.Chunk) bool {
	for len(b) > 0 {
		if !h.active {
			h.active = true
			h.start = c.WireNs()
		}
		if h.inBulk {
			n := p.bulkBytes(h, b)
			if n < 0 {
				return false
			}
			h.size += int64(n)
			b = b[n:]
			if !h.inBulk && !p.valueDone(h, c) {
				return false
			}
			continue
		}
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			if len(h.line)+len(b) > min(maxLine, p.env.MaxBufferedBytes) {
				p.env.Stats.DroppedBytes += uint64(len(h.line) + len(b))
				return false
			}
			h.line = append(h.line, b...)
			h.size += int64(len(b))
			return true
		}
		var line []byte
		if len(h.line) > 0 {
			if len(h.line)+i+1 > min(maxLine, p.env.MaxBufferedBytes) {
				p.env.Stats.DroppedBytes += uint64(len(h.line) + i + 1)
				return false
			}
			h.line = append(h.line, b[:i+1]...)
			line = h.line
		} else {
			line = b[:i+1]
		}
		h.size += int64(i + 1)
		b = b[i+1:]
		ok := p.typeLine(h, line, c)
		h.line = h.line[:0]
		if !ok {
			return false
		}
	}
	return true
}

// bulkBytes consumes payload and CRLF bytes of the current bulk string; it
// returns -1 when the CRLF is not there.
func (p *Parser) bulkBytes(h *half, b []byte) int {
	n := 0
	if h.bulkLeft > 0 {
		k := int(min(int64(len(b)), h.bulkLeft))
		if keep := p.keepLimit(h) - len(h.cur); keep > 0 {
			h.cur = append(h.cur, b[:min(k, keep)]...)
		}
		h.bulkLeft -= int64(k)
		n = k
	}
	for n < len(b) && h.bulkLeft == 0 && h.bulkCRLF > 0 {
		want := byte('\r')
		if h.bulkCRLF == 1 {
			want = '\n'
		}
		if b[n] != want {
			return -1
		}
		h.bulkCRLF--
		n++
	}
	if h.bulkLeft == 0 && h.bulkCRLF == 0 {
		h.inBulk = false
	}
	return n
}

// keepLimit is how many bytes of the current bulk are worth keeping.
func (p *Parser) keepLimit(h *half) int {
	if h.req && h.elems < 2 && len(h.stack) == 1 {
		return nameKeep // the command name and a possible subcommand
	}
	if h.attrs > 0 {
		return 0
	}
	if !h.req && h.elems == 0 && len(h.stack) == 1 {
		return max(nameKeep, p.env.BodyLimit) // the push kind
	}
	return p.env.BodyLimit
}

// typeLine handles one line ending in '\n' (with its '\r').
func (p *Parser) typeLine(h *half, line []byte, c *conn.Chunk) bool {
	if len(line) < 3 || line[len(line)-2] != '\r' {
		return false
	}
	t, rest := line[0], line[1:len(line)-2]
	switch t {
	case '+', '-', ':', ',', '(', '#', '_':
		if t == '_' && len(rest) != 0 || t == '#' && (len(rest) != 1 || rest[0] != 't' && rest[0] != 'f') {
			return false
		}
		if (t == ':' || t == '(') && !numeric(rest) {
			return false
		}
		p.scalar(h, t, rest, int64(len(rest)), false)
		return p.valueDone(h, c)
	case '$', '!', '=':
		n, ok := parseInt(rest)
		if !ok || n < -1 || n > maxBulk || n == -1 && t != '$' {
			return false
		}
		if n == -1 {
			p.scalar(h, '_', nil, 0, false)
			return p.valueDone(h, c)
		}
		h.inBulk, h.bulkType, h.bulkLen, h.bulkLeft, h.bulkCRLF, h.bulkGap = true, t, n, n, 2, false
		h.cur = h.cur[:0]
		return true
	case '*', '~', '>', '%', '|':
		n, ok := parseInt(rest)
		if !ok || n < -1 || n > maxAggCount || n == -1 && t != '*' || len(h.stack) >= maxDepth {
			return false
		}
		if n == -1 {
			p.scalar(h, '_', nil, 0, false)
			return p.valueDone(h, c)
		}
		if t == '%' || t == '|' {
			n *= 2
		}
		if len(h.stack) == 0 && t != '|' && h.typ == 0 {
			h.typ = t
		}
		if t == '|' {
			h.attrs++
		} else {
			p.open(h, t)
		}
		h.stack = append(h.stack, frame{left: n, kind: t, first: true})
		if n == 0 {
			return p.closeDone(h, c)
		}
		return true
	}
	if h.req && len(h.stack) == 0 && t >= 'A' && t <= 'z' {
		return p.inline(h, line[:len(line)-2], c)
	}
	return false
}

// scalar records a complete scalar value (or a bulk string's kept prefix
// with its full length n).
func (p *Parser) scalar(h *half, t byte, v []byte, n int64, partial bool) {
	if len(h.stack) == 0 && h.typ == 0 {
		h.typ = t
	}
	if h.attrs > 0 {
		return
	}
	top := len(h.stack) == 0 || len(h.stack) == 1 && h.stack[0].kind != '|'
	if h.req {
		if top {
			p.arg(h, v, n, partial)
		}
		return
	}
	if (t == '-' || t == '!') && top && h.errKind == "" {
		h.errKind = errKind(v)
	}
	if top && h.elems == 0 && len(h.stack) == 1 && (t == '$' || t == '+') {
		h.head = string(lowerASCII(v[:min(len(v), nameKeep)]))
	}
	if top {
		h.elems++
	}
	p.sep(h)
	switch t {
	case '_':
		p.put(h, "<NULL>")
	case '$', '=':
		if t == '=' && len(v) >= 4 && v[3] == ':' {
			v, n = v[4:], n-4 // verbatim: drop the "txt:" format
		}
		if !p.env.FullData {
			p.put(h, api.Redacted(n))
		} else {
			p.putBytes(h, v)
			if int64(len(v)) < n {
				p.cut(h)
			}
		}
	case '-', '!':
		if !p.env.FullData {
			p.put(h, shownError(v, n))
			break
		}
		p.putBytes(h, v)
		if int64(len(v)) < n {
			p.cut(h)
		}
	case '+':
		if !p.env.FullData && !keptStatus[string(v)] {
			p.put(h, api.Redacted(n))
			break
		}
		p.putBytes(h, v)
	case '#':
		if v[0] == 't' {
			p.put(h, "true")
		} else {
			p.put(h, "false")
		}
	default:
		p.putBytes(h, v)
	}
}

// open renders an aggregate's start.
func (p *Parser) open(h *half, t byte) {
	if h.req || h.attrs > 0 {
		return
	}
	if len(h.stack) == 1 && h.stack[0].kind != '|' {
		h.elems++
	}
	p.sep(h)
	if t == '%' {
		p.put(h, "{")
	} else {
		p.put(h, "[")
	}
}

func (p *Parser) sep(h *half) {
	if n := len(h.stack); n > 0 {
		f := &h.stack[n-1]
		if !f.first {
			p.put(h, ", ")
		}
		f.first = false
	}
}

// valueDone closes the aggregates that the value just finished, and the
// message when nothing is open.
func (p *Parser) valueDone(h *half, c *conn.Chunk) bool {
	if !h.inBulk && h.bulkType != 0 {
		t := h.bulkType
		h.bulkType = 0
		p.scalar(h, t, h.cur, h.bulkLen, h.bulkGap)
		h.cur = h.cur[:0]
	}
	if len(h.stack) == 0 {
		p.message(h, c)
		return true
	}
	h.stack[len(h.stack)-1].left--
	return p.closeDone(h, c)
}

func (p *Parser) closeDone(h *half, c *conn.Chunk) bool {
	for len(h.stack) > 0 && h.stack[len(h.stack)-1].left <= 0 {
		f := h.stack[len(h.stack)-1]
		h.stack = h.stack[:len(h.stack)-1]
		if f.kind == '|' {
			h.attrs--
			if len(h.stack) == 0 {
				return true // an attribute before the reply
			}
			continue // attributes are not elements of their parent
		}
		if !h.req && h.attrs == 0 {
			if f.kind == '%' {
				p.put(h, "}")
			} else {
				p.put(h, "]")
			}
		}
		if len(h.stack) == 0 {
			p.message(h, c)
			return true
		}
		h.stack[len(h.stack)-1].left--
	}
	return true
}

// inline parses an inline command ("PING\r\n", as typed in telnet).
func (p *Parser) inline(h *half, line []byte, c *conn.Chunk) bool {
	h.typ = '*'
	for _, f := range bytes.Fields(line) {
		p.arg(h, f[:min(len(f), p.keepLimitInline(h))], int64(len(f)), false)
	}
	p.message(h, c)
	return true
}

func (p *Parser) keepLimitInline(h *half) int {
	if h.elems < 2 {
		return nameKeep
	}
	return p.env.BodyLimit
}

func (p *Parser) put(h *half, s string) {
	if h.cut {
		return
	}
	if room := p.env.BodyLimit - len(h.render); len(s) > room {
		h.render = append(h.render, s[:max(room, 0)]...)
		h.cut = true
		return
	}
	h.render = append(h.render, s...)
}

func (p *Parser) putBytes(h *half, b []byte) {
	if h.cut {
		return
	}
	if room := p.env.BodyLimit - len(h.render); len(b) > room {
		h.render = append(h.render, b[:max(room, 0)]...)
		h.cut = true
		return
	}
	h.render = append(h.render, b...)
}

func (p *Parser) cut(h *half) { h.cut = true }

// gap skips n lost bytes inside a bulk payload; anything else loses the
// stream.
func (p *Parser) gapBytes(h *half, n uint64) bool {
	if !h.inBulk || n > uint64(h.bulkLeft)+uint64(h.bulkCRLF) {
		return false
	}
	h.size += int64(n)
	h.bulkGap = true
	if n <= uint64(h.bulkLeft) {
		h.bulkLeft -= int64(n)
	} else {
		h.bulkCRLF -= int(n - uint64(h.bulkLeft))
		h.bulkLeft = 0
	}
	return true
}

func numeric(b []byte) bool {
	if len(b) > 0 && (b[0] == '-' || b[0] == '+') {
		b = b[1:]
	}
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

func parseInt(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 11 {
		return 0, false
	}
	neg := b[0] == '-'
	if neg {
		b = b[1:]
		if len(b) == 0 {
			return 0, false
		}
	}
	var n int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	if neg {
		n = -n
	}
	return n, true
}

func lowerASCII(b []byte) []byte {
	out := make([]byte, len(b))
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		out[i] = c
	}
	return out
}

// errKind is an error reply's first word when it is an upper-case code
// ("ERR", "WRONGTYPE"), else "ERR": it becomes a status class, so it must
// have few values.
func errKind(v []byte) string {
	w := v
	if i := bytes.IndexByte(v, ' '); i >= 0 {
		w = v[:i]
	}
	if len(w) == 0 || len(w) > 16 {
		return "ERR"
	}
	for _, c := range w {
		if c < 'A' || c > 'Z' {
			return "ERR"
		}
	}
	return string(w)
}

// keptStatus are the simple-string replies restricted access shows; any
// other (a Lua script's status_reply, CLIENT GETNAME's) may be a value.
var keptStatus = map[string]bool{"OK": true, "PONG": true, "QUEUED": true}

// shownError is an error reply as restricted access keeps it: its kind
// (the upper-case first word) and the size of the rest, which may quote
// a value (a Lua script's error_reply).
func shownError(v []byte, n int64) string {
	k := errKind(v)
	if !bytes.HasPrefix(v, []byte(k)) {
		return api.Redacted(n)
	}
	if rest := n - int64(len(k)) - 1; rest > 0 {
		return k + " " + api.Redacted(rest)
	}
	return k
}
