// Package redis parses the Redis protocol (RESP2 and RESP3) for the
// connection tracker: commands paired in order with their replies
// (pipelining included), pub/sub and RESP3 pushes counted apart, errors
// classified by their code.
package redis

import (
	"strings"
	"unicode/utf8"

	"github.com/kubectl-pixie/kubectl-pixie/probes/api"
	"github.com/kubectl-pixie/kubectl-pixie/probes/api/vocab"
	"github.com/kubectl-pixie/kubectl-pixie/probes/conn"
)

// Protocol implements conn.Protocol.
type Protocol struct{}

func (Protocol) Name() string { return vocab.ProtocolRedis }

// Infer recognises a command as clients send it: an array of bulk
// strings whose first is a command name ("*2\r\n$3\r\nGET\r\n"). Replies
// are never used to infer: "+OK" is too weak a signature.
func (Protocol) Infer(b []byte, dir conn.Dir, transport uint8) conn.Inference {
	if transport == conn.TransportUDP || len(b) == 0 || b[0] != '*' {
		return conn.Inference{}
	}
	role := conn.RoleServer
	if dir == conn.Egress {
		role = conn.RoleClient
	}
	i := 1
	n, i, st := digits(b, i, 7)
	if st != 0 {
		return conn.Inference{Conf: st}
	}
	if n < 1 {
		return conn.Inference{}
	}
	for _, want := range []byte("\r\n$") {
		if i == len(b) {
			return conn.Inference{Conf: conn.NeedMore}
		}
		if b[i] != want {
			return conn.Inference{}
		}
		i++
	}
	l, i, st := digits(b, i, 2)
	if st != 0 {
		return conn.Inference{Conf: st}
	}
	if l < 2 || l > 20 {
		return conn.Inference{}
	}
	for _, want := range []byte("\r\n") {
		if i == len(b) {
			return conn.Inference{Conf: conn.NeedMore}
		}
		if b[i] != want {
			return conn.Inference{}
		}
		i++
	}
	for k := 0; k < l; k++ {
		if i+k == len(b) {
			return conn.Inference{Conf: conn.NeedMore}
		}
		c := b[i+k]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' || c == '-' || c == '.' || c == '|' || c >= '0' && c <= '9' && k > 0) {
			return conn.Inference{}
		}
	}
	return conn.Inference{Conf: conn.High, Role: role}
}

// digits reads a decimal number of at most max digits ending before '\r'.
// The status is NeedMore when the input ends inside it, NoMatch when it is
// not a number.
func digits(b []byte, i, maxDigits int) (int, int, conn.Confidence) {
	start, n := i, 0
	for ; i < len(b) && b[i] >= '0' && b[i] <= '9'; i++ {
		if i-start == maxDigits {
			return 0, i, conn.NoMatch
		}
		n = n*10 + int(b[i]-'0')
	}
	if i == start {
		if i == len(b) {
			return 0, i, conn.NeedMore
		}
		return 0, i, conn.NoMatch
	}
	if i == len(b) {
		return 0, i, conn.NeedMore
	}
	return n, i, 0
}

func (Protocol) NewParser(env *conn.Env) conn.Parser { return NewParser(env) }

// maxPending bounds commands waiting for their replies on a connection.
// Past it the connection is abandoned: dropping the oldest would pair the
// rest with the wrong replies.
const maxPending = 4096

// request is a parsed command waiting for its reply.
type request struct {
	cmd     string
	args    string
	start   uint64
	size    int64
	sub     subKind
	nargs   int
	monitor bool
}

// subKind tells pub/sub commands apart: their confirmations may come as
// several replies (one per channel) or as pushes.
type subKind uint8

const (
	subNone subKind = iota
	subSubscribe
	subUnsubscribe
)

// Parser pairs one connection's commands and replies.
type Parser struct {
	env     *conn.Env
	halves  [2]half // [0] commands, [1] replies
	reqDir  conn.Dir
	pending []request
	// subscribed: a SUBSCRIBE was sent, so RESP2 arrays starting with
	// "message" are pushes; extra: more confirmations expected for the
	// channels of a command already paired.
	subscribed bool
	extra      int
	monitor    bool
	// dead: the connection lost bytes outside a value, or its replies can
	// no longer be paired (CLIENT REPLY OFF); nothing more is parsed.
	dead bool
}

// NewParser returns a parser for a connection with env's role.
func NewParser(env *conn.Env) *Parser {
	p := &Parser{env: env, reqDir: conn.Ingress}
	if env.Role == conn.RoleClient {
		p.reqDir = conn.Egress
	}
	p.halves[0].req = true
	p.halves[0].synced = env.Fresh
	p.halves[1].synced = env.Fresh
	return p
}

