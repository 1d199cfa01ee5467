package http2

import (
	"strings"

	"github.com/kubectl-pixie/kubectl-pixie/probes/conn"
	"github.com/kubectl-pixie/kubectl-pixie/probes/protocols/http1"
)

// upgradedStream is the stream HTTP/2 answers an upgrading request on.
const upgradedStream = 1

// Upgrade implements http1.Upgrader: the parser of a connection that
// switched from HTTP/1.1 to h2c. Both directions are at a frame boundary
// (the client's starts with the preface), and stream 1 is the HTTP/1.1
// request, half-closed: its response follows as HEADERS and DATA.
func (Protocol) Upgrade(env *conn.Env, up http1.Upgraded) conn.Parser {
	p := NewParser(env)
	for i := range p.sides {
		p.sides[i].synced, p.sides[i].pre = true, 0
	}
	blk := &block{method: up.Method, path: up.Target}
	keep := !env.NoHeaders
	for name, value := range up.Headers {
		blk.field(strings.ToLower(name), value, keep, p.maxBuf())
	}
	st := &stream{id: upgradedStream, reqDir: up.ReqDir, start: up.StartNs, req: blk, reqSize: up.BodySize}
	st.reqBody = p.keep(nil, up.Body)
	p.streams[upgradedStream] = st
	p.pendingHdr += blk.mem
	return p
}
