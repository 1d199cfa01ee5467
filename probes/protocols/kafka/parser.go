// Package kafka parses the Kafka wire protocol for the connection
// tracker: size-framed requests (api key, version, correlation id,
// client id) paired with their responses by correlation id, in order;
// the topic of Produce and Fetch and error codes where the layout is
// cheap to walk (ApiVersions, Metadata, Produce, Fetch, the group and
// transaction calls that start with one). Record batches are never read.
package kafka

import (
	"encoding/binary"
	"encoding/json"
	"strconv"

	"github.com/kubectl-pixie/kubectl-pixie/probes/api"
	"github.com/kubectl-pixie/kubectl-pixie/probes/api/vocab"
	"github.com/kubectl-pixie/kubectl-pixie/probes/conn"
	"github.com/kubectl-pixie/kubectl-pixie/probes/protocols/internal/fields"
	"github.com/kubectl-pixie/kubectl-pixie/probes/protocols/internal/framing"
	"github.com/kubectl-pixie/kubectl-pixie/probes/protocols/internal/names"
)

const (
	// maxMessage bounds a message's size: brokers refuse far less
	// (socket.request.max.bytes is 100 MiB).
	maxMessage = 1 << 30
	// keepBytes bounds what is read of each message: headers and the
	// first fields of the body.
	keepBytes = 2048
	// maxPending bounds requests awaiting responses; past it the oldest
	// is given up (correlation ids keep the rest paired right).
	maxPending = 1024
	// maxOrphans bounds responses held for a request reported after them.
	maxOrphans  = 4
	maxClientID = 128
	maxTopic    = 249 // Kafka's limit on topic names
)

// Protocol implements conn.Protocol.
type Protocol struct{}

func (Protocol) Name() string { return vocab.ProtocolKafka }

// Infer recognises a request header: a size, a known api key with a
// plausible version, a correlation id and a printable client id. A call
// holding exactly one whole request is High, a plausible prefix Low.
func (Protocol) Infer(b []byte, dir conn.Dir, transport uint8) conn.Inference {
	if transport == conn.TransportUDP {
		return conn.Inference{}
	}
	conf := requestStart(b)
	if conf < conn.Low {
		return conn.Inference{Conf: conf}
	}
	role := conn.RoleServer
	if dir == conn.Egress {
		role = conn.RoleClient
	}
	return conn.Inference{Conf: conf, Role: role}
}

func requestStart(b []byte) conn.Confidence {
	// size(4) api_key(2) api_version(2) correlation_id(4) client_id length(2)
	prefix := [...]struct {
		i   int
		max byte
	}{{0, 0x3f}, {4, 0}, {6, 0}}
	for _, c := range prefix {
		if len(b) > c.i && b[c.i] > c.max {
			return conn.NoMatch
		}
	}
	if len(b) < 14 {
		return conn.NeedMore
	}
	size := binary.BigEndian.Uint32(b)
	key, ver := int(binary.BigEndian.Uint16(b[4:])), int(binary.BigEndian.Uint16(b[6:]))
	n := int(int16(binary.BigEndian.Uint16(b[12:])))
	if size < 10 || size > maxMessage || key > maxAPIKey || ver > maxAPIVersion || n < -1 || n > 1024 || 10+max(n, 0) > int(size) {
		return conn.NoMatch
	}
	// Clients name themselves ("kgo", "rdkafka", "producer-1"): a
	// missing or cut client id is too weak a signature.
	if n < 1 {
		return conn.NoMatch
	}
	for _, c := range b[14:min(len(b), 14+n)] {
		if c < 0x20 || c >= 0x7f {
			return conn.NoMatch
		}
	}
	if len(b) < 14+n {
		return conn.NeedMore
	}
	if uint64(len(b)) == 4+uint64(size) {
		return conn.High
	}
	return conn.Low
}

func (Protocol) NewParser(env *conn.Env) conn.Parser { return NewParser(env) }

type request struct {
	ev       *api.KafkaEvent
	corr     int32
	key, ver int
	start    uint64
}

// Parser pairs one connection's requests and responses.
type Parser struct {
	env     *conn.Env
	fr      framing.Duplex
	reqDir  conn.Dir
	pending []request
	orphans []orphan
	keep    int
}

// orphan is a response whose request was not seen (yet).
type orphan struct {
	corr int32
	size uint32
	end  uint64
	buf  []byte
}

