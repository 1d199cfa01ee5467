package nats

import (
	"bytes"

	"github.com/kubectl-pixie/kubectl-pixie/probes/conn"
)

// stream reads one direction: control lines, each maybe followed by a
// payload and a CRLF. Loss inside a payload is skipped (the message comes,
// cut); anywhere else the stream waits for a call that starts with an op.
type stream struct {
	synced  bool
	line    []byte // control line read so far
	skip    bool   // the line outgrew its bound: skipping to its end
	start   uint64 // arrival of the op's first byte
	msg     op     // the op whose payload is being read
	inBody  bool
	got     int    // payload and CRLF bytes read or skipped
	payload []byte // its first bytes, up to keep
	cut     bool
}

// done is called with each whole op; the payload's slice is valid during
// the call only.
type done func(o *op, payload []byte, cut bool, start, end uint64)

// reader bounds what a stream keeps.
type reader struct {
	maxLine int // control line bytes kept
	keep    int // payload bytes kept
	stats   *conn.Stats
}

func (r *reader) feed(s *stream, c *conn.Chunk, emit done) {
	if c.EOF {
		return
	}
	if c.Gap > 0 {
		r.gap(s, c, emit)
		return
	}
	if !s.synced {
		if opName(c.Data) == "" {
			r.stats.DroppedBytes += uint64(len(c.Data))
			return
		}
		*s = stream{synced: true, line: s.line[:0], payload: s.payload[:0]}
	}
	data := c.Data
	for len(data) > 0 && s.synced {
		if s.inBody {
			data = r.body(s, data, c, emit)
		} else {
			data = r.control(s, data, c, emit)
		}
	}
}

// gap skips payload bytes; lost bytes elsewhere lose the framing.
func (r *reader) gap(s *stream, c *conn.Chunk, emit done) {
	if !s.synced {
		return
	}
	if !s.inBody || uint64(s.got)+c.Gap > uint64(s.msg.size)+2 {
		r.lose(s)
		return
	}
	s.got += int(c.Gap)
	s.cut = true
	if s.got == s.msg.size+2 {
		s.inBody = false
		emit(&s.msg, s.payload, true, s.start, c.WireNs())
	}
}

// lose forgets the op being read and waits for a call starting with one.
func (r *reader) lose(s *stream) {
	r.stats.Resyncs++
	*s = stream{line: s.line[:0], payload: s.payload[:0]}
}

// control reads a control line up to its LF.
func (r *reader) control(s *stream, data []byte, c *conn.Chunk, emit done) []byte {
	if len(s.line) == 0 && !s.skip {
		s.start = c.WireNs()
	}
	i := bytes.IndexByte(data, '\n')
	part := data
	if i >= 0 {
		part = data[:i]
	}
	switch {
	case s.skip:
		r.stats.DroppedBytes += uint64(len(part))
	case len(s.line)+len(part) > r.maxLine:
		// Only INFO and CONNECT carry long lines (options, JWTs): what
		// they hold beyond the bound is dropped. Any other op this long
		// is not NATS.
		head := append(s.line[:len(s.line):len(s.line)], part[:min(len(part), len("CONNECT "))]...)
		if n := opName(head); n != "INFO" && n != "CONNECT" {
			r.stats.ParseErrors++
			r.lose(s)
			return nil
		}
		keep := r.maxLine - len(s.line)
		s.line = append(s.line, part[:keep]...)
		r.stats.DroppedBytes += uint64(len(part) - keep)
		s.skip = true
	default:
		s.line = append(s.line, part...)
	}
	if i < 0 {
		return nil
	}
	line := bytes.TrimSuffix(s.line, []byte("\r"))
	n := len(s.line) + 1
	s.line, s.skip = s.line[:0], false
	if len(bytes.TrimSpace(line)) == 0 {
		return data[i+1:]
	}
	o, ok := parseLine(line)
	if !ok {
		r.stats.ParseErrors++
		r.lose(s)
		return nil
	}
	o.line = n
	if !o.hasPayload() {
		emit(&o, nil, false, s.start, c.WireNs())
		return data[i+1:]
	}
	s.msg, s.inBody, s.got, s.payload, s.cut = o, true, 0, s.payload[:0], false
	return data[i+1:]
}

// body reads a payload and the CRLF that ends it.
func (r *reader) body(s *stream, data []byte, c *conn.Chunk, emit done) []byte {
	size := s.msg.size
	if s.got < size {
		n := min(size-s.got, len(data))
		if k := min(r.keep-len(s.payload), n); k > 0 && len(s.payload) == s.got {
			s.payload = append(s.payload, data[:k]...)
		}
		s.got += n
		data = data[n:]
	}
	for s.got < size+2 && len(data) > 0 {
		if data[0] != "\r\n"[s.got-size] {
			r.stats.ParseErrors++
			r.lose(s)
			return nil
		}
		s.got++
		data = data[1:]
	}
	if s.got == size+2 {
		s.inBody = false
		emit(&s.msg, s.payload, s.cut || len(s.payload) < size, s.start, c.WireNs())
	}
	return data
}
