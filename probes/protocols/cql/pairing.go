package cql

import (
	"encoding/binary"
	"strings"

	"github.com/kubectl-pixie/kubectl-pixie/probes/api"
	"github.com/kubectl-pixie/kubectl-pixie/probes/conn"
	"github.com/kubectl-pixie/kubectl-pixie/probes/protocols/internal/fields"
	"github.com/kubectl-pixie/kubectl-pixie/probes/protocols/internal/framing"
	"github.com/kubectl-pixie/kubectl-pixie/probes/protocols/internal/sqltext"
)

const (
	// templateLen bounds the query_template column (the endpoint).
	templateLen = 256
	// batchShown bounds the statements of a BATCH its template lists.
	batchShown = 4
)

// dialect: CQL quotes like PostgreSQL with standard strings (” escapes,
// "identifiers", $$ strings); markers are ? and :name.
const dialect = sqltext.PostgresConforming

func (p *Parser) request(m *framing.Message) {
	hdr := m.Header
	op, flags := int(hdr[4]), hdr[1]
	stream := int16(binary.BigEndian.Uint16(hdr[2:]))
	ev := &api.CQLEvent{
		Header:   api.Header{Table: api.TableCQLEvents, V: api.Version},
		ReqOp:    opNames[op],
		Version:  int(hdr[0] & 0x7f),
		ReqBytes: int64(headerLen + m.Size),
	}
	if !requestOp(op) {
		p.env.Stats.ParseErrors++
		return
	}
	req := request{ev: ev, stream: stream, op: op, start: m.Start}
	if flags&flagCompressed != 0 && m.Size > 0 {
		ev.Compressed = true
	} else {
		req.prepared = p.readRequest(ev, op, m)
	}
	if p.env.Mode() == api.DataAccessNone {
		ev.ReqBody = ""
	}
	if p.adopt(req) {
		return
	}
	if _, ok := p.pending[stream]; ok || len(p.pending) >= maxPending {
		p.env.Stats.UnmatchedRequests++ // its response was lost
		if !ok {
			for k := range p.pending {
				delete(p.pending, k)
				break
			}
		}
	}
	p.pending[stream] = req
}

// readRequest fills ev from the request's body; for a PREPARE it
// returns the statement.
func (p *Parser) readRequest(ev *api.CQLEvent, op int, m *framing.Message) statement {
	r := rd{fields.New(m.Body)}
	switch op {
	case opQuery, opPrepare:
		q, cut := r.longStrPrefix()
		if !r.OK {
			return statement{}
		}
		st := p.statement(q, cut)
		ev.QueryKind, ev.QueryTemplate, ev.ReqBody = st.kind, st.tmpl, st.text
		if op == opPrepare {
			// Its own endpoint ("PREPARE SELECT ..."), apart from the
			// EXECUTEs that run it.
			ev.QueryKind = "PREPARE"
			return st
		}
	case opExecute:
		id := r.shortBytes()
		if st, ok := p.prepared[string(id)]; ok && r.OK {
			ev.QueryKind, ev.QueryTemplate, ev.ReqBody = st.kind, st.tmpl, st.text
		}
	case opBatch:
		ev.QueryKind, ev.QueryTemplate, ev.ReqBody = p.batch(&r)
	case opStartup:
		opts := r
		ev.ReqBody = r.stringMap(false, max(p.env.BodyLimit, 0))
		p.compression = opts.mapValue("COMPRESSION")
	case opRegister:
		ev.ReqBody = bounded(r.stringList(), max(p.env.BodyLimit, 0))
	}
	// OPTIONS has no body; AUTH_RESPONSE's token is never read.
	return statement{}
}

// statement templates a query; text is what req_body shows.
func (p *Parser) statement(q []byte, cut bool) statement {
	kind, tmpl := sqltext.Template(q, dialect, templateLen, cut)
	st := statement{kind: kind, tmpl: tmpl}
	if l := p.env.BodyLimit; l > 0 {
		if p.env.Mode() == api.DataAccessFull {
			st.text = sqltext.Bound(string(q), l)
			if cut && !strings.HasSuffix(st.text, "…") {
				st.text += "…"
			}
		} else {
			_, st.text = sqltext.Template(q, dialect, l, cut)
		}
	}
	return st
}

