package main

import (
	"bufio"
	"crypto/md5"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"sync"
)

// The server side of the native protocol, v3 and v4 frames: each request
// is handled in a goroutine of its own, so answers go out in the order
// they are ready, not the order asked (streams interleave as with
// Cassandra).

const (
	opError           = 0x00
	opStartup         = 0x01
	opReady           = 0x02
	opOptions         = 0x05
	opSupported       = 0x06
	opQuery           = 0x07
	opResult          = 0x08
	opPrepare         = 0x09
	opExecute         = 0x0a
	opRegister        = 0x0b
	opBatch           = 0x0d
	opAuthenticate    = 0x03
	opEvent           = 0x0c
	opAuthResponse    = 0x0f
	opAuthSuccess     = 0x10
	errBadCredentials = 0x0100
)

type server struct {
	store *store
	// auth: STARTUP is answered by AUTHENTICATE (PasswordAuthenticator):
	// user cassandra, password hunter2, in SASL PLAIN.
	auth       bool
	mu         sync.Mutex
	prepared   map[string]string   // id -> statement
	counts     map[int]int         // requests handled, by opcode
	errs       map[int]int         // errors answered, by code
	registered map[*connState]byte // connections that asked for SCHEMA_CHANGE events, by version
	events     int                 // EVENTs pushed
}

type connState struct {
	mu        sync.Mutex // serialises writes and the keyspace
	w         *bufio.Writer
	segmented bool // v5 after READY
	keyspace  string
}

func (s *server) serve(l net.Listener) {
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		go s.conn(c)
	}
}

func (s *server) conn(c net.Conn) {
	defer c.Close()
	fr := &frameReader{r: bufio.NewReader(c)}
	cs := &connState{w: bufio.NewWriter(c)}
	defer func() {
		s.mu.Lock()
		delete(s.registered, cs)
		s.mu.Unlock()
	}()
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		hdr, body, err := fr.next()
		if err != nil {
			return
		}
		version, stream, op := hdr[0], binary.BigEndian.Uint16(hdr[2:]), int(hdr[4])
		if version < 3 || version > 5 {
			// Drivers that start higher step down on this answer.
			cs.send(4, stream, opError, errorBody(&cqlError{code: errProtocol, msg: fmt.Sprintf("Invalid or unsupported protocol version (%d); supported versions are (3/v3, 4/v4, 5/v5)", version)}))
			continue
		}
		if op == opStartup {
			// Answered before the next frame is read: from v5 on, what
			// follows READY travels in segments, both ways.
			rop, rbody := s.handle(cs, version, op, body)
			cs.send(version, stream, rop, rbody)
			if version >= 5 && (rop == opReady || rop == opAuthenticate) {
				fr.segmented, cs.segmented = true, true
			}
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			rop, rbody := s.handle(cs, version, op, body)
			cs.send(version, stream, rop, rbody)
		}()
	}
}

func (cs *connState) send(version byte, stream uint16, op int, body []byte) error {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	f := []byte{version | 0x80, 0, byte(stream >> 8), byte(stream), byte(op)}
	f = append(binary.BigEndian.AppendUint32(f, uint32(len(body))), body...)
	if !cs.segmented {
		cs.w.Write(f)
	}
	whole := len(f) <= maxSegment // else its parts are not self-contained
	for cs.segmented && len(f) > 0 {
		n := min(len(f), maxSegment)
		cs.w.Write(segment(f[:n], whole))
		f = f[n:]
	}
	return cs.w.Flush()
}

func (s *server) handle(cs *connState, version byte, op int, body []byte) (int, []byte) {
	s.mu.Lock()
	s.counts[op]++
	s.mu.Unlock()
	rop, rbody, err := s.answer(cs, version, op, body)
	if err != nil {
		var ce *cqlError
		if !errors.As(err, &ce) {
			ce = &cqlError{code: errProtocol, msg: err.Error()}
		}
		s.mu.Lock()
		s.errs[ce.code]++
		s.mu.Unlock()
		return opError, errorBody(ce)
	}
	return rop, rbody
}