// Feed implements conn.Parser.
func (p *Parser) Feed(c *conn.Chunk) {
	if p.dead || c.EOF {
		return
	}
	h := &p.halves[1]
	if c.Dir == p.reqDir {
		h = &p.halves[0]
	}
	if c.Gap > 0 {
		if h.synced && p.gapBytes(h, c.Gap) {
			return
		}
		if h.synced || h.req || len(p.pending) > 0 {
			p.lose()
		}
		return
	}
	if !h.synced {
		if !p.resync(h, c) {
			return
		}
	}
	if !p.feed(h, c.Data, c) {
		p.env.Stats.ParseErrors++
		p.lose()
	}
}

// resync starts an unsynchronised direction (a connection seen mid-stream)
// at a call that starts a message: commands at a call that Infer accepts,
// replies only once a command is waiting, at a call that came after it.
func (p *Parser) resync(h *half, c *conn.Chunk) bool {
	if h.req {
		if (Protocol{}).Infer(c.Data, conn.Egress, conn.TransportTCP).Conf != conn.High {
			p.env.Stats.DroppedBytes += uint64(len(c.Data))
			return false
		}
	} else {
		if len(p.pending) == 0 || c.WireNs() < p.pending[0].start || !strings.ContainsRune("+-:$*_#,(!=%~>|", rune(c.Data[0])) {
			p.env.Stats.DroppedBytes += uint64(len(c.Data))
			return false
		}
	}
	h.synced = true
	h.reset()
	return true
}

// lose gives up the connection: with bytes missing outside a value there
// is no telling how many commands or replies were lost, and pairing on a
// guess would show wrong latencies and errors.
func (p *Parser) lose() {
	if p.dead {
		return
	}
	p.env.Stats.Resyncs++
	p.env.Stats.UnmatchedRequests += uint64(len(p.pending))
	if h := &p.halves[0]; h.active && h.size > 0 {
		p.env.Stats.UnmatchedRequests++
	}
	p.pending = nil
	p.dead = true
	for i := range p.halves {
		p.halves[i].reset()
	}
}

// arg records a command's element: the name, a subcommand, or an argument
// rendered into the JSON array of args (secrets and values redacted).
func (p *Parser) arg(h *half, v []byte, n int64, partial bool) {
	i := h.elems
	h.elems++
	switch i {
	case 0:
		h.cmd = commandName(v, n)
		return
	case 1:
		if s := upperWord(v); s != "" && n == int64(len(v)) && containers[h.cmd] {
			h.sub = s
		}
	}
	if p.env.BodyLimit < 8 || !p.renders() {
		return
	}
	if i == 1 {
		h.render = append(h.render[:0], '[')
		h.cut = false
	}
	if h.redactAt == 0 {
		h.redactAt = secretFrom(h.cmd, h.sub, i, v)
	}
	switch {
	case h.redactAt > 0 && i >= h.redactAt:
		p.addArg(h, i, `"<redacted>"`, nil)
	case !p.env.FullData && (i > 1 || h.sub == ""):
		// Every argument is a value (keys too: they hold user names and
		// tokens as often as paths do), except a subcommand.
		p.addArg(h, i, `"`+api.Redacted(n)+`"`, nil)
	default:
		q := quote(v, partial || int64(len(v)) < n)
		p.addArg(h, i, q, v)
	}
}

// addArg appends a quoted argument to the JSON array of args, keeping
// one byte for the closing bracket; past the body limit the array ends
// with a cut value or "…", so it stays valid JSON.
func (p *Parser) addArg(h *half, i int, q string, v []byte) {
	if h.cut {
		return
	}
	sep := ""
	if i > 1 {
		sep = ","
	}
	room := p.env.BodyLimit - len(h.render) - 1 - len(sep)
	if len(q) > room && v != nil {
		for k := room - 5; k > 0 && len(q) > room; k /= 2 {
			q = quote(v[:min(k, len(v))], true)
		}
	}
	if len(q) > room {
		h.cut = true
		q = `"…"`
		if len(q) > room {
			return
		}
	}
	h.render = append(h.render, sep...)
	h.render = append(h.render, q...)
}

// message handles a complete top-level message of h.
func (p *Parser) message(h *half, c *conn.Chunk) {
	defer h.resetMsg()
	if h.req {
		p.command(h)
		return
	}
	p.reply(h, c)
}

