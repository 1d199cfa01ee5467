package pgsql

import (
	"bytes"
	"encoding/binary"
	"strings"

	"github.com/kubectl-pixie/kubectl-pixie/probes/api"
	"github.com/kubectl-pixie/kubectl-pixie/probes/conn"
	"github.com/kubectl-pixie/kubectl-pixie/probes/protocols/internal/framing"
	"github.com/kubectl-pixie/kubectl-pixie/probes/protocols/internal/sqltext"
)

const (
	// maxPending bounds units waiting for their ReadyForQuery. Past it the
	// connection is abandoned: dropping the oldest would shift the pairing.
	maxPending = 1024
	// maxExecs bounds the Executes kept per unit (a batch).
	maxExecs = 256
	// maxStatements bounds the prepared statements and portals remembered
	// per connection; executes of forgotten ones have an empty template.
	maxStatements = 256
	// keepQuery is how much SQL text is kept per message to template it.
	keepQuery = 4096
	// templateLen bounds the query_template column (the endpoint).
	templateLen = 120
	// maxMessage rejects lengths no real message has: framing is lost.
	maxMessage = 1 << 30
)

type unitKind uint8

const (
	unitQuery    unitKind = iota + 1 // a simple Query
	unitExtended                     // Parse/Bind/Describe/Execute/Close... up to a Sync
	unitStartup                      // StartupMessage and authentication
	unitSSL                          // SSLRequest or GSSENCRequest: a one-byte answer
	unitCall                         // FunctionCall
)

// result is one command's outcome: CommandComplete, EmptyQueryResponse,
// PortalSuspended or ErrorResponse.
type result struct {
	tag   string
	state string // SQLSTATE of an error
	err   bool
}

// unit is what one ReadyForQuery (or, for SSL, one byte) answers.
type unit struct {
	kind      unitKind
	start     uint64
	size      int64
	respBytes int64
	query     sqlText   // Query text, or the first Parse's
	execs     []sqlText // extended: the statement text of each Execute
	prepares  int
	results   []result
	open      bool // extended, no Sync yet
	copyIn    bool // the server asked for COPY data (CopyInResponse)
}

// sqlText is a statement's text; cut: only its first bytes were kept.
type sqlText struct {
	s   string
	cut bool
}

// half is one direction's message being handled.
type half struct {
	req             bool
	untyped         bool // request: the next message has no type byte (startup)
	typ             byte
	size            int64 // on the wire
	framing.Message       // the message being handled (valid during message)
}

// Head implements framing.Rules: a message header is a type and a length
// (a startup message has no type); the one-byte answer to an SSLRequest
// is a message of its own.
func (p *Parser) Head(dir conn.Dir, hdr []byte) (framing.Head, bool) {
	h := &p.halves[dir-1]
	if len(hdr) == 1 && !h.req && len(p.pending) > 0 && p.pending[0].kind == unitSSL {
		return framing.Head{Len: 1}, true
	}
	need := 5
	if h.req && h.untyped {
		need = 4
	}
	if len(hdr) < need {
		return framing.Head{Len: need}, true
	}
	var l uint32
	if need == 4 {
		h.typ, l = 0, binary.BigEndian.Uint32(hdr)
		if l < 8 {
			return framing.Head{}, false
		}
	} else {
		h.typ, l = hdr[0], binary.BigEndian.Uint32(hdr[1:])
		types := backendTypes
		if h.req {
			types = frontendTypes
		}
		if !strings.ContainsRune(types, rune(h.typ)) {
			return framing.Head{}, false
		}
	}
	if l < 4 || l > maxMessage {
		return framing.Head{}, false
	}
	h.size = int64(need) + int64(l) - 4
	return framing.Head{Len: need, Size: int(l) - 4, Keep: p.keepFor(h)}, true
}