func (s *server) answer(cs *connState, version byte, op int, body []byte) (int, []byte, error) {
	r := &reader{b: body, v5: version >= 5}
	switch op {
	case opOptions:
		b := binary.BigEndian.AppendUint16(nil, 2)
		b = append(appendString(b, "CQL_VERSION"), encodeStringList([]string{"3.4.5"})...)
		b = append(appendString(b, "COMPRESSION"), encodeStringList(nil)...)
		return opSupported, b, nil
	case opStartup:
		if s.auth {
			return opAuthenticate, appendString(nil, "org.apache.cassandra.auth.PasswordAuthenticator"), nil
		}
		return opReady, nil, nil
	case opAuthResponse:
		if tok := r.take(int(r.int())); string(tok) != "\x00cassandra\x00hunter2" {
			return 0, nil, &cqlError{code: errBadCredentials, msg: "Provided username and/or password are incorrect"}
		}
		return opAuthSuccess, binary.BigEndian.AppendUint32(nil, 0xffffffff), nil
	case opRegister:
		s.mu.Lock()
		s.registered[cs] = version
		s.mu.Unlock()
		return opReady, nil, nil
	case opQuery:
		q := r.longString()
		p := r.params()
		if r.err != nil {
			return 0, nil, r.err
		}
		cs.mu.Lock()
		ks := cs.keyspace
		cs.mu.Unlock()
		st, err := parse(q, ks)
		if err != nil {
			return 0, nil, err
		}
		return s.run(cs, st, p)
	case opPrepare:
		q := r.longString()
		if r.err != nil {
			return 0, nil, r.err
		}
		return s.prepare(cs, q, version >= 5)
	case opExecute:
		id := r.shortBytes()
		if r.v5 {
			r.shortBytes() // result_metadata_id
		}
		p := r.params()
		if r.err != nil {
			return 0, nil, r.err
		}
		st, err := s.preparedStmt(cs, id)
		if err != nil {
			return 0, nil, err
		}
		return s.run(cs, st, p)
	case opBatch:
		return s.batch(cs, r)
	}
	return 0, nil, &cqlError{code: errProtocol, msg: fmt.Sprintf("unknown opcode %d", op)}
}

func (s *server) preparedStmt(cs *connState, id []byte) (*stmt, error) {
	s.mu.Lock()
	q, ok := s.prepared[string(id)]
	s.mu.Unlock()
	if !ok {
		return nil, &cqlError{errUnprepared, fmt.Sprintf("Prepared query with ID %x not found", id), appendShortBytes(nil, id)}
	}
	cs.mu.Lock()
	ks := cs.keyspace
	cs.mu.Unlock()
	return parse(q, ks)
}

// prepare checks the statement against the schema and answers its
// markers' and result's metadata.
func (s *server) prepare(cs *connState, q string, v5 bool) (int, []byte, error) {
	cs.mu.Lock()
	ks := cs.keyspace
	cs.mu.Unlock()
	st, err := parse(q, ks)
	if err != nil {
		return 0, nil, err
	}
	s.store.mu.Lock()
	t, err := s.store.bind(st)
	s.store.mu.Unlock()
	if err != nil {
		return 0, nil, err
	}
	sum := md5.Sum([]byte(q))
	s.mu.Lock()
	s.prepared[string(sum[:])] = q
	s.mu.Unlock()
	b := binary.BigEndian.AppendUint32(nil, 4)
	b = appendShortBytes(b, sum[:])
	if v5 {
		b = appendShortBytes(b, sum[:]) // result_metadata_id: the statement's
	}
	tks, tname := st.ks, st.table
	if t != nil {
		tks, tname = t.ks, t.name
	}
	// Bind markers: flags (global table spec), count, the partition key's
	// marker index, the table, the markers' columns.
	b = binary.BigEndian.AppendUint32(b, 1)
	b = binary.BigEndian.AppendUint32(b, uint32(len(st.markers)))
	b = binary.BigEndian.AppendUint32(b, 0)
	b = appendString(appendString(b, tks), tname)
	for _, c := range st.markers {
		b = append(appendString(b, c.name), typeOption(c.typ)...)
	}
	if st.kind != "select" {
		return opResult, append(binary.BigEndian.AppendUint32(b, 4), 0, 0, 0, 0), nil // no metadata, no columns
	}
	return opResult, appendColumns(binary.BigEndian.AppendUint32(b, 1), st.resultCols, tks, tname), nil
}

func (s *server) run(cs *connState, st *stmt, p params) (int, []byte, error) {
	res, err := s.store.exec(st, p.values, cs, p.consistency, p.pageSize, p.offset)
	if err != nil {
		return 0, nil, err
	}
	b := binary.BigEndian.AppendUint32(nil, uint32(res.kind))
	switch res.kind {
	case 2:
		flags := uint32(1)
		if res.next > 0 {
			flags |= 2
		}
		if p.skipMetadata {
			flags |= 4
		}
		b = binary.BigEndian.AppendUint32(b, flags)
		b = binary.BigEndian.AppendUint32(b, uint32(len(res.cols)))
		if res.next > 0 {
			b = appendBytes(b, pagingState(res.next))
		}
		if !p.skipMetadata {
			b = appendString(appendString(b, res.ks), res.tbl)
			for _, c := range res.cols {
				b = append(appendString(b, c.name), typeOption(c.typ)...)
			}
		}
		b = binary.BigEndian.AppendUint32(b, uint32(len(res.rows)))
		for _, row := range res.rows {
			for _, v := range row {
				b = appendBytes(b, v)
			}
		}
	case 3:
		b = appendString(b, res.keyspace)
	case 5:
		change := appendString(appendString(nil, "CREATED"), res.target)
		change = appendString(change, res.ks)
		if res.target == "TABLE" {
			change = appendString(change, res.tbl)
		}
		b = append(b, change...)
		s.push(appendString(nil, "SCHEMA_CHANGE"), change)
	}
	return opResult, b, nil
}

