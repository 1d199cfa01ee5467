package main

import (
	"encoding/binary"
	"fmt"
	"strconv"
	"strings"
)

type tokKind int

const (
	tokIdent tokKind = iota
	tokString
	tokNumber
	tokMarker
	tokPunct
)

type token struct {
	kind tokKind
	text string
}

// lex splits a statement into tokens: identifiers (lower-cased unless
// double-quoted), 'strings' (” escapes), numbers, ? markers, punctuation.
func lex(q string) ([]token, error) {
	var ts []token
	for i := 0; i < len(q); {
		c := q[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '\'':
			var b strings.Builder
			j := i + 1
			for ; ; j++ {
				if j >= len(q) {
					return nil, &cqlError{code: errSyntax, msg: "line 1: unterminated string"}
				}
				if q[j] == '\'' {
					if j+1 < len(q) && q[j+1] == '\'' {
						b.WriteByte('\'')
						j++
						continue
					}
					break
				}
				b.WriteByte(q[j])
			}
			ts = append(ts, token{tokString, b.String()})
			i = j + 1
		case c == '"':
			j := strings.IndexByte(q[i+1:], '"')
			if j < 0 {
				return nil, &cqlError{code: errSyntax, msg: "line 1: unterminated identifier"}
			}
			ts = append(ts, token{tokIdent, q[i+1 : i+1+j]})
			i += j + 2
		case c >= '0' && c <= '9' || c == '-' && i+1 < len(q) && q[i+1] >= '0' && q[i+1] <= '9':
			j := i + 1
			for j < len(q) && q[j] >= '0' && q[j] <= '9' {
				j++
			}
			ts = append(ts, token{tokNumber, q[i:j]})
			i = j
		case c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z':
			j := i + 1
			for j < len(q) && (q[j] == '_' || q[j] >= 'a' && q[j] <= 'z' || q[j] >= 'A' && q[j] <= 'Z' || q[j] >= '0' && q[j] <= '9') {
				j++
			}
			ts = append(ts, token{tokIdent, strings.ToLower(q[i:j])})
			i = j
		case c == '?':
			ts = append(ts, token{tokMarker, "?"})
			i++
		case strings.IndexByte("(),=*;.{}:<>", c) >= 0:
			ts = append(ts, token{tokPunct, string(c)})
			i++
		default:
			return nil, &cqlError{code: errSyntax, msg: fmt.Sprintf("line 1:%d no viable alternative at character '%c'", i, c)}
		}
	}
	return ts, nil
}

// operand is a literal or the n-th bind marker.
type operand struct {
	marker int // -1: the literal
	lit    token
}

type stmt struct {
	kind        string // "create_keyspace", "create_table", "use", "insert", "select", "update", "delete"
	ks, table   string
	ifNotExists bool
	rf          int
	cols        []column // CREATE TABLE's
	key         string
	names       []string  // INSERT's columns, SELECT's, UPDATE's SET
	vals        []operand // INSERT's values, UPDATE's
	whereCol    string
	where       *operand
	limit       int
	markers     []column // the columns the ? markers bind to, in order
	resultCols  []column // a SELECT's
	resultTable *table
	nMarkers    int
}

type parser struct {
	ts  []token
	i   int
	err error
	st  *stmt
}

func (p *parser) peek() token {
	if p.i < len(p.ts) {
		return p.ts[p.i]
	}
	return token{tokPunct, ""}
}

func (p *parser) next() token {
	t := p.peek()
	p.i++
	return t
}

func (p *parser) fail(format string, a ...any) {
	if p.err == nil {
		p.err = &cqlError{code: errSyntax, msg: "line 1: " + fmt.Sprintf(format, a...)}
	}
}

func (p *parser) expect(words ...string) {
	for _, w := range words {
		if t := p.next(); t.text != w || t.kind == tokString {
			p.fail("mismatched input '%s' expecting '%s'", t.text, w)
		}
	}
}

func (p *parser) accept(w string) bool {
	if t := p.peek(); t.text == w && t.kind != tokString {
		p.i++
		return true
	}
	return false
}