// Parser pairs one connection's units and their ReadyForQuery.
type Parser struct {
	env     *conn.Env
	fr      framing.Duplex
	halves  [2]half // by conn.Dir-1
	reqDir  conn.Dir
	pending []unit
	// statements maps prepared statement names to their text, portals
	// portal names to statement names.
	statements map[string]sqlText
	portals    map[string]string
	dead       bool
	// copyLost: frontend bytes were lost inside COPY data; the frontend
	// resynchronises at a message after that COPY's ReadyForQuery
	// (readyAt). respLost: backend bytes were lost while one unit was
	// waiting; the backend resynchronises after a call ending with a
	// ReadyForQuery (the unit's record then takes the CommandComplete or
	// ErrorResponse just before it, if whole), or at the answer of the
	// next unit (the waiting one then makes no record).
	copyLost, respLost bool
	readyAt            uint64
	lastResp           uint64 // when the last backend call was seen
	// dialect: whether a backslash escapes in '...' strings, from the
	// server's ParameterStatus of standard_conforming_strings (sent at
	// startup and on change); unsure until one is seen.
	dialect sqltext.Dialect
}

// NewParser returns a parser for a connection with env's role.
func NewParser(env *conn.Env) *Parser {
	p := &Parser{env: env, reqDir: conn.Ingress, statements: map[string]sqlText{}, portals: map[string]string{}, dialect: sqltext.Postgres}
	if env.Role == conn.RoleClient {
		p.reqDir = conn.Egress
	}
	p.fr = framing.NewDuplex(env.Stats, env.Fresh, p)
	p.halves[p.reqDir-1] = half{req: true, untyped: env.Fresh}
	return p
}

// Feed implements conn.Parser.
func (p *Parser) Feed(c *conn.Chunk) {
	if p.dead {
		return
	}
	if p.fr.Feed(c) && c.Dir != p.reqDir {
		p.lastResp = c.WireNs()
	}
}

// Lost implements framing.Rules. Bytes lost across messages while a
// single unit waits, so that no other unit can be among them, inside COPY
// data (the client sends no query before the COPY's answer) or in that
// unit's answer, leave the pairing to resynchronise; any other loss, and
// broken framing, end it.
func (p *Parser) Lost(dir conn.Dir, broken bool) {
	req := dir == p.reqDir
	switch {
	case broken || len(p.pending) != 1 || p.pending[0].open || p.copyLost || p.respLost,
		req && !p.pending[0].copyIn:
		p.drop()
	case req:
		p.copyLost = true
	default:
		p.respLost = true
	}
}

// endsWithReady: a backend call ending with ReadyForQuery ends an answer.
func endsWithReady(b []byte) bool {
	n := len(b)
	return n >= 6 && b[n-6] == 'Z' && binary.BigEndian.Uint32(b[n-5:]) == 5 && strings.IndexByte("IET", b[n-1]) >= 0
}

// resyncLost looks for the end of an answer whose bytes were lost.
func (p *Parser) resyncLost(h *half, c *conn.Chunk) bool {
	defer func() { p.lastResp = c.WireNs() }()
	switch {
	case len(p.pending) == 1 && endsWithReady(c.Data):
		// The answer ended in this call.
		u := &p.pending[0]
		p.pending = p.pending[:0:0]
		p.respLost = false
		p.readyAt = c.WireNs()
		p.fr.Dir(c.Dir).Sync() // from the next call
		if r, ok := p.tailResult(c.Data[:len(c.Data)-6]); ok && len(u.execs) <= 1 {
			u.results = append(u.results, r)
			p.emit(u, c)
			return false
		}
		p.env.Stats.UnmatchedRequests++
		return false
	case len(p.pending) == 2 && p.pending[1].start >= p.lastResp && !p.pending[1].open &&
		strings.ContainsRune(backendTypes, rune(c.Data[0])):
		// The next unit was sent after the last answer bytes: this call
		// starts its answer (clients wait for ReadyForQuery before the
		// next query), and the lost answer's end went by uncaptured.
		p.env.Stats.UnmatchedRequests++
		p.pending = p.pending[1:]
		p.respLost = false
		return true
	case len(p.pending) > 2:
		p.lose()
	}
	return false
}

// tailResult reads the CommandComplete or ErrorResponse that ends b,
// accepted only when its length matches to the last byte.
func (p *Parser) tailResult(b []byte) (result, bool) {
	n := len(b)
	if n < 6 || b[n-1] != 0 {
		return result{}, false
	}
	for i := n - 6; i >= 0 && i >= n-1024; i-- {
		if (b[i] != 'C' && b[i] != 'E') || int(binary.BigEndian.Uint32(b[i+1:])) != n-i-1 {
			continue
		}
		body := b[i+5 : n]
		if b[i] == 'C' {
			tag, rest := cstring(body)
			if len(rest) != 0 || tag == "" || strings.ContainsFunc(tag, func(r rune) bool { return r < ' ' || r > '~' }) {
				return result{}, false
			}
			return result{tag: tag}, true
		}
		if body[0] != 'S' && body[0] != 'V' {
			return result{}, false
		}
		return p.errorResult(body), true
	}
	return result{}, false
}

