// Package nats parses the NATS client protocol for the connection
// tracker: control lines (CONNECT, INFO, PUB, HPUB, SUB, UNSUB, MSG,
// HMSG, PING, PONG, +OK, -ERR) and the payloads that follow them. A
// message is one-way, except that a message carrying a reply subject is
// paired with the message that comes back on that subject (request-reply,
// seen from the requester, the responder or the server alike); a PING
// pairs with the PONG that answers it, and in verbose mode a client's op
// with its +OK or -ERR. CONNECT's credentials are never kept.
package nats

import (
	"bytes"

	"github.com/kubectl-pixie/kubectl-pixie/probes/api"
	"github.com/kubectl-pixie/kubectl-pixie/probes/api/vocab"
	"github.com/kubectl-pixie/kubectl-pixie/probes/conn"
)

const (
	// maxLine bounds a control line kept: the server's max_control_line
	// defaults to 4 KiB; CONNECT may carry a JWT.
	maxLine = 16 << 10
	// maxWaiting bounds requests awaiting replies, ops awaiting acks and
	// PINGs awaiting PONGs; past it the oldest is given up.
	maxWaiting = 1024
	// maxSids bounds the subscriptions remembered to name UNSUB's subject.
	maxSids = 4096
	// statusKeep is what is read of a payload even when none is kept: an
	// HMSG's status line ("NATS/1.0 503").
	statusKeep = 64
)

// Protocol implements conn.Protocol.
type Protocol struct{}

func (Protocol) Name() string { return vocab.ProtocolNATS }

// Infer recognises the first thing each side sends: the server's INFO
// and the client's CONNECT, each with its JSON options (High); mid-stream,
// a whole valid PUB, HPUB, SUB, MSG or HMSG line (Low). PING and PONG
// alone are Redis inline commands too: never enough.
func (Protocol) Infer(b []byte, dir conn.Dir, transport uint8) conn.Inference {
	if transport == conn.TransportUDP || len(b) == 0 {
		return conn.Inference{}
	}
	n := opName(b)
	var conf conn.Confidence
	switch n {
	case "":
		for _, w := range [...]string{"INFO {", "CONNECT {"} {
			if len(b) < len(w) && bytes.EqualFold(b, []byte(w[:len(b)])) {
				return conn.Inference{Conf: conn.NeedMore}
			}
		}
		return conn.Inference{}
	case "INFO", "CONNECT":
		rest := bytes.TrimLeft(b[len(n):], " \t")
		switch {
		case len(rest) == 0:
			return conn.Inference{Conf: conn.NeedMore}
		case rest[0] != '{':
			return conn.Inference{}
		}
		conf = conn.High
	case "PUB", "HPUB", "SUB", "MSG", "HMSG":
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			if len(b) < 512 {
				return conn.Inference{Conf: conn.NeedMore}
			}
			return conn.Inference{}
		}
		if _, ok := parseLine(bytes.TrimSuffix(b[:i], []byte("\r"))); !ok {
			return conn.Inference{}
		}
		conf = conn.Low
	default:
		return conn.Inference{}
	}
	role := conn.RoleServer
	if (dir == conn.Egress) == clientOp(n) {
		role = conn.RoleClient
	}
	return conn.Inference{Conf: conf, Role: role}
}

// clientOp: only clients send op n.
func clientOp(n string) bool {
	switch n {
	case "PUB", "HPUB", "SUB", "UNSUB", "CONNECT":
		return true
	}
	return false
}

func (Protocol) NewParser(env *conn.Env) conn.Parser { return NewParser(env) }

// waiting is a message awaiting its answers: a reply on its reply
// subject, an ack (verbose mode), or both.
type waiting struct {
	ev         *api.NATSEvent // nil: an ack to swallow (a reply's own ack)
	start, end uint64
	waits      int
	reply      string   // the reply subject awaited
	replyDir   conn.Dir // the direction the reply comes in
	ack        string   // "+OK" or "-ERR ..." once acked
}

// Parser is one connection's state.
type Parser struct {
	env       *conn.Env
	rd        reader
	dirs      [2]stream
	cur       conn.Dir // direction of the call being read
	onOp      done
	clientDir conn.Dir
	verbose   bool
	acks      []*waiting
	replies   []*waiting
	pings     [2][]uint64 // starts of PINGs sent in each direction
	sids      map[string]string
}

// NewParser returns a parser for a connection with env's role.
func NewParser(env *conn.Env) *Parser {
	p := &Parser{env: env, clientDir: conn.Ingress, sids: map[string]string{}}
	if env.Role == conn.RoleClient {
		p.clientDir = conn.Egress
	}
	p.rd = reader{maxLine: maxLine, keep: max(env.BodyLimit, statusKeep), stats: env.Stats}
	if env.MaxBufferedBytes > 0 {
		p.rd.maxLine = max(min(maxLine, env.MaxBufferedBytes), 256)
		p.rd.keep = max(min(p.rd.keep, env.MaxBufferedBytes), statusKeep)
	}
	p.dirs[0].synced, p.dirs[1].synced = env.Fresh, env.Fresh
	p.onOp = p.handle
	return p
}

// Feed implements conn.Parser.
func (p *Parser) Feed(c *conn.Chunk) {
	if c.Dir != conn.Egress && c.Dir != conn.Ingress {
		return
	}
	p.cur = c.Dir
	p.rd.feed(&p.dirs[c.Dir-1], c, p.onOp)
}

