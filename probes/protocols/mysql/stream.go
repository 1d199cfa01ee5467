package mysql

import (
	"bytes"
	"encoding/binary"
	"strconv"

	"github.com/kubectl-pixie/kubectl-pixie/probes/api"
	"github.com/kubectl-pixie/kubectl-pixie/probes/conn"
	"github.com/kubectl-pixie/kubectl-pixie/probes/protocols/internal/framing"
	"github.com/kubectl-pixie/kubectl-pixie/probes/protocols/internal/sqltext"
)

const (
	// maxPending bounds commands sent before their responses (clients
	// rarely pipeline). Past it the connection is abandoned.
	maxPending = 256
	// maxStatements bounds the prepared statements remembered.
	maxStatements = 256
	keepQuery     = 4096
	templateLen   = 120
	maxPacket     = 1<<24 - 1 // a payload this long continues in the next packet
)

// rsState is where a response is.
type rsState uint8

const (
	rsStart      rsState = iota // first packet of a result (OK, ERR, column count, ...)
	rsDefs                      // column definitions
	rsAfterDefs                 // EOF, first row or terminator
	rsRows                      // rows up to the terminator
	rsInfile                    // LOCAL INFILE: the client sends, then OK or ERR
	rsPrepParams                // STMT_PREPARE: parameter definitions
	rsPrepCols                  // STMT_PREPARE: column definitions
	rsMaybeEOF                  // an EOF may follow the definitions (protocol mode unknown)
	rsAuth                      // authentication exchange up to OK or ERR
)

type sqlText struct {
	s   string
	cut bool
}

// request is a command waiting for (or reading) its response.
type request struct {
	cmd       byte
	name      string
	query     sqlText
	resp      respKind
	start     uint64
	size      int64
	respBytes int64
	// response progress
	state    rsState
	defs     int // definitions left
	cols     int // prepare: column definitions after the parameters
	rows     int64
	affected uint64
	stmtID   uint32
	eofs     int // EOF packets still expected (prepare, classic mode)
	lastSeq  byte
	lastEnd  uint64
	errCode  int
	errMsg   string
}

// half is one direction's packet being handled.
type half struct {
	req             bool
	seq             byte
	length          int
	cont            bool // this packet continues the previous one's payload
	nextCont        bool
	framing.Message // the packet being handled (valid during packet)
}

// Head implements framing.Rules: a packet header is its length and
// sequence number.
func (p *Parser) Head(dir conn.Dir, hdr []byte) (framing.Head, bool) {
	if len(hdr) < 4 {
		return framing.Head{Len: 4}, true
	}
	h := &p.halves[dir-1]
	h.length, h.seq = le24(hdr), hdr[3]
	h.cont = h.nextCont
	h.nextCont = h.length == maxPacket
	return framing.Head{Len: 4, Size: h.length, Keep: p.keepFor(h)}, true
}

// Parser pairs one connection's commands and responses.
type Parser struct {
	env     *conn.Env
	fr      framing.Duplex
	halves  [2]half // by conn.Dir-1
	reqDir  conn.Dir
	pending []request
	// handshake: the connection phase is not over (greeting, login,
	// authentication); serverCaps from the greeting.
	handshake  bool
	serverCaps uint32
	caps       uint32 // both sides' capabilities, once the login is seen
	// eofMode: 0 unknown, 1 EOF packets after definitions, 2 deprecated.
	eofMode    uint8
	statements map[uint32]sqlText
	dead       bool
	// respLost: response bytes were lost across packets while one command
	// waited; the response side resynchronises at a call ending with that
	// response's last packet (read whole from its end), or at the next
	// command's response. reqLost: LOCAL INFILE data was lost; the
	// command side resynchronises at a command after its response.
	respLost, reqLost bool
	lastResp, readyAt uint64
	// dialect: whether backslashes escape in strings, from the server's
	// status flags (MySQLUnsure until one is seen).
	dialect sqltext.Dialect
}

// NewParser returns a parser for a connection with env's role.
func NewParser(env *conn.Env) *Parser {
	p := &Parser{env: env, reqDir: conn.Ingress, statements: map[uint32]sqlText{}, dialect: sqltext.MySQLUnsure}
	if env.Role == conn.RoleClient {
		p.reqDir = conn.Egress
	}
	p.fr = framing.NewDuplex(env.Stats, env.Fresh, p)
	p.halves[p.reqDir-1].req = true
	p.handshake = env.Fresh
	return p
}