// NewParser returns a parser for a connection with env's role.
func NewParser(env *conn.Env) *Parser {
	p := &Parser{env: env, reqDir: conn.Ingress, keep: keepBytes}
	if env.Role == conn.RoleClient {
		p.reqDir = conn.Egress
	}
	if env.MaxBufferedBytes > 0 {
		p.keep = max(min(p.keep, env.MaxBufferedBytes), 64)
	}
	p.fr = framing.NewDuplex(env.Stats, env.Fresh, p)
	return p
}

// Feed implements conn.Parser.
func (p *Parser) Feed(c *conn.Chunk) { p.fr.Feed(c) }

// Head reads a message's size; what is read of it is bounded by keep
// (record batches are never read).
func (p *Parser) Head(dir conn.Dir, hdr []byte) (framing.Head, bool) {
	if len(hdr) < 4 {
		return framing.Head{Len: 4}, true
	}
	size := binary.BigEndian.Uint32(hdr)
	if size < 4 || size > maxMessage || dir == p.reqDir && size < 10 {
		return framing.Head{}, false
	}
	return framing.Head{Len: 4, Size: int(size), Keep: p.keep}, true
}

func (p *Parser) Message(m *framing.Message, c *conn.Chunk) bool {
	if c.Dir == p.reqDir {
		p.request(m)
	} else {
		p.response(c, m)
	}
	return true
}

// Lost: correlation ids keep pairing right across a loss.
func (p *Parser) Lost(dir conn.Dir, broken bool) {}

// Resync starts an unsynchronised direction at a call that starts a
// message: requests that look like one, responses whose correlation id
// is one a request waits for.
func (p *Parser) Resync(c *conn.Chunk) bool {
	if c.Dir == p.reqDir {
		return requestStart(c.Data) >= conn.Low
	}
	if len(c.Data) < 8 {
		return false
	}
	size := binary.BigEndian.Uint32(c.Data)
	corr := int32(binary.BigEndian.Uint32(c.Data[4:]))
	if size < 4 || size > maxMessage {
		return false
	}
	for _, r := range p.pending {
		if r.corr == corr && r.start <= c.WireNs() {
			return true
		}
	}
	return false
}

func (p *Parser) request(m *framing.Message) {
	b := m.Body
	if len(b) < 8 {
		p.env.Stats.UnmatchedRequests++ // its correlation id was lost
		return
	}
	key, ver := int(binary.BigEndian.Uint16(b)), int(binary.BigEndian.Uint16(b[2:]))
	corr := int32(binary.BigEndian.Uint32(b[4:]))
	if key > maxAPIKey || ver > maxAPIVersion {
		p.env.Stats.ParseErrors++
		return
	}
	r := rd{Reader: fields.New(b[8:])}
	clientID := r.str() // a nullable string even in flexible headers
	clientID = names.Cut(clientID, maxClientID)
	ev := &api.KafkaEvent{
		Header:     api.Header{Table: api.TableKafkaEvents, V: api.Version},
		ReqCmd:     apiName(key),
		ClientID:   clientID,
		APIKey:     key,
		APIVersion: ver,
		ReqBytes:   int64(m.Size) + 4,
	}
	r.flex = flexible(key, ver)
	if r.flex {
		r.tags()
	}
	acks := -1
	switch key {
	case apiProduce:
		if ver >= 3 {
			r.str() // transactional_id
		}
		acks = r.I16()
		r.Skip(4)
		ev.Topic = r.firstTopic(ver >= 13)
	case apiFetch:
		if ver < 15 {
			r.Skip(4) // replica_id
		}
		r.Skip(8) // max_wait_ms, min_bytes
		if ver >= 3 {
			r.Skip(4)
		}
		if ver >= 4 {
			r.Skip(1)
		}
		if ver >= 7 {
			r.Skip(8)
		}
		ev.Topic = r.firstTopic(ver >= 13)
	}
	ev.ReqBody = `{"api_version":` + strconv.Itoa(ver)
	if ev.Topic != "" {
		topic, _ := json.Marshal(ev.Topic) // names may hold quotes
		ev.ReqBody += `,"topic":` + string(topic)
	}
	if key == apiProduce && r.OK {
		ev.ReqBody += `,"acks":` + strconv.Itoa(acks)
	}
	ev.ReqBody += "}"
	if p.env.Mode() == api.DataAccessNone {
		ev.ClientID, ev.ReqBody = "", "" // the summary columns say enough
	}
	if key == apiProduce && r.OK && acks == 0 {
		p.env.Out.Emit(ev, m.Start, m.Start) // no response comes
		return
	}
	req := request{ev: ev, corr: corr, key: key, ver: ver, start: m.Start}
	if p.adopt(req) {
		return
	}
	if len(p.pending) >= maxPending {
		p.pending = p.pending[1:]
		p.env.Stats.UnmatchedRequests++
	}
	p.pending = append(p.pending, req)
}