// handle takes one whole op read in direction p.cur.
func (p *Parser) handle(o *op, payload []byte, cut bool, start, end uint64) {
	d := p.cur
	switch o.cmd {
	case "PING":
		if len(p.pings[d-1]) == maxWaiting {
			p.pings[d-1] = p.pings[d-1][1:]
			p.env.Stats.UnmatchedRequests++
		}
		p.pings[d-1] = append(p.pings[d-1], start)
	case "PONG":
		q := p.pings[d.Other()-1]
		if len(q) == 0 {
			p.env.Stats.UnmatchedResponses++
			return
		}
		p.pings[d.Other()-1] = q[1:]
		ev := p.event(o, nil, false)
		ev.Cmd, ev.ReqBytes, ev.RespBytes = "PING", int64(len("PING\r\n")), o.wireBytes()
		if p.bodies() {
			ev.Resp = "PONG"
		}
		p.env.Out.Emit(ev, q[0], end)
	case "+OK", "-ERR":
		p.acked(o, end)
	default:
		p.message(d, o, payload, cut, start)
	}
}

// message takes CONNECT, INFO, SUB, UNSUB and the messages.
func (p *Parser) message(d conn.Dir, o *op, payload []byte, cut bool, start uint64) {
	fromClient := d == p.clientDir
	ev := p.event(o, payload, cut)
	switch o.cmd {
	case "CONNECT":
		p.verbose = connectVerbose(o.args)
	case "SUB":
		if len(p.sids) < maxSids {
			p.sids[o.sid] = o.subject
		}
	case "UNSUB":
		ev.Subject = p.sids[o.sid]
		ev.SubjectTemplate = subjectTemplate(ev.Subject)
		if o.maxMsgs == 0 {
			delete(p.sids, o.sid)
		}
	}
	if o.hasPayload() && p.answers(d, o, payload, cut, start) {
		if p.verbose && fromClient {
			p.await(&waiting{waits: 1}, true)
		}
		return
	}
	w := &waiting{ev: ev, start: start, end: start}
	if o.hasPayload() && o.reply != "" {
		w.reply, w.replyDir, w.waits = o.reply, d.Other(), w.waits+1
		p.await(w, false)
	}
	if p.verbose && fromClient {
		w.waits++
		p.await(w, true)
	}
	if w.waits == 0 {
		p.env.Out.Emit(ev, start, start)
	}
}

// await queues w for an ack or a reply; past the bound the oldest is
// given up, emitted as it is.
func (p *Parser) await(w *waiting, ack bool) {
	q := &p.replies
	if ack {
		q = &p.acks
	}
	if len(*q) == maxWaiting {
		old := (*q)[0]
		*q = (*q)[1:]
		p.env.Stats.UnmatchedRequests++
		old.waits--
		p.finish(old)
	}
	*q = append(*q, w)
}

// answers pairs a message with the request awaiting a reply on its
// subject in direction d; false when none does.
func (p *Parser) answers(d conn.Dir, o *op, payload []byte, cut bool, end uint64) bool {
	for i, w := range p.replies {
		if w.replyDir != d || w.reply != o.subject {
			continue
		}
		p.replies = append(p.replies[:i], p.replies[i+1:]...)
		w.ev.RespBytes = o.wireBytes()
		if p.bodies() {
			w.ev.Resp = p.options(o, payload, cut, true)
		}
		if s := status(o, payload); s != "" {
			w.ev.Error = s
		}
		w.end = max(w.end, end)
		w.waits--
		p.finish(w)
		return true
	}
	return false
}

// acked gives +OK or -ERR to the oldest op awaiting its ack; a -ERR
// nothing awaits is a record of its own.
func (p *Parser) acked(o *op, end uint64) {
	text := o.cmd
	if o.cmd == "-ERR" {
		text += " " + string(bytes.TrimSpace(o.args))
	}
	if len(p.acks) == 0 {
		if o.cmd == "+OK" {
			p.env.Stats.UnmatchedResponses++
			return
		}
		ev := p.event(o, nil, false)
		p.env.Out.Emit(ev, end, end)
		return
	}
	w := p.acks[0]
	p.acks = p.acks[1:]
	if w.ev != nil {
		w.ack = text
		w.ev.RespBytes += o.wireBytes()
		if o.cmd == "-ERR" {
			w.ev.Error = errorText(o.args)
		}
	}
	w.end = max(w.end, end)
	w.waits--
	p.finish(w)
}

// finish emits w once it awaits nothing more.
func (p *Parser) finish(w *waiting) {
	if w.waits > 0 || w.ev == nil {
		return
	}
	if w.ev.Resp == "" && w.ack != "" && p.bodies() {
		w.ev.Resp = w.ack
	}
	p.env.Out.Emit(w.ev, w.start, w.end)
}

// End implements conn.Parser: requests still awaiting are emitted as they
// are and counted unmatched.
func (p *Parser) End(endNs uint64, why conn.EndReason) {
	for _, q := range [][]*waiting{p.replies, p.acks} {
		for _, w := range q {
			if w.ev != nil {
				p.env.Stats.UnmatchedRequests++
			}
			w.waits = 0
			p.finish(w)
			w.ev = nil // emitted once, even when in both queues
		}
	}
	p.env.Stats.UnmatchedRequests += uint64(len(p.pings[0]) + len(p.pings[1]))
	p.replies, p.acks, p.pings = nil, nil, [2][]uint64{}
}

// bodies: records keep options and answers.
func (p *Parser) bodies() bool {
	return !p.env.NoHeaders && p.env.Mode() != api.DataAccessNone
}