// Feed implements conn.Parser.
func (p *Parser) Feed(c *conn.Chunk) {
	if p.dead {
		return
	}
	p.fr.Feed(c)
	if c.Dir != p.reqDir && c.Gap == 0 && !c.EOF {
		p.lastResp = c.WireNs()
	}
}

// Lost implements framing.Rules. Bytes lost across packets while a
// single command waits (so that no other command can be among them), in
// its response (a large result written in calls longer than the capture)
// or in its LOCAL INFILE data, leave the pairing to resynchronise; any
// other loss ends it.
func (p *Parser) Lost(dir conn.Dir, broken bool) {
	h := &p.halves[dir-1]
	one := !p.handshake && len(p.pending) == 1 && !p.respLost && !p.reqLost && p.pending[0].state != rsMaybeEOF
	switch {
	case broken || !one || h.req && p.pending[0].state != rsInfile:
		p.drop()
	case h.req:
		h.nextCont = false
		p.reqLost = true
	default:
		h.nextCont = false
		p.respLost = true
	}
}

// resyncLost looks for the end of a response whose bytes were lost.
func (p *Parser) resyncLost(h *half, c *conn.Chunk) bool {
	d := c.Data
	switch {
	case len(p.pending) == 1:
		status, code, ok := tailStatus(d)
		if !ok {
			return false
		}
		r := p.pending[0]
		p.pending = p.pending[:0:0]
		p.respLost = false
		p.readyAt = c.WireNs()
		p.fr.Dir(c.Dir).Sync() // from the next call
		h.nextCont = false
		r.errCode, r.errMsg, r.rows, r.state = code, "", -1, rsStart
		p.emit(&r, status, c.WireNs())
		return false
	case len(p.pending) == 2 && p.pending[1].start >= p.lastResp && len(d) >= 5 && d[3] == 1:
		// The next command went out after the last response bytes: this
		// call starts its response (sequence 1).
		p.env.Stats.UnmatchedRequests++
		p.pending = p.pending[1:]
		p.respLost = false
		h.nextCont = false
		return true
	case len(p.pending) > 2:
		p.lose()
	}
	return false
}

// tailStatus reads the packet that ends d when it ends a response: an EOF
// or an OK with the 0xfe header (without more results to follow), or an
// ERR packet, accepted only when its length matches to the last byte.
func tailStatus(d []byte) (status string, code int, ok bool) {
	n := len(d)
	if n >= 9 && le24(d[n-9:]) == 5 && d[n-5] == 0xfe {
		if binary.LittleEndian.Uint16(d[n-2:])&statusMoreResults != 0 {
			return "", 0, false
		}
		return "OK", 0, true
	}
	for l := 7; l <= 32 && l+4 <= n; l++ {
		i := n - 4 - l
		if le24(d[i:]) != l || d[i+4] != 0xfe {
			continue
		}
		_, rest, ok1 := lenenc(d[i+5:])
		_, rest, ok2 := lenenc(rest)
		if !ok1 || !ok2 || len(rest) < 4 || binary.LittleEndian.Uint16(rest)&statusMoreResults != 0 {
			return "", 0, false
		}
		return "OK", 0, true
	}
	for i := n - 4 - 9; i >= 0 && i >= n-4-600; i-- {
		if le24(d[i:]) == n-i-4 && d[i+4] == 0xff && d[i+7] == '#' {
			return "ERR", int(binary.LittleEndian.Uint16(d[i+5:])), true
		}
	}
	return "", 0, false
}

// Resync implements framing.Rules: it starts a direction of a connection
// seen mid-stream (or after a loss): commands at
// a packet with sequence 0 and a known command, responses at a packet with
// sequence 1 once a command waits, in a call after it.
func (p *Parser) Resync(c *conn.Chunk) bool {
	h := &p.halves[c.Dir-1]
	d := c.Data
	if !h.req && p.respLost {
		return p.resyncLost(h, c)
	}
	if h.req && p.reqLost && (len(p.pending) > 0 || c.WireNs() < p.readyAt) {
		return false // the INFILE is not answered yet: its data goes on
	}
	if len(d) < 5 {
		return false
	}
	if h.req {
		if _, ok := commands[d[4]]; !ok || d[3] != 0 {
			return false
		}
		if d[4] == comQuery || d[4] == comStmtPrepare {
			inf := (Protocol{}).Infer(d, conn.Egress, conn.TransportTCP)
			if inf.Conf != conn.High && inf.Conf != conn.Low {
				return false
			}
		}
	} else if len(p.pending) == 0 || c.WireNs() < p.pending[0].start || d[3] != 1 {
		return false
	}
	if h.req {
		p.reqLost = false
	}
	h.nextCont = false
	return true
}