// push sends an EVENT to every connection registered for it.
func (s *server) push(kind, change []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for cs, version := range s.registered {
		if cs.send(version, 0xffff, opEvent, append(append([]byte(nil), kind...), change...)) == nil {
			s.events++
		}
	}
}

// batch runs a BATCH's statements (queries or prepared ids) in order.
func (s *server) batch(cs *connState, r *reader) (int, []byte, error) {
	r.byte() // type
	n := int(r.short())
	stmts := make([]*stmt, 0, n)
	values := make([][][]byte, 0, n)
	for range n {
		var st *stmt
		var err error
		if r.byte() == 0 {
			st, err = parse(r.longString(), cs.keyspace)
		} else {
			st, err = s.preparedStmt(cs, r.shortBytes())
		}
		if err != nil {
			return 0, nil, err
		}
		stmts, values = append(stmts, st), append(values, r.values(false))
	}
	consistency := int(r.short())
	if r.err != nil {
		return 0, nil, r.err
	}
	for i, st := range stmts {
		if st.kind != "insert" && st.kind != "update" && st.kind != "delete" {
			return 0, nil, &cqlError{code: errInvalid, msg: "Only INSERT, UPDATE and DELETE statements are allowed in a BATCH"}
		}
		if _, err := s.store.exec(st, values[i], cs, consistency, 0, 0); err != nil {
			return 0, nil, err
		}
	}
	return opResult, binary.BigEndian.AppendUint32(nil, 1), nil
}

func appendColumns(b []byte, cols []column, ks, tbl string) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(cols)))
	b = appendString(appendString(b, ks), tbl)
	for _, c := range cols {
		b = append(appendString(b, c.name), typeOption(c.typ)...)
	}
	return b
}

func errorBody(e *cqlError) []byte {
	b := binary.BigEndian.AppendUint32(nil, uint32(e.code))
	return append(appendString(b, e.msg), e.extra...)
}

func appendString(b []byte, s string) []byte {
	return append(binary.BigEndian.AppendUint16(b, uint16(len(s))), s...)
}

func appendShortBytes(b, v []byte) []byte {
	return append(binary.BigEndian.AppendUint16(b, uint16(len(v))), v...)
}

func appendBytes(b, v []byte) []byte {
	if v == nil {
		return binary.BigEndian.AppendUint32(b, 0xffffffff)
	}
	return append(binary.BigEndian.AppendUint32(b, uint32(len(v))), v...)
}

func encodeStringList(l []string) []byte {
	b := binary.BigEndian.AppendUint16(nil, uint16(len(l)))
	for _, s := range l {
		b = appendString(b, s)
	}
	return b
}

// reader reads a request body; the first error sticks.
type reader struct {
	b   []byte
	v5  bool // flags are [int] from v5 on
	err error
}

func (r *reader) take(n int) []byte {
	if r.err != nil || n < 0 || n > len(r.b) {
		if r.err == nil {
			r.err = &cqlError{code: errProtocol, msg: "truncated frame body"}
		}
		return nil
	}
	v := r.b[:n]
	r.b = r.b[n:]
	return v
}

func (r *reader) byte() byte {
	if v := r.take(1); v != nil {
		return v[0]
	}
	return 0
}

func (r *reader) short() uint16 {
	if v := r.take(2); v != nil {
		return binary.BigEndian.Uint16(v)
	}
	return 0
}

func (r *reader) int() int32 {
	if v := r.take(4); v != nil {
		return int32(binary.BigEndian.Uint32(v))
	}
	return 0
}

func (r *reader) longString() string { return string(r.take(int(r.int()))) }
func (r *reader) shortBytes() []byte { return r.take(int(r.short())) }

// values reads [short] n values ([bytes], null as nil); named: each has
// its name first (the names are not used: markers bind in order).
func (r *reader) values(named bool) [][]byte {
	n := int(r.short())
	vals := make([][]byte, 0, n)
	for range n {
		if named {
			r.take(int(r.short()))
		}
		l := r.int()
		if l < 0 {
			vals = append(vals, nil)
			continue
		}
		vals = append(vals, r.take(int(l)))
	}
	return vals
}

type params struct {
	consistency  int
	values       [][]byte
	skipMetadata bool
	pageSize     int
	offset       int
}

// params reads a QUERY's or EXECUTE's parameters (v3/v4).
func (r *reader) params() params {
	p := params{consistency: int(r.short())}
	var flags int32
	if r.v5 {
		flags = r.int()
	} else {
		flags = int32(r.byte())
	}
	if flags&0x01 != 0 {
		p.values = r.values(flags&0x40 != 0)
	}
	p.skipMetadata = flags&0x02 != 0
	if flags&0x04 != 0 {
		p.pageSize = int(r.int())
	}
	if flags&0x08 != 0 {
		if st := r.take(int(r.int())); len(st) == 4 {
			p.offset = int(binary.BigEndian.Uint32(st))
		}
	}
	return p
}