// batch reads a BATCH's statements (queries or prepared ids): its
// template lists the first few.
func (p *Parser) batch(r *rd) (kind, tmpl, text string) {
	r.U8() // type
	n := r.U16()
	var tmpls, texts []string
	for i := 0; i < n && r.OK && i < batchShown; i++ {
		var st statement
		switch r.U8() {
		case 0:
			q, qcut := r.longStrPrefix()
			st = p.statement(q, qcut)
		case 1:
			st = p.prepared[string(r.shortBytes())]
		default:
			r.OK = false
		}
		if !r.OK && st.tmpl == "" {
			break
		}
		tmpls, texts = append(tmpls, st.tmpl), append(texts, st.text)
		for v := r.U16(); v > 0 && r.OK; v-- { // values: never kept
			r.Skip(max(r.I32(), 0))
		}
	}
	if n > batchShown {
		tmpls, texts = append(tmpls, "…"), append(texts, "…")
	}
	tmpl = sqltext.Bound(strings.Join(tmpls, "; "), templateLen)
	if l := p.env.BodyLimit; l > 0 {
		text = sqltext.Bound(strings.Join(texts, "; "), l)
	}
	return "BATCH", tmpl, text
}

// response pairs a response with the request on its stream; an EVENT is
// a record of its own. false after a v5 STARTUP's answer: the rest of the
// call is in segments.
func (p *Parser) response(m *framing.Message, c *conn.Chunk) bool {
	hdr := m.Header
	stream := int16(binary.BigEndian.Uint16(hdr[2:]))
	end := c.WireNs()
	if int(hdr[4]) == opEvent {
		ev := &api.CQLEvent{Header: api.Header{Table: api.TableCQLEvents, V: api.Version}, Version: int(hdr[0] & 0x7f)}
		p.fill(ev, statement{}, hdr, m.Size, m.Body)
		p.env.Stats.Pushes++
		p.env.Out.Emit(ev, end, end)
		return true
	}
	req, ok := p.pending[stream]
	if !ok || req.start > m.Start {
		// The request may yet come: a driver's writer can return from
		// write(2) after its reader got the answer.
		if len(p.orphans) == maxOrphans {
			p.env.Stats.UnmatchedResponses++
			p.orphans = append(p.orphans[:0], p.orphans[1:]...)
		}
		o := orphan{stream: stream, size: m.Size, end: end, body: append([]byte(nil), m.Body...)}
		copy(o.hdr[:], hdr)
		p.orphans = append(p.orphans, o)
		return true
	}
	delete(p.pending, stream)
	return p.pair(req, hdr, m.Size, m.Body, end)
}

// adopt pairs a request with a response already seen on its stream that
// ended after the request started.
func (p *Parser) adopt(req request) bool {
	for i, o := range p.orphans {
		if o.stream == req.stream && o.end >= req.start {
			p.orphans = append(p.orphans[:i], p.orphans[i+1:]...)
			p.pair(req, o.hdr[:], o.size, o.body, o.end)
			return true
		}
	}
	return false
}

// pair emits req with its response; false when the connection turned
// to v5 segments.
func (p *Parser) pair(req request, hdr []byte, size int, body []byte, end uint64) bool {
	op := int(hdr[4])
	p.fill(req.ev, req.prepared, hdr, size, body)
	p.env.Out.Emit(req.ev, req.start, end)
	if req.op == opStartup && (op == opReady || op == opAuthenticate) && hdr[0]&0x7f >= 5 {
		for i := range p.segs {
			p.segs[i].on, p.segs[i].lz4 = true, p.compression != ""
		}
		return false
	}
	return true
}

// fill reads a response into ev; a Prepared result remembers st by its
// id.
func (p *Parser) fill(ev *api.CQLEvent, st statement, hdr []byte, size int, body []byte) {
	op := int(hdr[4])
	ev.RespOp, ev.RespBytes = opNames[op], int64(headerLen+size)
	if hdr[1]&flagCompressed != 0 && size > 0 {
		ev.Compressed = true
		return
	}
	r := rd{fields.New(body)}
	var desc string
	switch op {
	case opError:
		ev.ErrorCode = r.I32()
		ev.ErrorName = errorName(ev.ErrorCode)
		desc = ev.ErrorName
		if msg := r.str(); r.OK && p.env.Mode() == api.DataAccessFull {
			desc += ": " + msg
		}
	case opResult:
		var id []byte
		desc, id = r.result(int(hdr[0] & 0x7f))
		if id != nil && st.tmpl != "" {
			if len(p.prepared) >= maxPrepared {
				for k := range p.prepared {
					delete(p.prepared, k)
					break
				}
			}
			p.prepared[string(id)] = st
		}
	case opAuthenticate:
		desc = r.str() // the authenticator's class
	case opSupported:
		desc = r.stringMap(true, max(p.env.BodyLimit, 0))
	case opEvent: // its type and change ("SCHEMA_CHANGE CREATED")
		desc = r.str()
		if change := r.str(); r.OK {
			desc += " " + change
		}
	}
	if p.env.Mode() != api.DataAccessNone && p.env.BodyLimit > 0 {
		ev.RespBody = sqltext.Bound(desc, p.env.BodyLimit)
	}
}