// keepFor: commands keep their SQL text (nothing during the login: it
// holds the password's hash), responses what their first bytes say.
func (p *Parser) keepFor(h *half) int {
	k := 64
	switch {
	case h.req && p.handshake:
		k = 4 // capability flags only
	case h.req && !h.cont:
		k = keepQuery
	case h.req:
		k = 0
	case !h.req && p.handshake:
		k = 128
	}
	if m := p.env.MaxBufferedBytes; m > 0 && k > m {
		k = m
	}
	return k
}

// lose gives up the connection: with bytes missing outside a packet there
// is no telling how many commands were lost.
func (p *Parser) lose() {
	if !p.dead {
		p.env.Stats.Resyncs++
		p.drop()
	}
}

// drop ends the pairing; the framer counted the resync.
func (p *Parser) drop() {
	p.env.Stats.UnmatchedRequests += uint64(len(p.pending))
	p.pending = nil
	p.dead = true
}

// Message implements framing.Rules: a whole packet (its body possibly
// cut) goes to the command or the response it belongs to.
func (p *Parser) Message(m *framing.Message, c *conn.Chunk) bool {
	h := &p.halves[c.Dir-1]
	h.Message = *m
	switch {
	case h.req:
		p.request(h, c)
	case h.cont:
		if len(p.pending) > 0 {
			p.pending[0].respBytes += int64(h.length) + 4
		}
		// the rest of a long row
	default:
		p.response(h, c)
	}
	return !p.dead
}

func (p *Parser) request(h *half, c *conn.Chunk) {
	if p.handshake {
		// Login and authentication data: only the capabilities are read.
		if h.seq == 1 && len(h.Body) >= 4 && len(p.pending) == 0 {
			caps := binary.LittleEndian.Uint32(h.Body)
			if caps&capSSL != 0 && h.length <= 36 {
				p.dead = true // TLS from here
				return
			}
			p.caps = caps & p.serverCaps
			if p.caps&capDeprecateEOF != 0 {
				p.eofMode = 2
			} else if p.serverCaps != 0 {
				p.eofMode = 1
			}
		}
		return
	}
	if h.cont || h.seq != 0 {
		// LOCAL INFILE data, or the rest of a long command.
		if len(p.pending) > 0 {
			p.pending[len(p.pending)-1].size += int64(h.length) + 4
		}
		return
	}
	if len(h.Body) == 0 {
		p.env.Stats.ParseErrors++
		p.lose()
		return
	}
	p.finishMaybe(c)
	cmd, ok := commands[h.Body[0]]
	if !ok {
		// Replication streams and unknown commands: responses of unknown shape.
		p.env.Stats.ParseErrors++
		p.lose()
		return
	}
	r := request{cmd: h.Body[0], name: cmd.name, resp: cmd.resp, start: h.Start, size: int64(h.length) + 4}
	body := h.Body[1:]
	switch r.cmd {
	case comQuery:
		if p.caps&capQueryAttributes != 0 {
			// parameter count 0, one parameter set: "\x00\x01"
			if len(body) < 2 || body[0] != 0 {
				r.query = sqlText{"", true}
				break
			}
			body = body[2:]
		}
		r.query = sqlText{string(body), h.Cut}
	case comStmtPrepare:
		r.query = sqlText{string(body), h.Cut}
	case comStmtExecute, comStmtFetch, comStmtClose, comStmtReset, comStmtSendLongData:
		if len(body) >= 4 {
			r.stmtID = binary.LittleEndian.Uint32(body)
			r.query = p.statements[r.stmtID]
		}
		if r.cmd == comStmtClose {
			delete(p.statements, r.stmtID)
		}
	case comInitDB:
		r.query = sqlText{"USE " + string(body), h.Cut}
	}
	if r.resp == respNone {
		if r.cmd != comStmtSendLongData {
			p.emit(&r, "NONE", h.Start)
		}
		return
	}
	if r.resp == respAuth {
		r.state = rsAuth
	}
	if len(p.pending) >= maxPending {
		p.lose()
		return
	}
	p.pending = append(p.pending, r)
}

