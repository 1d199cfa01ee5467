// Package dns parses DNS over UDP and TCP for the connection tracker: each
// query is matched with its response by transaction ID and peer (on TCP,
// messages framed by their 2-byte length, several per connection, answered
// in any order), whatever the port, and rendered in Pixie's dns_events
// columns.
package dns

import (
	"encoding/json"
	"net/netip"
	"strings"

	"github.com/kubectl-pixie/kubectl-pixie/probes/api"
	"github.com/kubectl-pixie/kubectl-pixie/probes/api/vocab"
	"github.com/kubectl-pixie/kubectl-pixie/probes/conn"
	"github.com/kubectl-pixie/kubectl-pixie/probes/protocols/internal/framing"
)

// Protocol implements conn.Protocol.
type Protocol struct{}

func (Protocol) Name() string { return vocab.ProtocolDNS }

// Infer accepts a UDP datagram that is a well-formed standard query or
// response with exactly one question: header flags consistent with it,
// the question name decodes, its class is Internet (or CHAOS, HESIOD,
// ANY) and a query has nothing after it but one EDNS OPT record.
func (Protocol) Infer(b []byte, dir conn.Dir, transport uint8) conn.Inference {
	if transport == conn.TransportTCP {
		// RFC 1035 4.2.2: each message after its 2-byte length.
		if len(b) < 2 {
			return conn.Inference{Conf: conn.NeedMore}
		}
		n := int(b[0])<<8 | int(b[1])
		if n < headerLen || len(b) < 2+n {
			return conn.Inference{}
		}
		return inferMessage(b[2:2+n], dir)
	}
	if transport != conn.TransportUDP {
		return conn.Inference{}
	}
	return inferMessage(b, dir)
}

func inferMessage(b []byte, dir conn.Dir) conn.Inference {
	h, ok := parseHeader(b)
	if !ok || h.opcode != 0 || h.qd != 1 || h.flags&0x0040 != 0 {
		return conn.Inference{}
	}
	if !h.qr && (h.an != 0 || h.ns != 0 || h.ar > 1 || h.rcode != 0 || h.aa || h.tc || h.ra) {
		return conn.Inference{}
	}
	q, off, err := readQuestion(b, headerLen)
	if err != nil || q.qtype == 0 || (q.class != 1 && q.class != 3 && q.class != 4 && q.class != 255) {
		return conn.Inference{}
	}
	if !h.qr {
		switch rest := b[off:]; {
		case len(rest) == 0 && h.ar == 0:
		case h.ar == 1 && len(rest) >= 11 && rest[0] == 0 && rest[1] == 0 && rest[2] == 41 &&
			len(rest) == 11+int(rest[9])<<8+int(rest[10]):
		default:
			return conn.Inference{}
		}
	}
	// A query sent, or a response received, makes a client.
	role := conn.RoleServer
	if (dir == conn.Egress) != h.qr {
		role = conn.RoleClient
	}
	return conn.Inference{Conf: conn.High, Role: role}
}

func (Protocol) NewParser(env *conn.Env) conn.Parser { return NewParser(env) }

// Bounds of one socket's state and of rendered records.
const (
	maxPending   = 1024
	maxQuestions = 8
	maxAnswers   = 32
)

type key struct {
	id   uint16
	peer netip.AddrPort
}

// maxTCPMessage bounds what is kept of one message over TCP.
const maxTCPMessage = 4096

type query struct {
	start   uint64
	seq     uint64
	q       question
	hdr     string
	body    string
	size    int64
	qtype   string
	nameLow string
}

// Parser matches one socket's queries and responses.
type Parser struct {
	env     *conn.Env
	reqDir  conn.Dir
	pending map[key]*query
	seq     uint64
	tcp     *framing.Duplex // TCP: the length-prefixed messages
	msg     conn.Chunk      // TCP: one message as a datagram
}

// NewParser returns a parser for a socket with env's role.
func NewParser(env *conn.Env) *Parser {
	p := &Parser{env: env, reqDir: conn.Ingress, pending: map[key]*query{}}
	if env.Role == conn.RoleClient {
		p.reqDir = conn.Egress
	}
	if env.Transport == conn.TransportTCP {
		d := framing.NewDuplex(env.Stats, env.Fresh, tcpRules{p})
		p.tcp = &d
	}
	return p
}

