// Package cql parses the Cassandra native protocol (CQL binary protocol
// v3, v4 and v5) for the connection tracker: frames of both directions,
// requests paired with their responses by stream id (interleaved), v5's
// segments with their checksums; QUERY, PREPARE and BATCH statements as
// templates, an EXECUTE named by the PREPARE it runs when that was seen;
// results summarised, errors named. Compressed bodies are counted as
// such, never read; AUTH_RESPONSE (credentials) is never read.
package cql

import (
	"encoding/binary"

	"github.com/kubectl-pixie/kubectl-pixie/probes/api"
	"github.com/kubectl-pixie/kubectl-pixie/probes/api/vocab"
	"github.com/kubectl-pixie/kubectl-pixie/probes/conn"
	"github.com/kubectl-pixie/kubectl-pixie/probes/protocols/internal/framing"
)

const (
	headerLen = 9
	// maxFrame bounds a frame's body: servers refuse more than 256 MiB
	// (native_transport_max_frame_size is far less).
	maxFrame = 256 << 20
	// keepBytes bounds what is read of each frame: a statement, or a
	// result's metadata.
	keepBytes = 4096
	// maxPending bounds requests awaiting responses (streams in flight).
	maxPending = 4096
	// maxOrphans bounds responses held for a request reported after them.
	maxOrphans = 4
	// maxPrepared bounds the statements remembered for EXECUTE.
	maxPrepared    = 1024
	flagCompressed = 0x01
)

// Protocol implements conn.Protocol.
type Protocol struct{}

func (Protocol) Name() string { return vocab.ProtocolCQL }

// Infer recognises a frame header: version 3 to 5 (responses with the
// high bit), a known opcode of that direction, a plausible length. A call
// that is exactly one whole STARTUP or OPTIONS is High, any other whole
// frame Low.
func (Protocol) Infer(b []byte, dir conn.Dir, transport uint8) conn.Inference {
	if transport == conn.TransportUDP || len(b) == 0 {
		return conn.Inference{}
	}
	resp := b[0]&0x80 != 0
	if v := b[0] & 0x7f; v < 3 || v > 5 || len(b) > 1 && b[1] > 0x1f || len(b) > 4 && !(resp && responseOp(int(b[4])) || !resp && requestOp(int(b[4]))) {
		return conn.Inference{}
	}
	if len(b) < headerLen {
		return conn.Inference{Conf: conn.NeedMore}
	}
	size := binary.BigEndian.Uint32(b[5:])
	if size > maxFrame || uint64(len(b)) > headerLen+uint64(size) {
		return conn.Inference{}
	}
	conf := conn.Low
	switch {
	case uint64(len(b)) < headerLen+uint64(size):
		return conn.Inference{Conf: conn.NeedMore}
	case !resp && (b[4] == opStartup || b[4] == opOptions):
		conf = conn.High
	}
	role := conn.RoleServer
	if (dir == conn.Egress) != resp {
		role = conn.RoleClient
	}
	return conn.Inference{Conf: conf, Role: role}
}

func (Protocol) NewParser(env *conn.Env) conn.Parser { return NewParser(env) }

// request is a request awaiting its response.
type request struct {
	ev       *api.CQLEvent
	stream   int16
	op       int
	start    uint64
	prepared statement // a PREPARE's statement, for its id
}

// statement is what a PREPARE showed, kept for the EXECUTEs of its id.
type statement struct{ kind, tmpl, text string }

// orphan is a response whose request was not seen (yet).
type orphan struct {
	stream int16
	hdr    [headerLen]byte
	size   int
	end    uint64
	body   []byte
}

// Parser is one connection's state.
type Parser struct {
	env      *conn.Env
	fr       framing.Duplex
	reqDir   conn.Dir
	segs     [2]segments
	pending  map[int16]request
	orphans  []orphan
	prepared map[string]statement
	// compression is what STARTUP asked for: v5 segments are then
	// compressed.
	compression string
	keep        int
	feedFn      func(*conn.Chunk)
}