func (p *Parser) response(c *conn.Chunk, m *framing.Message) {
	if len(m.Body) < 4 {
		p.env.Stats.UnmatchedResponses++ // its correlation id was lost
		return
	}
	corr := int32(binary.BigEndian.Uint32(m.Body))
	i := 0
	for i < len(p.pending) && (p.pending[i].corr != corr || p.pending[i].start > m.Start) {
		i++
	}
	if i == len(p.pending) {
		// The request may yet come: a client's writer thread can return
		// from write(2) after its reader got the answer, so the tracer
		// reports them in that order.
		if len(p.orphans) == maxOrphans {
			p.env.Stats.UnmatchedResponses++
			p.orphans = append(p.orphans[:0], p.orphans[1:]...)
		}
		p.orphans = append(p.orphans, orphan{corr: corr, size: uint32(m.Size), end: c.WireNs(), buf: append([]byte(nil), m.Body[4:]...)})
		return
	}
	// Brokers answer in order: earlier requests lost their responses.
	p.env.Stats.UnmatchedRequests += uint64(i)
	r := p.pending[i]
	p.pending = p.pending[i+1:]
	if len(p.pending) == 0 {
		p.pending = p.pending[:0:0]
	}
	p.pair(r, uint32(m.Size), m.Body[4:], c.WireNs())
}

// adopt pairs a request with a response already seen that carries its
// correlation id and ended after the request started; it reports whether
// there was one.
func (p *Parser) adopt(r request) bool {
	for i, o := range p.orphans {
		if o.corr == r.corr && o.end >= r.start {
			p.orphans = append(p.orphans[:i], p.orphans[i+1:]...)
			p.pair(r, o.size, o.buf, o.end)
			return true
		}
	}
	return false
}

// pair emits r with its response: size and the bytes read after the
// correlation id.
func (p *Parser) pair(r request, size uint32, body []byte, end uint64) {
	ev := r.ev
	ev.RespBytes = int64(size) + 4
	code, known := responseError(r.key, r.ver, body)
	switch {
	case p.env.Mode() == api.DataAccessNone:
	case known:
		ev.Resp = `{"error_code":` + strconv.Itoa(code) + "}"
	default:
		ev.Resp = "{}"
	}
	if code != 0 {
		ev.ErrorCode, ev.ErrorName = code, errorName(code)
	}
	p.env.Out.Emit(ev, r.start, end)
}

// responseError finds the response's first error code where its layout
// is cheap to walk; known is false when there was none to read.
func responseError(key, ver int, b []byte) (code int, known bool) {
	w := errWalk{r: rd{Reader: fields.New(b), flex: flexible(key, ver)}, ver: ver}
	r := &w.r
	if r.flex && key != apiApiVersions { // ApiVersions keeps header v0
		r.tags()
	}
	if ef, ok := errorFirst[key]; ok && ver <= ef.until {
		if ef.throttleFrom >= 0 && ver >= ef.throttleFrom {
			r.Skip(4)
		}
		code = r.I16()
		return code, r.OK
	}
	switch key {
	case apiMetadata:
		w.metadata()
	case apiProduce:
		w.produce()
	case apiFetch:
		w.fetch()
	}
	return w.code, w.known
}

// errWalk reads the error codes of a response body.
type errWalk struct {
	r     rd
	ver   int
	code  int  // the first non-zero code read
	known bool // a code was read
}

func (w *errWalk) first(c int) {
	if w.r.OK && w.code == 0 {
		w.code = c
	}
	w.known = w.known || w.r.OK
}