// finishMaybe ends a prepare response whose trailing EOF did not come.
func (p *Parser) finishMaybe(c *conn.Chunk) {
	if len(p.pending) > 0 && p.pending[0].state == rsMaybeEOF {
		r := p.pending[0]
		p.pop()
		p.emit(&r, "OK", r.lastEnd)
	}
}

func (p *Parser) pop() {
	p.pending = p.pending[1:]
	if len(p.pending) == 0 {
		p.pending = p.pending[:0:0]
	}
}

// lenenc reads a length-encoded integer.
func lenenc(b []byte) (uint64, []byte, bool) {
	if len(b) == 0 {
		return 0, nil, false
	}
	switch c := b[0]; {
	case c < 0xfb:
		return uint64(c), b[1:], true
	case c == 0xfc && len(b) >= 3:
		return uint64(binary.LittleEndian.Uint16(b[1:])), b[3:], true
	case c == 0xfd && len(b) >= 4:
		return uint64(le24(b[1:])), b[4:], true
	case c == 0xfe && len(b) >= 9:
		return binary.LittleEndian.Uint64(b[1:]), b[9:], true
	}
	return 0, nil, false
}

// okStatus reads an OK packet (header 0x00 or 0xfe): affected rows and
// status flags.
func okStatus(b []byte) (affected uint64, status uint16) {
	affected, rest, ok := lenenc(b[1:])
	if !ok {
		return 0, 0
	}
	if _, rest, ok = lenenc(rest); !ok || len(rest) < 2 {
		return affected, 0
	}
	return affected, binary.LittleEndian.Uint16(rest)
}

// isEOF: a 4.1 EOF packet is exactly 5 bytes; an OK packet with the 0xfe
// header (CLIENT_DEPRECATE_EOF) is at least 7.
func isEOF(h *half) bool { return h.length == 5 && len(h.Body) == 5 && h.Body[0] == 0xfe }

func (p *Parser) response(h *half, c *conn.Chunk) {
	if p.handshake {
		p.login(h)
		return
	}
	for {
		if len(p.pending) == 0 {
			p.env.Stats.UnmatchedResponses++
			return
		}
		r := &p.pending[0]
		if r.state != rsMaybeEOF {
			break
		}
		if isEOF(h) && h.seq == r.lastSeq+1 {
			p.eofMode = 1
			r.respBytes += int64(h.length) + 4
			rr := *r
			p.pop()
			p.emit(&rr, "OK", c.WireNs())
			return
		}
		p.finishMaybe(c)
	}
	r := &p.pending[0]
	r.respBytes += int64(h.length) + 4
	r.lastSeq = h.seq
	r.lastEnd = c.WireNs()
	b := h.Body
	if len(b) == 0 {
		p.env.Stats.ParseErrors++
		p.lose()
		return
	}
	done := ""
	if b[0] == 0xff && r.state != rsDefs && r.state != rsPrepParams && r.state != rsPrepCols {
		p.errPacket(r, b)
		done = "ERR"
	} else {
		done = p.step(r, h, b)
	}
	if done != "" {
		rr := *r
		p.pop()
		p.readyAt = c.WireNs()
		p.emit(&rr, done, c.WireNs())
	}
}

// step advances a response by one packet; it returns the status once the
// response is complete.
func (p *Parser) step(r *request, h *half, b []byte) string {
	switch r.state {
	case rsAuth:
		if b[0] == 0x00 {
			return "OK"
		}
		return ""
	case rsInfile:
		if b[0] == 0x00 {
			r.affected, _ = okStatus(b)
			return "OK"
		}
		return ""
	case rsDefs:
		r.defs--
		if r.defs <= 0 {
			r.state = rsAfterDefs
			if r.resp == respDefs {
				r.state = rsRows // FIELD_LIST: EOF ends it
			}
		}
		return ""
	case rsAfterDefs:
		return p.afterDefs(r, h, b)
	case rsRows:
		if b[0] == 0xfe && h.length < maxPacket {
			return p.terminator(r, h, b)
		}
		r.rows++
		return ""
	case rsPrepParams, rsPrepCols:
		return p.prepDefs(r, h)
	}
	return p.first(r, h, b)
}