func (p *parser) ident() string {
	t := p.next()
	if t.kind != tokIdent {
		p.fail("no viable alternative at input '%s'", t.text)
	}
	return t.text
}

// name reads [ks.]table.
func (p *parser) name(current string) (ks, table string) {
	a := p.ident()
	if p.accept(".") {
		return a, p.ident()
	}
	return current, a
}

func (p *parser) operand() operand {
	t := p.next()
	switch t.kind {
	case tokMarker:
		p.st.nMarkers++
		return operand{marker: p.st.nMarkers - 1}
	case tokString, tokNumber:
		return operand{marker: -1, lit: t}
	case tokIdent:
		if t.text == "true" || t.text == "false" {
			return operand{marker: -1, lit: t}
		}
	}
	p.fail("no viable alternative at input '%s'", t.text)
	return operand{}
}

// parse reads one statement; current is the connection's keyspace.
func parse(q, current string) (*stmt, error) {
	ts, err := lex(q)
	if err != nil {
		return nil, err
	}
	p := &parser{ts: ts, st: &stmt{limit: -1}}
	st := p.st
	switch kw := p.ident(); kw {
	case "create":
		p.create(current)
	case "use":
		st.kind, st.ks = "use", p.ident()
	case "insert":
		st.kind = "insert"
		p.expect("into")
		st.ks, st.table = p.name(current)
		p.expect("(")
		for st.names = append(st.names, p.ident()); p.accept(","); {
			st.names = append(st.names, p.ident())
		}
		p.expect(")", "values", "(")
		for st.vals = append(st.vals, p.operand()); p.accept(","); {
			st.vals = append(st.vals, p.operand())
		}
		p.expect(")")
	case "select":
		st.kind = "select"
		if !p.accept("*") {
			for st.names = append(st.names, p.ident()); p.accept(","); {
				st.names = append(st.names, p.ident())
			}
		}
		p.expect("from")
		st.ks, st.table = p.name(current)
		p.where(false)
		if p.accept("limit") {
			n, err := strconv.Atoi(p.next().text)
			if err != nil || n <= 0 {
				p.fail("bad LIMIT")
			}
			st.limit = n
		}
	case "update":
		st.kind = "update"
		st.ks, st.table = p.name(current)
		p.expect("set")
		for {
			st.names = append(st.names, p.ident())
			p.expect("=")
			st.vals = append(st.vals, p.operand())
			if !p.accept(",") {
				break
			}
		}
		p.where(true)
	case "delete":
		st.kind = "delete"
		p.expect("from")
		st.ks, st.table = p.name(current)
		p.where(true)
	default:
		p.fail("no viable alternative at input '%s'", kw)
	}
	p.accept(";")
	if p.err == nil && p.i < len(p.ts) {
		p.fail("extraneous input '%s'", p.peek().text)
	}
	return st, p.err
}

func (p *parser) where(required bool) {
	if !p.accept("where") {
		if required {
			p.fail("missing WHERE")
		}
		return
	}
	p.st.whereCol = p.ident()
	p.expect("=")
	o := p.operand()
	p.st.where = &o
}

func (p *parser) create(current string) {
	st := p.st
	switch p.ident() {
	case "keyspace":
		st.kind = "create_keyspace"
		if p.accept("if") {
			p.expect("not", "exists")
			st.ifNotExists = true
		}
		st.ks = p.ident()
		st.rf = 1
		for t := p.next(); t.text != ""; t = p.next() {
			if t.kind == tokString && t.text == "replication_factor" {
				p.expect(":")
				st.rf, _ = strconv.Atoi(p.next().text)
			}
		}
	case "table":
		st.kind = "create_table"
		if p.accept("if") {
			p.expect("not", "exists")
			st.ifNotExists = true
		}
		st.ks, st.table = p.name(current)
		p.expect("(")
		for {
			if p.accept("primary") {
				p.expect("key", "(")
				st.key = p.ident()
				p.expect(")")
			} else {
				c := column{name: p.ident(), typ: p.ident()}
				st.cols = append(st.cols, c)
				if p.accept("primary") {
					p.expect("key")
					st.key = c.name
				}
			}
			if !p.accept(",") {
				break
			}
		}
		p.expect(")")
	default:
		p.fail("CREATE of this kind is not supported")
	}
}