// NewParser returns a parser for a connection with env's role.
func NewParser(env *conn.Env) *Parser {
	p := &Parser{env: env, reqDir: conn.Ingress, keep: keepBytes, pending: map[int16]request{}, prepared: map[string]statement{}}
	if env.Role == conn.RoleClient {
		p.reqDir = conn.Egress
	}
	if env.MaxBufferedBytes > 0 {
		p.keep = max(min(p.keep, env.MaxBufferedBytes), 64)
	}
	p.fr = framing.NewDuplex(env.Stats, env.Fresh, p)
	p.feedFn = func(c *conn.Chunk) { p.fr.Feed(c) }
	return p
}

// Feed implements conn.Parser.
func (p *Parser) Feed(c *conn.Chunk) {
	if c.Dir != conn.Egress && c.Dir != conn.Ingress {
		return
	}
	s := &p.segs[c.Dir-1]
	switch {
	case !s.on || c.EOF:
		p.fr.Feed(c)
	case s.broken:
		p.env.Stats.DroppedBytes += uint64(len(c.Data))
	case c.Gap > 0 || !s.feed(c, p.env.Stats, p.feedFn):
		// Segments carry no marker to find the next one by: the rest
		// of the direction is dropped.
		if c.Gap == 0 {
			p.env.Stats.ParseErrors++
		}
		p.env.Stats.Resyncs++
		s.broken = true
		p.fr.Dir(c.Dir).Reset()
	}
}

// Head reads a frame header: version 3 to 5, the direction's high bit,
// a length within bounds.
func (p *Parser) Head(dir conn.Dir, hdr []byte) (framing.Head, bool) {
	if len(hdr) < headerLen {
		return framing.Head{Len: headerLen}, true
	}
	resp := hdr[0]&0x80 != 0
	v, op := hdr[0]&0x7f, int(hdr[4])
	size := binary.BigEndian.Uint32(hdr[5:])
	if v < 3 || v > 5 || resp != (dir != p.reqDir) || op > maxOpcode || size > maxFrame {
		return framing.Head{}, false
	}
	return framing.Head{Len: headerLen, Size: int(size), Keep: p.keep}, true
}

// Message takes a whole frame.
func (p *Parser) Message(m *framing.Message, c *conn.Chunk) bool {
	if c.Dir == p.reqDir {
		p.request(m)
		return true
	}
	return p.response(m, c)
}

// Lost: stream ids keep pairing right across a loss.
func (p *Parser) Lost(dir conn.Dir, broken bool) {}

// Resync starts an unsynchronised direction at a call that starts a
// frame of its direction (responses: of a stream a request waits on).
func (p *Parser) Resync(c *conn.Chunk) bool {
	if p.segs[c.Dir-1].on {
		return false
	}
	inf := Protocol{}.Infer(c.Data, c.Dir, conn.TransportTCP)
	if inf.Conf < conn.Low || (inf.Role == conn.RoleClient) != (p.reqDir == conn.Egress) {
		return false
	}
	if c.Dir == p.reqDir {
		return true
	}
	_, ok := p.pending[int16(binary.BigEndian.Uint16(c.Data[2:]))]
	return ok || c.Data[4] == opEvent
}

// End implements conn.Parser.
func (p *Parser) End(endNs uint64, why conn.EndReason) {
	p.env.Stats.UnmatchedRequests += uint64(len(p.pending))
	p.env.Stats.UnmatchedResponses += uint64(len(p.orphans))
	p.pending, p.orphans = map[int16]request{}, nil
}

// HeldBytes implements conn.Sizer: statements remembered and orphans held.
func (p *Parser) HeldBytes() int {
	n := 0
	for _, o := range p.orphans {
		n += len(o.body)
	}
	return n + 128*len(p.prepared) + 64*len(p.pending)
}