// tcpRules frame DNS over TCP: a 2-byte length, then the message.
type tcpRules struct{ p *Parser }

func (tcpRules) Head(_ conn.Dir, hdr []byte) (framing.Head, bool) {
	if len(hdr) < 2 {
		return framing.Head{Len: 2}, true
	}
	n := int(hdr[0])<<8 | int(hdr[1])
	return framing.Head{Len: 2, Size: n, Keep: min(n, maxTCPMessage)}, n >= headerLen
}

// Message hands a whole message to the datagram path: a query starts at
// its first byte, a response ends with the call that ended it.
func (r tcpRules) Message(m *framing.Message, c *conn.Chunk) bool {
	mc := &r.p.msg
	*mc = conn.Chunk{Dir: c.Dir, Data: m.Body, Gap: uint64(m.Size - len(m.Body)), StartNs: c.StartNs, EndNs: c.EndNs, Datagram: true}
	if c.Dir == r.p.reqDir {
		mc.StartNs, mc.EndNs = m.Start, m.Start
	}
	r.p.Feed(mc)
	return true
}

// Resync starts a stream seen mid-connection at a call that starts with a
// whole message.
func (tcpRules) Resync(c *conn.Chunk) bool {
	return Protocol{}.Infer(c.Data, c.Dir, conn.TransportTCP).Conf == conn.High
}

// Lost: queries waiting keep their IDs; their answers still pair.
func (tcpRules) Lost(conn.Dir, bool) {}

func (p *Parser) json() bool {
	return (!p.env.NoHeaders || p.env.BodyLimit > 0) && p.env.Mode() != api.DataAccessNone
}

// Feed implements conn.Parser.
func (p *Parser) Feed(c *conn.Chunk) {
	if p.tcp != nil && !c.Datagram {
		p.tcp.Feed(c)
		return
	}
	if !c.Datagram || c.EOF {
		return
	}
	h, ok := parseHeader(c.Data)
	if !ok {
		p.env.Stats.ParseErrors++
		return
	}
	if h.qr == (c.Dir == p.reqDir) {
		// A query received by a client socket or a response sent by a
		// server one: not this socket's role.
		p.env.Stats.ParseErrors++
		return
	}
	if !h.qr {
		p.query(c, h)
		return
	}
	p.response(c, h)
}

func (p *Parser) query(c *conn.Chunk, h header) {
	qs, _, err := questions(c.Data, h)
	if err != nil || len(qs) == 0 {
		p.env.Stats.ParseErrors++
		return
	}
	k := key{h.id, c.Peer}
	if _, dup := p.pending[k]; dup {
		p.env.Stats.UnmatchedRequests++ // a retransmission replaces it
	} else if len(p.pending) >= maxPending {
		p.evictOldest()
	}
	p.seq++
	q := &query{start: c.WireNs(), seq: p.seq, q: qs[0], size: int64(len(c.Data)) + int64(c.Gap),
		qtype: typeName(qs[0].qtype), nameLow: strings.ToLower(qs[0].name)}
	if p.json() {
		q.hdr = headerJSON(h)
		q.body = bodyJSON("queries", qs, nil)
	}
	p.pending[k] = q
}

func (p *Parser) evictOldest() {
	var oldest key
	var min uint64
	for k, q := range p.pending {
		if min == 0 || q.seq < min {
			oldest, min = k, q.seq
		}
	}
	delete(p.pending, oldest)
	p.env.Stats.UnmatchedRequests++
}

func (p *Parser) response(c *conn.Chunk, h header) {
	k := key{h.id, c.Peer}
	q, ok := p.pending[k]
	if !ok {
		p.env.Stats.UnmatchedResponses++
		return
	}
	qs, off, err := questions(c.Data, h)
	if err != nil && c.Gap == 0 {
		p.env.Stats.ParseErrors++
	}
	// The question, when there, must be the query's: an ID reused by
	// another query is not its answer.
	if len(qs) > 0 && (qs[0].qtype != q.q.qtype || !strings.EqualFold(qs[0].name, q.q.name)) {
		p.env.Stats.UnmatchedResponses++
		return
	}
	delete(p.pending, k)
	ev := &api.DNSEvent{
		Header:    api.Header{Table: api.TableDNSEvents, V: api.Version},
		ReqHeader: q.hdr,
		ReqBody:   q.body,
		QueryType: q.qtype,
		QueryName: q.nameLow,
		RCode:     int(h.rcode),
		RCodeName: rcodeName(h.rcode),
		ReqBytes:  q.size,
		RespBytes: int64(len(c.Data)) + int64(c.Gap),
	}
	var ans []answer
	if err == nil {
		ans = answers(c.Data, off, h.an)
	}
	if h.rcode == 0 {
		ev.Answers = addrs(ans)
	}
	if p.json() {
		ev.RespHeader = headerJSON(h)
		ev.RespBody = bodyJSON("answers", nil, ans)
	}
	if c.Peer.IsValid() {
		ev.RemoteAddr, ev.RemotePort = c.Peer.Addr().Unmap().String(), c.Peer.Port()
	}
	p.env.Out.Emit(ev, q.start, c.WireNs())
}