// Resync implements framing.Rules: it starts a direction of a connection
// seen mid-stream (or after a loss) at a call
// that starts a message: requests at a startup message or a whole Query or
// Parse, responses only once a unit is waiting, at a call after it.
func (p *Parser) Resync(c *conn.Chunk) bool {
	h := &p.halves[c.Dir-1]
	if h.req && p.copyLost && (len(p.pending) > 0 || c.WireNs() < p.readyAt) {
		return false // the COPY is not answered yet: its data goes on
	}
	if !h.req && p.respLost {
		return p.resyncLost(h, c)
	}
	if h.req {
		inf := (Protocol{}).Infer(c.Data, conn.Egress, conn.TransportTCP)
		if inf.Conf != conn.High && inf.Conf != conn.Low {
			return false
		}
		h.untyped = c.Data[0] == 0
		p.copyLost = false
	} else {
		if len(p.pending) == 0 || c.WireNs() < p.pending[0].start {
			return false
		}
		if p.pending[0].kind != unitSSL && !strings.ContainsRune(backendTypes, rune(c.Data[0])) {
			return false
		}
	}
	return true
}

const (
	frontendTypes = "QPBEDCSHXFpdcf"
	backendTypes  = "RSKZTDCEINA123nstGHWdcvV"
)

// keepFor is how many body bytes of the message are needed: SQL text,
// names, tags and error fields; never a password or row data.
func (p *Parser) keepFor(h *half) int {
	k := 0
	if h.req {
		switch h.typ {
		case 0:
			k = 8
		case 'Q', 'P':
			k = keepQuery
		case 'B', 'E', 'C', 'D':
			k = 2*64 + 2 // names are at most NAMEDATALEN (64) bytes
		}
	} else {
		switch h.typ {
		case 'C', 'E', 'R', 'Z', 'S':
			k = 1024
		}
	}
	if m := p.env.MaxBufferedBytes; m > 0 && k > m {
		k = m
	}
	return k
}

// sslAnswer takes the server's one-byte answer to SSLRequest or
// GSSENCRequest: 'N' goes on in clear text, anything else is encrypted
// from here (TLS plaintext, if captured, comes as a new source).
func (p *Parser) sslAnswer(b byte) {
	p.pending = p.pending[1:]
	if b != 'N' {
		p.dead = true
		p.pending = nil
	}
}

// lose gives up the connection: with bytes missing outside a message
// there is no telling how many units were lost, and pairing on a guess
// would show wrong latencies and errors.
func (p *Parser) lose() {
	if !p.dead {
		p.env.Stats.Resyncs++
		p.drop()
	}
}

// drop ends the pairing; the framer counted the resync.
func (p *Parser) drop() {
	p.env.Stats.UnmatchedRequests += uint64(p.unanswered())
	p.pending = nil
	p.dead = true
}

// unanswered counts the waiting units that would have made records.
func (p *Parser) unanswered() int {
	n := 0
	for i := range p.pending {
		u := &p.pending[i]
		switch {
		case u.kind == unitQuery:
			n++
		case u.kind == unitExtended:
			n += max(len(u.execs), min(u.prepares, 1))
		}
	}
	return n
}

func cstring(b []byte) (string, []byte) {
	i := bytes.IndexByte(b, 0)
	if i < 0 {
		return string(b), nil
	}
	return string(b[:i]), b[i+1:]
}

// Message implements framing.Rules: a whole message (its body possibly
// cut), or the one-byte answer to an SSLRequest.
func (p *Parser) Message(m *framing.Message, c *conn.Chunk) bool {
	h := &p.halves[c.Dir-1]
	h.Message = *m
	switch {
	case len(m.Header) == 1:
		p.sslAnswer(m.Header[0])
	case h.req:
		p.request(h)
	default:
		p.response(h, c)
	}
	return !p.dead
}