// afterDefs reads what follows a result's column definitions: an EOF
// (classic protocol), the terminator of an empty result, or a first row.
func (p *Parser) afterDefs(r *request, h *half, b []byte) string {
	switch {
	case isEOF(h):
		p.eofMode = 1
		if binary.LittleEndian.Uint16(b[3:])&statusCursorExists != 0 {
			return "OK" // rows come with STMT_FETCH
		}
		r.state = rsRows
		return ""
	case b[0] == 0xfe && h.length < maxPacket:
		p.eofMode = 2
		return p.terminator(r, h, b)
	}
	if p.eofMode == 0 {
		p.eofMode = 2 // a row right after the definitions
	}
	r.state = rsRows
	r.rows++
	return ""
}

// prepDefs counts a STMT_PREPARE response's definitions and EOFs.
func (p *Parser) prepDefs(r *request, h *half) string {
	if isEOF(h) && r.eofs > 0 {
		r.eofs--
		if r.state == rsPrepCols || r.cols == 0 {
			return "OK"
		}
		r.state = rsPrepCols
		r.defs = r.cols
		return ""
	}
	r.defs--
	if r.defs > 0 {
		return ""
	}
	return p.prepDefsDone(r)
}

// first reads a response's first packet, by the shape the command expects.
func (p *Parser) first(r *request, h *half, b []byte) string {
	switch r.resp {
	case respSingle, respAny:
		if b[0] == 0x00 {
			r.affected, _ = okStatus(b)
		}
		return "OK"
	case respRows:
		r.state = rsRows
		return p.step(r, h, b)
	case respDefs:
		r.state = rsDefs
		r.defs = 1 << 30 // up to the EOF
		if isEOF(h) || b[0] == 0xfe {
			return "OK"
		}
		return ""
	case respPrepare:
		return p.prepareOK(r, b)
	}
	return p.result(r, b)
}

// prepareOK reads STMT_PREPARE_OK: the statement id and how many
// definitions follow.
func (p *Parser) prepareOK(r *request, b []byte) string {
	if b[0] != 0x00 || len(b) < 9 {
		p.env.Stats.ParseErrors++
		return "OK"
	}
	r.stmtID = binary.LittleEndian.Uint32(b[1:])
	r.cols = int(binary.LittleEndian.Uint16(b[5:]))
	params := int(binary.LittleEndian.Uint16(b[7:]))
	if len(p.statements) < maxStatements {
		p.statements[r.stmtID] = r.query
	}
	if len(b) >= 13 && b[12] == 0 {
		r.cols, params = 0, 0 // MariaDB: metadata skipped (cached)
	}
	r.state, r.defs = rsPrepParams, params
	if params == 0 {
		r.state, r.defs = rsPrepCols, r.cols
		if r.cols == 0 {
			return "OK"
		}
	}
	return ""
}

// result reads the first packet of a query's result: OK, LOCAL INFILE, or
// a column count.
func (p *Parser) result(r *request, b []byte) string {
	switch b[0] {
	case 0x00:
		var status uint16
		r.affected, status = okStatus(b)
		p.sawStatus(status)
		if status&statusMoreResults != 0 {
			return ""
		}
		return "OK"
	case 0xfb:
		r.state = rsInfile
		return ""
	}
	n, rest, ok := lenenc(b)
	if !ok || n == 0 {
		p.env.Stats.ParseErrors++
		return "OK"
	}
	r.state, r.defs = rsDefs, int(min(n, 1<<16))
	if len(rest) == 1 && rest[0] == 0 {
		r.state = rsAfterDefs // MariaDB: metadata skipped (cached)
	}
	return ""
}

// prepDefsDone: the last definition of a group came; an EOF follows in
// the classic protocol.
func (p *Parser) prepDefsDone(r *request) string {
	switch p.eofMode {
	case 1:
		r.eofs = 1
		return ""
	case 2:
		if r.state == rsPrepParams && r.cols > 0 {
			r.state, r.defs = rsPrepCols, r.cols
			return ""
		}
		return "OK"
	}
	// Unknown: an EOF may follow; the next packet or command tells.
	if r.state == rsPrepParams && r.cols > 0 {
		r.eofs = 1 // the column definitions follow either way
		r.state, r.defs = rsPrepCols, r.cols
		return ""
	}
	r.state = rsMaybeEOF
	return ""
}

// terminator handles the EOF or OK that ends a result set.
func (p *Parser) terminator(r *request, h *half, b []byte) string {
	var status uint16
	if isEOF(h) {
		status = binary.LittleEndian.Uint16(b[3:])
	} else {
		_, status = okStatus(b)
	}
	p.sawStatus(status)
	if status&statusMoreResults != 0 {
		r.state = rsStart
		return ""
	}
	return "OK"
}