func (p *Parser) command(h *half) {
	if h.elems == 0 || h.typ != '*' {
		p.env.Stats.ParseErrors++ // commands are arrays of bulk strings
		return
	}
	if len(p.pending) >= maxPending {
		p.env.Stats.DroppedBytes += uint64(h.size)
		p.lose()
		return
	}
	r := request{cmd: h.cmd, start: h.start, size: h.size, nargs: h.elems - 1}
	if h.sub != "" {
		r.cmd += " " + h.sub
	}
	if p.renders() {
		if h.elems == 1 {
			r.args = "[]"
		} else {
			r.args = string(h.render) + "]"
		}
	}
	switch h.cmd {
	case "SUBSCRIBE", "PSUBSCRIBE", "SSUBSCRIBE":
		r.sub = subSubscribe
		p.subscribed = true
	case "UNSUBSCRIBE", "PUNSUBSCRIBE", "SUNSUBSCRIBE":
		r.sub = subUnsubscribe
	case "MONITOR":
		r.monitor = true
	case "CLIENT":
		if h.sub == "REPLY" {
			// OFF and SKIP silence replies: pairing would go wrong.
			p.lose()
			return
		}
	}
	p.pending = append(p.pending, r)
}

var subHeads = map[string]subKind{
	"subscribe": subSubscribe, "psubscribe": subSubscribe, "ssubscribe": subSubscribe,
	"unsubscribe": subUnsubscribe, "punsubscribe": subUnsubscribe, "sunsubscribe": subUnsubscribe,
}

func (p *Parser) reply(h *half, c *conn.Chunk) {
	push := h.typ == '>'
	if h.typ == '*' && p.subscribed {
		switch h.head {
		case "message", "pmessage", "smessage":
			push = true
		default:
			_, push = subHeads[h.head]
		}
	}
	if p.monitor && h.typ == '+' {
		push = true
	}
	if push {
		// A confirmation of a (un)subscribe command answers it; pushes
		// and the confirmations of its other channels are counted only.
		if k, ok := subHeads[h.head]; ok && len(p.pending) > 0 && p.pending[0].sub == k && p.extra == 0 {
			p.extra = max(p.pending[0].nargs-1, 0)
		} else {
			if k, ok := subHeads[h.head]; ok && p.extra > 0 && k != subNone {
				p.extra--
			}
			p.env.Stats.Pushes++
			return
		}
	}
	if len(p.pending) == 0 {
		p.env.Stats.UnmatchedResponses++
		return
	}
	r := p.pending[0]
	p.pending = p.pending[1:]
	if len(p.pending) == 0 {
		p.pending = p.pending[:0:0]
	}
	if r.monitor && h.typ == '+' && h.errKind == "" {
		p.monitor = true
	}
	ev := &api.RedisEvent{
		Header:    api.Header{Table: api.TableRedisEvents, V: api.Version},
		ReqCmd:    r.cmd,
		ReqArgs:   r.args,
		RespError: h.errKind,
		ReqBytes:  r.size,
		RespBytes: h.size,
	}
	if p.renders() {
		ev.Resp = string(h.render)
		if h.cut {
			ev.Resp += "…"
		}
	}
	p.env.Out.Emit(ev, r.start, c.WireNs())
}

// End implements conn.Parser.
func (p *Parser) End(endNs uint64, why conn.EndReason) {
	if !p.dead {
		p.env.Stats.UnmatchedRequests += uint64(len(p.pending))
	}
	p.pending = nil
	p.dead = true
}

// renders: records keep the args and the reply (none access keeps only
// the command, its error kind and sizes).
func (p *Parser) renders() bool {
	return p.env.BodyLimit > 0 && p.env.Mode() != api.DataAccessNone
}

// quote renders v as a JSON string, with "…" at the end when cut.
func quote(v []byte, cut bool) string {
	var b strings.Builder
	b.Grow(len(v) + 2)
	b.WriteByte('"')
	for len(v) > 0 {
		r, size := utf8.DecodeRune(v)
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 0x20 || r == 0x7f || r == utf8.RuneError && size == 1:
			c := v[0]
			if r != utf8.RuneError {
				c = byte(r)
			}
			b.WriteString(`\u00`)
			b.WriteByte("0123456789abcdef"[c>>4])
			b.WriteByte("0123456789abcdef"[c&15])
		default:
			b.Write(v[:size])
		}
		v = v[size:]
	}
	if cut {
		b.WriteString("…")
	}
	b.WriteByte('"')
	return b.String()
}