func (p *Parser) push(u unit) bool {
	if len(p.pending) >= maxPending {
		p.env.Stats.DroppedBytes += uint64(u.size)
		p.lose()
		return false
	}
	p.pending = append(p.pending, u)
	return true
}

// extended returns the open extended-protocol unit, starting one.
func (p *Parser) extended(h *half) *unit {
	if n := len(p.pending); n > 0 && p.pending[n-1].open {
		u := &p.pending[n-1]
		u.size += h.size
		return u
	}
	if !p.push(unit{kind: unitExtended, start: h.Start, size: h.size, open: true}) {
		return nil
	}
	return &p.pending[len(p.pending)-1]
}

func (p *Parser) request(h *half) {
	if h.typ == 0 {
		if len(h.Body) < 4 {
			p.env.Stats.ParseErrors++
			p.lose()
			return
		}
		switch binary.BigEndian.Uint32(h.Body) {
		case codeSSL, codeGSSENC:
			p.push(unit{kind: unitSSL, start: h.Start, size: h.size})
		case codeProtocol3:
			h.untyped = false
			p.push(unit{kind: unitStartup, start: h.Start, size: h.size})
		case codeCancel:
			h.untyped = false // the server closes the connection
		default:
			p.env.Stats.ParseErrors++
			p.lose()
		}
		return
	}
	switch h.typ {
	case 'Q':
		q, _ := cstring(h.Body)
		p.push(unit{kind: unitQuery, start: h.Start, size: h.size, query: sqlText{q, h.Cut}})
	case 'F':
		p.push(unit{kind: unitCall, start: h.Start, size: h.size})
	case 'P':
		name, rest := cstring(h.Body)
		s, _ := cstring(rest)
		q := sqlText{s, h.Cut}
		remember(p.statements, name, q)
		if u := p.extended(h); u != nil {
			u.prepares++
			if u.prepares == 1 {
				u.query = q
			}
		}
	case 'B':
		portal, rest := cstring(h.Body)
		stmt, _ := cstring(rest)
		remember(p.portals, portal, stmt)
		p.extended(h)
	case 'E':
		portal, _ := cstring(h.Body)
		var q sqlText
		if stmt, ok := p.portals[portal]; ok {
			q = p.statements[stmt]
		}
		if u := p.extended(h); u != nil && len(u.execs) < maxExecs {
			u.execs = append(u.execs, q)
		}
	case 'C':
		if len(h.Body) > 1 && h.Body[0] == 'S' {
			name, _ := cstring(h.Body[1:])
			delete(p.statements, name)
		}
		p.extended(h)
	case 'D', 'H':
		p.extended(h)
	case 'S':
		if n := len(p.pending); n > 0 && p.pending[n-1].open {
			p.pending[n-1].open = false
			p.pending[n-1].size += h.size
			return
		}
		p.push(unit{kind: unitExtended, start: h.Start, size: h.size})
	}
	// X (Terminate), p (password and SASL: never kept), d/c/f (COPY data)
	// start nothing.
}

// remember stores a name, bounded: the unnamed one is always kept.
func remember[V any](m map[string]V, name string, v V) {
	if _, ok := m[name]; ok || name == "" || len(m) < maxStatements {
		m[name] = v
	}
}

func (p *Parser) response(h *half, c *conn.Chunk) {
	if h.typ == 'S' {
		p.parameter(h.Body)
	}
	if h.typ == 'A' {
		p.env.Stats.Pushes++ // NotificationResponse (LISTEN/NOTIFY)
		return
	}
	if len(p.pending) == 0 {
		if h.typ == 'Z' {
			p.env.Stats.UnmatchedResponses++
		}
		return
	}
	u := &p.pending[0]
	u.respBytes += h.size
	switch h.typ {
	case 'Z':
		p.pending = p.pending[1:]
		if len(p.pending) == 0 {
			p.pending = p.pending[:0:0]
		}
		p.readyAt = c.WireNs()
		p.emit(u, c)
	case 'G':
		u.copyIn = true
	case 'C', 'I', 's', 'E':
		if len(u.results) > maxExecs {
			return
		}
		r := result{tag: "EMPTY"}
		switch h.typ {
		case 'C':
			r.tag, _ = cstring(h.Body)
		case 's':
			r.tag = "SUSPENDED"
		case 'E':
			r = p.errorResult(h.Body)
			if u.kind == unitStartup {
				// Authentication failed: no ReadyForQuery follows.
				p.pending = p.pending[1:]
				return
			}
		}
		u.results = append(u.results, r)
	}
}