func (w *errWalk) metadata() {
	r, ver := &w.r, w.ver
	if ver >= 3 {
		r.Skip(4) // throttle
	}
	for range r.array(1 << 12) { // brokers
		r.Skip(4)
		r.str()
		r.Skip(4)
		if ver >= 1 {
			r.str() // rack
		}
		r.tags()
	}
	if ver >= 2 {
		r.str() // cluster_id
	}
	if ver >= 1 {
		r.Skip(4) // controller_id
	}
	for range r.array(1 << 12) { // topics
		w.first(r.I16())
		r.str()
		if ver >= 10 {
			r.Skip(16)
		}
		if ver >= 1 {
			r.Skip(1)
		}
		for range r.array(1 << 14) { // partitions
			w.first(r.I16())
			r.Skip(8) // index, leader
			if ver >= 7 {
				r.Skip(4)
			}
			r.Skip(4 * r.arrayLen()) // replicas
			r.Skip(4 * r.arrayLen()) // isr
			if ver >= 5 {
				r.Skip(4 * r.arrayLen()) // offline
			}
			r.tags()
		}
		if ver >= 8 {
			r.Skip(4)
		}
		r.tags()
	}
}

func (w *errWalk) produce() {
	r, ver := &w.r, w.ver
	for range r.array(1 << 12) { // topics
		r.topic(ver >= 13)
		for range r.array(1 << 14) { // partitions
			r.Skip(4)
			w.first(r.I16())
			r.Skip(8) // base_offset
			if ver >= 2 {
				r.Skip(8)
			}
			if ver >= 5 {
				r.Skip(8)
			}
			if ver >= 8 {
				for range r.array(1 << 12) {
					r.Skip(4)
					r.str()
					r.tags()
				}
				r.str()
			}
			r.tags()
		}
		r.tags()
	}
}

// fetch reads only the first partition: record batches follow it.
func (w *errWalk) fetch() {
	r, ver := &w.r, w.ver
	if ver >= 1 {
		r.Skip(4)
	}
	if ver >= 7 {
		w.first(r.I16())
		r.Skip(4)
	}
	if r.arrayLen() > 0 {
		r.topic(ver >= 13)
		if r.arrayLen() > 0 {
			r.Skip(4)
			w.first(r.I16())
		}
	}
}

// End implements conn.Parser.
func (p *Parser) End(endNs uint64, why conn.EndReason) {
	p.env.Stats.UnmatchedRequests += uint64(len(p.pending))
	p.env.Stats.UnmatchedResponses += uint64(len(p.orphans))
	p.pending, p.orphans = nil, nil
}

// rd reads Kafka fields, classic or compact (flex).
type rd struct {
	fields.Reader
	flex bool
}

func (r *rd) uvarint() int {
	var v uint64
	for shift := 0; shift < 35; shift += 7 {
		if !r.OK || len(r.B) == 0 {
			r.OK = false
			return 0
		}
		c := r.B[0]
		r.B = r.B[1:]
		v |= uint64(c&0x7f) << shift
		if c < 0x80 {
			if v > 1<<30 {
				r.OK = false
				return 0
			}
			return int(v)
		}
	}
	r.OK = false
	return 0
}

// str reads a (nullable) string: int16 length, or uvarint length+1 when
// compact.
func (r *rd) str() string {
	n := 0
	if r.flex {
		n = r.uvarint() - 1
	} else {
		n = r.I16()
	}
	if !r.OK || n <= 0 {
		return ""
	}
	if len(r.B) < n {
		r.OK = false
		return ""
	}
	s := names.Printable(r.B[:n])
	r.B = r.B[n:]
	return s
}

// arrayLen reads an array's length (a null array is empty).
func (r *rd) arrayLen() int {
	n := 0
	if r.flex {
		n = r.uvarint() - 1
	} else {
		n = r.I32()
	}
	if !r.OK || n < 0 {
		return 0
	}
	if n > len(r.B) { // every element takes at least a byte
		r.OK = false
		return 0
	}
	return n
}

// array is arrayLen bounded by limit, for ranging; reading stops early
// once the data ran out.
func (r *rd) array(limit int) int { return min(r.arrayLen(), limit) }

// tags skips a flexible structure's tagged fields.
func (r *rd) tags() {
	if !r.flex {
		return
	}
	for n := r.uvarint(); n > 0 && r.OK; n-- {
		r.uvarint()
		r.Skip(r.uvarint())
	}
}

// topic reads a topic's name, or skips its id (newer versions name
// topics by UUID: no name to show).
func (r *rd) topic(byID bool) string {
	if byID {
		r.Skip(16)
		return ""
	}
	s := r.str()
	s = names.Cut(s, maxTopic)
	return s
}

// firstTopic reads an array of topics and the first one's name.
func (r *rd) firstTopic(byID bool) string {
	if r.arrayLen() == 0 {
		return ""
	}
	return r.topic(byID)
}
