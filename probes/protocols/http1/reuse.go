package http1

import (
	"strings"
	"unsafe"

	"github.com/kubectl-pixie/kubectl-pixie/probes/api"
	"github.com/kubectl-pixie/kubectl-pixie/probes/conn"
	"github.com/kubectl-pixie/kubectl-pixie/probes/protocols/internal/redact"
)

// newMessage returns a spare message or a new one.
func (p *Parser) newMessage() *message {
	for i, m := range p.spare {
		if m != nil {
			p.spare[i] = nil
			return m
		}
	}
	return &message{}
}

// recycle keeps m, whose exchange was emitted and which nothing refers to
// any more, for the next message. Its body buffer is kept (emit copied
// it) unless large.
func (p *Parser) recycle(m *message) {
	body := m.body[:0]
	if cap(body) > 4<<10 {
		body = nil
	}
	*m = message{body: body}
	for i, s := range p.spare {
		if s == nil {
			p.spare[i] = m
			return
		}
	}
}

// own makes the start line's strings, views of the header block when
// parseHead copied nothing, independent of it.
func (p *Parser) own(h *head, resp bool) {
	if resp {
		h.reason = p.reason.own(h.reason)
		return
	}
	h.method = ownMethod(h.method)
	h.target = p.target.own(h.target)
}

// ownMethod returns the known method equal to m, or a copy of m.
func ownMethod(m string) string {
	for _, k := range knownMethods {
		if m == k {
			return k
		}
	}
	return strings.Clone(m)
}

// lastString remembers the last string owned.
type lastString struct{ s string }

// own returns a string equal to v that does not share v's bytes.
func (l *lastString) own(v string) string {
	if v != l.s {
		l.s = strings.Clone(v)
	}
	return l.s
}

// lastPath remembers the last request target and its redacted form.
type lastPath struct {
	target, path string
	mode         api.DataAccess
}

// redact returns redact.Path(target, mode), computed once per distinct
// target in a row: templating allocates.
func (l *lastPath) redact(target string, mode api.DataAccess) string {
	if target != l.target || mode != l.mode { // mode is never "" (Env.Mode)
		l.target, l.path, l.mode = target, redact.Path(target, mode), mode
	}
	return l.path
}

// lastMarks remembers the last two redaction markers (a connection's
// request and response body sizes repeat).
type lastMarks struct {
	n    [2]int64
	s    [2]string
	next int
}

// Value implements redact.Marker.
func (m *lastMarks) Value(n int64) string {
	if n <= 0 {
		return redact.Value(n)
	}
	for i := range m.n {
		if m.n[i] == n && m.s[i] != "" {
			return m.s[i]
		}
	}
	i := m.next
	m.next ^= 1
	m.n[i], m.s[i] = n, redact.Value(n)
	return m.s[i]
}

// Summary implements conn.Summarizer: an exchange read in the kernel is
// emitted as the parser emits one (the same record, path redaction and
// times, without headers, bodies and reason), and a hand-off resumes the
// exchange in progress where the kernel left it.
func (p *Parser) Summary(s *conn.HTTP1Summary) {
	if p.next != nil || p.dead {
		p.env.Stats.UnmatchedRequests++ // cannot happen: the kernel stops at Upgrade
		return
	}
	req := p.newMessage()
	req.method = s.Method
	req.target = p.target.own(unsafe.String(unsafe.SliceData(s.Target), len(s.Target)))
	req.minor = s.Minor
	req.start, req.end = s.StartNs, s.StartNs
	req.contentLength, req.bodySize = s.ReqBody, s.ReqBody
	if !s.Handoff {
		resp := p.newMessage()
		resp.status, resp.bodySize, resp.end = s.Status, s.RespBody, s.EndNs
		p.emit(req, resp)
		p.recycle(req)
		p.recycle(resp)
		return
	}
	switch s.State {
	case conn.HTTP1ReqBody:
		p.pending = append(p.pending, req)
		h := &p.halves[0]
		h.state, h.remain, h.msg = stBody, s.Remain, req
	case conn.HTTP1Wait:
		req.done = true
		p.pending = append(p.pending, req)
	case conn.HTTP1RespBody:
		req.done = true
		resp := p.newMessage()
		resp.status, resp.bodySize, resp.end, resp.req = s.Status, s.RespBody, s.EndNs, req
		h := &p.halves[1]
		h.state, h.remain, h.msg = stBody, s.Remain, resp
	default:
		p.recycle(req)
	}
}