// parameter reads a ParameterStatus: standard_conforming_strings, as the
// server reports it at startup, tells how to read strings. A change later
// (a SET) leaves it unsure for good: statements parsed before it (prepared
// ones, or the rest of the same query string) were read the old way.
func (p *Parser) parameter(b []byte) {
	name, rest := cstring(b)
	if name != "standard_conforming_strings" {
		return
	}
	value, _ := cstring(rest)
	switch {
	case len(p.pending) == 0 || p.pending[0].kind != unitStartup:
		p.dialect = sqltext.Postgres
	case value == "on":
		p.dialect = sqltext.PostgresConforming
	case value == "off":
		p.dialect = sqltext.PostgresEscapes
	}
}

// errorResult renders an ErrorResponse: its severity and SQLSTATE, and
// its message only under full data (messages may quote values).
func (p *Parser) errorResult(b []byte) result {
	var sev, code, msg string
	for len(b) > 1 {
		f := b[0]
		var v string
		v, b = cstring(b[1:])
		switch f {
		case 'V':
			sev = v
		case 'S':
			if sev == "" {
				sev = v
			}
		case 'C':
			code = v
		case 'M':
			msg = v
		}
	}
	r := result{err: true, state: code, tag: strings.TrimSpace(sev + " " + code)}
	if p.env.FullData && msg != "" {
		r.tag += ": " + msg
	}
	return r
}

// emit writes the records of an answered unit.
func (p *Parser) emit(u *unit, c *conn.Chunk) {
	end := c.WireNs()
	switch u.kind {
	case unitQuery:
		r := result{}
		for _, x := range u.results {
			if x.err {
				r = x
				break
			}
			r = x
		}
		p.record(u, "QUERY", u.query, r, u.size, u.respBytes, end)
	case unitExtended:
		if len(u.execs) == 0 {
			if u.prepares > 0 {
				r := result{tag: "PARSE"}
				if len(u.results) > 0 {
					r = u.results[0]
				}
				p.record(u, "PREPARE", u.query, r, u.size, u.respBytes, end)
			}
			return
		}
		for i, q := range u.execs {
			if i >= len(u.results) {
				break // not executed: an error ended the batch
			}
			reqBytes, respBytes := int64(0), int64(0)
			if i == 0 {
				reqBytes, respBytes = u.size, u.respBytes
			}
			p.record(u, "EXECUTE", q, u.results[i], reqBytes, respBytes, end)
			if u.results[i].err {
				break
			}
		}
	}
}

func (p *Parser) record(u *unit, cmd string, query sqlText, r result, reqBytes, respBytes int64, end uint64) {
	kind, tmpl := sqltext.Template([]byte(query.s), p.dialect, templateLen, query.cut)
	if cmd == "PREPARE" {
		kind = "PREPARE"
	}
	ev := &api.PgSQLEvent{
		Header:        api.Header{Table: api.TablePgSQLEvents, V: api.Version},
		ReqCmd:        cmd,
		QueryKind:     kind,
		QueryTemplate: tmpl,
		SQLState:      r.state,
		ReqBytes:      reqBytes,
		RespBytes:     respBytes,
	}
	if l := p.env.BodyLimit; l > 0 && p.env.Mode() != api.DataAccessNone {
		if p.env.FullData {
			ev.Req = sqltext.Bound(query.s, l)
			if query.cut && !strings.HasSuffix(ev.Req, "…") {
				ev.Req += "…"
			}
		} else {
			_, ev.Req = sqltext.Template([]byte(query.s), p.dialect, l, query.cut)
		}
		ev.Resp = sqltext.Bound(r.tag, l)
	}
	p.env.Out.Emit(ev, u.start, end)
}

// End implements conn.Parser.
func (p *Parser) End(endNs uint64, why conn.EndReason) {
	if !p.dead {
		p.env.Stats.UnmatchedRequests += uint64(p.unanswered())
	}
	p.pending = nil
	p.dead = true
}
