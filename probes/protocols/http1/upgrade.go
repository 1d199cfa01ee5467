package http1

import "github.com/kubectl-pixie/kubectl-pixie/probes/conn"

// Upgraded is the HTTP/1.1 request that upgraded its connection to h2c:
// HTTP/2 answers it on stream 1 (RFC 7540 3.2).
type Upgraded struct {
	Method, Target string
	Headers        map[string]string
	Body           []byte
	BodySize       int64
	// StartNs is the arrival of the request's first byte.
	StartNs uint64
	// ReqDir is the direction requests travel in.
	ReqDir conn.Dir
}

// Upgrader builds the parser that takes a connection over after its 101.
type Upgrader interface {
	Upgrade(env *conn.Env, up Upgraded) conn.Parser
}

// upgrade hands the connection to HTTP/2: the 101 is not the request's
// answer (stream 1 is), so it makes no record of its own.
func (p *Parser) upgrade(h *half, resp *message) {
	req := resp.req
	h.msg = nil
	p.dead = true
	p.next = p.h2c.Upgrade(p.env, Upgraded{
		Method: req.method, Target: req.target, Headers: req.headers,
		Body: req.body, BodySize: req.bodySize,
		StartNs: req.start, ReqDir: p.reqDir,
	})
}

// handOn gives the new parser what followed the 101 in its call.
func (p *Parser) handOn(c *conn.Chunk, rest []byte) {
	if p.next == nil || len(rest) == 0 {
		return
	}
	more := *c
	more.Data = rest
	p.next.Feed(&more)
}

// HeldBytes implements conn.Sizer for the parser the connection was
// handed to; HTTP/1's own state is bounded by its limits.
func (p *Parser) HeldBytes() int {
	if s, ok := p.next.(conn.Sizer); ok {
		return s.HeldBytes()
	}
	return 0
}