// answers decodes up to maxAnswers of the n answers at off, stopping at
// the first that the capture limit cut or that is malformed.
func answers(msg []byte, off int, n uint16) []answer {
	var ans []answer
	for i := 0; i < int(n) && i < maxAnswers; i++ {
		a, next, err := readAnswer(msg, off)
		if err != nil {
			break
		}
		ans = append(ans, a)
		off = next
	}
	return ans
}

// addrs are the A and AAAA answers' addresses.
func addrs(ans []answer) []netip.Addr {
	var out []netip.Addr
	for _, a := range ans {
		if a.rtype != 1 && a.rtype != 28 {
			continue
		}
		if ip, err := netip.ParseAddr(a.value); err == nil {
			out = append(out, ip.Unmap())
		}
	}
	return out
}

// questions decodes up to maxQuestions questions; off is after the last
// question of the message (only valid without error).
func questions(msg []byte, h header) ([]question, int, error) {
	off := headerLen
	var qs []question
	for i := 0; i < int(h.qd); i++ {
		q, next, err := readQuestion(msg, off)
		if err != nil {
			return qs, 0, err
		}
		if len(qs) < maxQuestions {
			qs = append(qs, q)
		}
		off = next
	}
	return qs, off, nil
}

// End implements conn.Parser.
func (p *Parser) End(endNs uint64, why conn.EndReason) {
	p.env.Stats.UnmatchedRequests += uint64(len(p.pending))
	clear(p.pending)
}

func b01(b bool) int {
	if b {
		return 1
	}
	return 0
}

// headerJSON renders a header as Pixie's req_header/resp_header.
func headerJSON(h header) string {
	v := struct {
		TxID       uint16 `json:"txid"`
		QR         int    `json:"qr"`
		Opcode     uint8  `json:"opcode"`
		AA         int    `json:"aa"`
		TC         int    `json:"tc"`
		RD         int    `json:"rd"`
		RA         int    `json:"ra"`
		AD         int    `json:"ad"`
		CD         int    `json:"cd"`
		RCode      uint8  `json:"rcode"`
		NumQueries uint16 `json:"num_queries"`
		NumAnswers uint16 `json:"num_answers"`
		NumAuth    uint16 `json:"num_auth"`
		NumAddl    uint16 `json:"num_addl"`
	}{h.id, b01(h.qr), h.opcode, b01(h.aa), b01(h.tc), b01(h.rd), b01(h.ra), b01(h.ad), b01(h.cd), h.rcode, h.qd, h.an, h.ns, h.ar}
	b, _ := json.Marshal(v)
	return string(b)
}

type jsonRR struct {
	Name  string `json:"name"`
	Type  string `json:"type"`
	Addr  string `json:"addr,omitempty"`
	CName string `json:"cname,omitempty"`
}

// bodyJSON renders questions or answers as Pixie's req_body/resp_body:
// {"queries":[{"name":...,"type":"A"}]} or {"answers":[...]}.
func bodyJSON(field string, qs []question, as []answer) string {
	rrs := []jsonRR{}
	for _, q := range qs {
		rrs = append(rrs, jsonRR{Name: q.name, Type: typeName(q.qtype)})
	}
	for _, a := range as {
		r := jsonRR{Name: a.name, Type: typeName(a.rtype)}
		switch a.rtype {
		case 1, 28:
			r.Addr = a.value
		case 5:
			r.CName = a.value
		}
		rrs = append(rrs, r)
	}
	b, _ := json.Marshal(map[string][]jsonRR{field: rrs})
	return string(b)
}