// bind is the statement's table, checked, with the types of its markers
// and result columns; called under the store's lock.
func (s *store) bind(st *stmt) (*table, error) {
	if st.kind == "create_keyspace" || st.kind == "use" || st.kind == "create_table" {
		return nil, nil
	}
	if st.ks == "" {
		return nil, &cqlError{code: errInvalid, msg: "No keyspace has been specified. USE a keyspace, or explicitly specify keyspace.tablename"}
	}
	ks, ok := s.keyspaces[st.ks]
	if !ok {
		return nil, &cqlError{code: errInvalid, msg: "Keyspace " + st.ks + " does not exist"}
	}
	t, ok := ks.tables[st.table]
	if !ok {
		return nil, &cqlError{code: errInvalid, msg: "unconfigured table " + st.table}
	}
	st.markers = make([]column, st.nMarkers)
	bindOp := func(o operand, col string) error {
		i := t.col(col)
		if i < 0 {
			return &cqlError{code: errInvalid, msg: "Undefined column name " + col}
		}
		if o.marker >= 0 {
			st.markers[o.marker] = t.cols[i]
		}
		return nil
	}
	for i, n := range st.names {
		if st.kind == "select" {
			if t.col(n) < 0 {
				return nil, &cqlError{code: errInvalid, msg: "Undefined column name " + n}
			}
			continue
		}
		if i >= len(st.vals) {
			return nil, &cqlError{code: errInvalid, msg: "Unmatched column names/values"}
		}
		if err := bindOp(st.vals[i], n); err != nil {
			return nil, err
		}
	}
	if st.kind == "insert" && len(st.vals) != len(st.names) {
		return nil, &cqlError{code: errInvalid, msg: "Unmatched column names/values"}
	}
	if st.where != nil {
		if err := bindOp(*st.where, st.whereCol); err != nil {
			return nil, err
		}
		if st.whereCol != t.cols[t.key].name {
			return nil, &cqlError{code: errInvalid, msg: "Cannot execute this query as it might involve data filtering and thus may have unpredictable performance. If you want to execute this query despite the performance unpredictability, use ALLOW FILTERING"}
		}
	}
	st.resultCols = nil
	if st.kind == "select" {
		if len(st.names) == 0 {
			st.resultCols = t.cols
		}
		for _, n := range st.names {
			st.resultCols = append(st.resultCols, t.cols[t.col(n)])
		}
	}
	return t, nil
}

// result is what a statement returns.
type result struct {
	kind     int // 1 void, 2 rows, 3 set keyspace, 5 schema change
	cols     []column
	ks, tbl  string
	rows     [][][]byte
	next     int // paging: the offset of the next page, 0 when none
	keyspace string
	target   string // schema change: "KEYSPACE" or "TABLE"
}

// required is how many replicas a consistency level needs (ONE, TWO,
// THREE, QUORUM, ALL, LOCAL_QUORUM, LOCAL_ONE...).
func required(consistency, rf int) int {
	switch consistency {
	case 0x0002:
		return 2
	case 0x0003:
		return 3
	case 0x0004, 0x0006:
		return rf/2 + 1
	case 0x0005:
		return rf
	}
	return 1
}