// sawStatus learns from a server's status flags whether backslashes
// escape in strings, so templates never mistake a string's end.
func (p *Parser) sawStatus(status uint16) {
	p.dialect = sqltext.MySQL
	if status&statusNoBackslash != 0 {
		p.dialect = sqltext.MySQLNoBackslash
	}
}

func (p *Parser) errPacket(r *request, b []byte) {
	if len(b) >= 3 {
		r.errCode = int(binary.LittleEndian.Uint16(b[1:]))
	}
	msg := b[min(3, len(b)):]
	if len(msg) >= 6 && msg[0] == '#' {
		msg = msg[6:]
	}
	r.errMsg = string(msg)
}

// login follows the connection phase: the greeting's capabilities, then
// authentication until the server's OK or ERR.
func (p *Parser) login(h *half) {
	b := h.Body
	if len(b) == 0 {
		return
	}
	switch {
	case h.seq == 0 && b[0] == 0x0a:
		// greeting: version, thread id, 8 bytes, filler, caps low, charset, status, caps high
		i := bytes.IndexByte(b[1:], 0)
		if i >= 0 {
			o := 1 + i + 1 + 4 + 8 + 1
			if len(b) >= o+2 {
				p.serverCaps = uint32(binary.LittleEndian.Uint16(b[o:]))
			}
			if len(b) >= o+7 {
				p.serverCaps |= uint32(binary.LittleEndian.Uint16(b[o+5:])) << 16
				p.sawStatus(binary.LittleEndian.Uint16(b[o+3:]))
			}
		}
	case b[0] == 0x00 && h.seq > 0:
		p.handshake = false // authenticated
	case b[0] == 0xff:
		p.dead = true // login refused: the server closes
	}
}

// emit writes the record of a completed command.
func (p *Parser) emit(r *request, status string, end uint64) {
	ev := &api.MySQLEvent{
		Header:     api.Header{Table: api.TableMySQLEvents, V: api.Version},
		ReqCmd:     r.name,
		RespStatus: status,
		ReqBytes:   r.size,
		RespBytes:  r.respBytes,
	}
	if status == "ERR" {
		ev.ErrCode = r.errCode
	}
	switch r.cmd {
	case comQuery, comStmtPrepare, comStmtExecute, comStmtFetch, comStmtClose, comStmtReset:
		ev.QueryKind, ev.QueryTemplate = sqltext.Template([]byte(r.query.s), p.dialect, templateLen, r.query.cut)
		if r.cmd == comStmtPrepare {
			ev.QueryKind = "PREPARE"
		}
		if r.cmd != comQuery && r.cmd != comStmtExecute && r.cmd != comStmtPrepare {
			ev.QueryKind = r.name
		}
	default:
		ev.QueryKind = r.name
	}
	if l := p.env.BodyLimit; l > 0 && p.env.Mode() != api.DataAccessNone {
		if r.query.s != "" {
			if p.env.FullData {
				ev.ReqBody = sqltext.Bound(r.query.s, l)
			} else {
				_, ev.ReqBody = sqltext.Template([]byte(r.query.s), p.dialect, l, r.query.cut)
			}
		}
		var resp string
		switch {
		case status == "ERR":
			resp = "ERR " + strconv.Itoa(r.errCode)
			if p.env.FullData && r.errMsg != "" {
				resp += ": " + r.errMsg
			}
		case r.cmd == comStmtPrepare:
			resp = "stmt " + strconv.FormatUint(uint64(r.stmtID), 10)
		case r.rows < 0:
			resp = "" // rows lost in gaps
		case r.rows > 0 || r.state == rsRows:
			resp = strconv.FormatInt(r.rows, 10) + " rows"
		case status == "OK":
			resp = "affected " + strconv.FormatUint(r.affected, 10)
		}
		ev.RespBody = sqltext.Bound(resp, l)
	}
	start := r.start
	if end < start {
		end = start
	}
	p.env.Out.Emit(ev, start, end)
}

// End implements conn.Parser.
func (p *Parser) End(endNs uint64, why conn.EndReason) {
	if !p.dead {
		if len(p.pending) > 0 && p.pending[0].state == rsMaybeEOF {
			p.finishMaybe(nil)
		}
		p.env.Stats.UnmatchedRequests += uint64(len(p.pending))
	}
	p.pending = nil
	p.dead = true
}