// exec runs st with its markers' values; conn is the connection's state.
func (s *store) exec(st *stmt, vals [][]byte, cs *connState, consistency, pageSize, offset int) (*result, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch st.kind {
	case "use":
		if _, ok := s.keyspaces[st.ks]; !ok {
			return nil, &cqlError{code: errInvalid, msg: "Keyspace '" + st.ks + "' does not exist"}
		}
		cs.keyspace = st.ks
		return &result{kind: 3, keyspace: st.ks}, nil
	case "create_keyspace":
		if _, ok := s.keyspaces[st.ks]; ok {
			if st.ifNotExists {
				return &result{kind: 1}, nil
			}
			return nil, &cqlError{errExists, "Keyspace " + st.ks + " already exists", appendString(appendString(nil, st.ks), "")}
		}
		s.keyspaces[st.ks] = &keyspace{rf: max(st.rf, 1), tables: map[string]*table{}}
		return &result{kind: 5, target: "KEYSPACE", ks: st.ks}, nil
	case "create_table":
		ks, ok := s.keyspaces[st.ks]
		if !ok {
			return nil, &cqlError{code: errInvalid, msg: "Keyspace " + st.ks + " does not exist"}
		}
		if _, ok := ks.tables[st.table]; ok {
			if st.ifNotExists {
				return &result{kind: 1}, nil
			}
			return nil, &cqlError{errExists, "Table " + st.ks + "." + st.table + " already exists", appendString(appendString(nil, st.ks), st.table)}
		}
		t := newTable(st.ks, st.table, st.cols, 0)
		if t.key = t.col(st.key); t.key < 0 {
			return nil, &cqlError{code: errInvalid, msg: "No PRIMARY KEY specifed for table " + st.table}
		}
		ks.tables[st.table] = t
		return &result{kind: 5, target: "TABLE", ks: st.ks, tbl: st.table}, nil
	}
	t, err := s.bind(st)
	if err != nil {
		return nil, err
	}
	if need := required(consistency, s.keyspaces[st.ks].rf); need > 1 {
		extra := binary.BigEndian.AppendUint16(nil, uint16(consistency))
		extra = binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint32(extra, uint32(need)), 1)
		return nil, &cqlError{errUnavailable, fmt.Sprintf("Cannot achieve consistency level: %d replicas required, 1 alive", need), extra}
	}
	value := func(o operand, col column) ([]byte, error) {
		if o.marker >= 0 {
			if o.marker >= len(vals) {
				return nil, &cqlError{code: errInvalid, msg: fmt.Sprintf("There were %d markers(?) in CQL but %d bound variables", st.nMarkers, len(vals))}
			}
			return vals[o.marker], nil
		}
		return encodeLiteral(o.lit, col.typ)
	}
	var key []byte
	if st.where != nil {
		if key, err = value(*st.where, t.cols[t.key]); err != nil {
			return nil, err
		}
	}
	switch st.kind {
	case "insert", "update":
		row := make([][]byte, len(t.cols))
		for i, n := range st.names {
			c := t.col(n)
			if row[c], err = value(st.vals[i], t.cols[c]); err != nil {
				return nil, err
			}
		}
		if st.kind == "update" {
			row[t.key] = key
		}
		if row[t.key] == nil {
			return nil, &cqlError{code: errInvalid, msg: "Missing PRIMARY KEY part " + t.cols[t.key].name}
		}
		t.put(row)
		return &result{kind: 1}, nil
	case "delete":
		t.delete(string(key))
		return &result{kind: 1}, nil
	}
	return s.selectRows(st, t, key, pageSize, offset), nil
}

func (s *store) selectRows(st *stmt, t *table, key []byte, pageSize, offset int) *result {
	r := &result{kind: 2, cols: st.resultCols, ks: t.ks, tbl: t.name}
	keys := t.order
	if st.where != nil {
		keys = nil
		if _, ok := t.rows[string(key)]; ok {
			keys = []string{string(key)}
		}
	}
	if st.limit > 0 && len(keys) > st.limit {
		keys = keys[:st.limit]
	}
	keys = keys[min(offset, len(keys)):]
	if pageSize > 0 && len(keys) > pageSize {
		keys = keys[:pageSize]
		r.next = offset + pageSize
	}
	for _, k := range keys {
		row := t.rows[k]
		out := make([][]byte, 0, len(st.resultCols))
		for _, c := range st.resultCols {
			out = append(out, row[t.col(c.name)])
		}
		r.rows = append(r.rows, out)
	}
	return r
}

func pagingState(offset int) []byte { return binary.BigEndian.AppendUint32(nil, uint32(offset)) }
