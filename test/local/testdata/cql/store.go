package main

import (
	"encoding/binary"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
)

// The table store: keyspaces of tables, each row a map of encoded values
// keyed by its partition key (the table's first PRIMARY KEY column). It
// executes the statements it is sent; no answer is canned.

type column struct {
	name, typ string
}

type table struct {
	ks, name string
	cols     []column
	key      int                 // index of the primary key column
	rows     map[string][][]byte // by encoded key
	order    []string            // keys in insertion order (SELECT without WHERE)
}

type keyspace struct {
	rf     int // replication factor: more replicas than this one node make QUORUM and ALL unavailable
	tables map[string]*table
}

type store struct {
	mu        sync.Mutex
	keyspaces map[string]*keyspace
}

// cqlError is an ERROR the server answers with.
type cqlError struct {
	code  int
	msg   string
	extra []byte // the code's own fields (Unavailable: consistency, required, alive)
}

func (e *cqlError) Error() string { return e.msg }

const (
	errSyntax      = 0x2000
	errInvalid     = 0x2200
	errUnavailable = 0x1000
	errExists      = 0x2400
	errUnprepared  = 0x2500
	errProtocol    = 0x000a
)

func newStore(addr net.IP) *store {
	s := &store{keyspaces: map[string]*keyspace{}}
	sys := &keyspace{rf: 1, tables: map[string]*table{}}
	s.keyspaces["system"] = sys
	local := newTable("system", "local", []column{{"key", "text"}, {"bootstrapped", "text"}, {"broadcast_address", "inet"},
		{"cluster_name", "text"}, {"cql_version", "text"}, {"data_center", "text"}, {"host_id", "uuid"},
		{"listen_address", "inet"}, {"partitioner", "text"}, {"rack", "text"}, {"release_version", "text"},
		{"rpc_address", "inet"}, {"schema_version", "uuid"}, {"tokens", "set<text>"}}, 0)
	hostID := []byte("pixie-test-host1")
	local.put([][]byte{[]byte("local"), []byte("COMPLETED"), addr.To4(), []byte("pixie"), []byte("3.4.5"), []byte("dc1"),
		hostID, addr.To4(), []byte("org.apache.cassandra.dht.Murmur3Partitioner"), []byte("rack1"), []byte("4.1.0"),
		addr.To4(), []byte("pixie-schema-v01"), encodeSet([]string{"0"})})
	sys.tables["local"] = local
	sys.tables["peers"] = newTable("system", "peers", []column{{"peer", "inet"}, {"data_center", "text"}, {"host_id", "uuid"},
		{"rack", "text"}, {"release_version", "text"}, {"rpc_address", "inet"}, {"schema_version", "uuid"}, {"tokens", "set<text>"}}, 0)
	return s
}

func newTable(ks, name string, cols []column, key int) *table {
	return &table{ks: ks, name: name, cols: cols, key: key, rows: map[string][][]byte{}}
}

func (t *table) col(name string) int {
	for i, c := range t.cols {
		if c.name == name {
			return i
		}
	}
	return -1
}

// put writes a whole row (nil values are absent).
func (t *table) put(row [][]byte) {
	k := string(row[t.key])
	old, ok := t.rows[k]
	if !ok {
		t.order = append(t.order, k)
		old = make([][]byte, len(t.cols))
	}
	for i, v := range row {
		if v != nil {
			old[i] = v
		}
	}
	t.rows[k] = old
}

func (t *table) delete(k string) {
	if _, ok := t.rows[k]; !ok {
		return
	}
	delete(t.rows, k)
	for i, o := range t.order {
		if o == k {
			t.order = append(t.order[:i], t.order[i+1:]...)
			break
		}
	}
}

func encodeSet(items []string) []byte {
	b := binary.BigEndian.AppendUint32(nil, uint32(len(items)))
	for _, it := range items {
		b = binary.BigEndian.AppendUint32(b, uint32(len(it)))
		b = append(b, it...)
	}
	return b
}

// encodeLiteral encodes a CQL literal as a value of type typ.
func encodeLiteral(tok token, typ string) ([]byte, error) {
	switch typ {
	case "int":
		n, err := strconv.ParseInt(tok.text, 10, 32)
		if err != nil || tok.kind != tokNumber {
			return nil, &cqlError{code: errInvalid, msg: fmt.Sprintf("Invalid INTEGER constant (%s) for column of type int", tok.text)}
		}
		return binary.BigEndian.AppendUint32(nil, uint32(n)), nil
	case "bigint":
		n, err := strconv.ParseInt(tok.text, 10, 64)
		if err != nil || tok.kind != tokNumber {
			return nil, &cqlError{code: errInvalid, msg: fmt.Sprintf("Invalid constant (%s) for column of type bigint", tok.text)}
		}
		return binary.BigEndian.AppendUint64(nil, uint64(n)), nil
	case "text", "varchar", "ascii":
		if tok.kind != tokString {
			return nil, &cqlError{code: errInvalid, msg: fmt.Sprintf("Invalid constant (%s) for column of type text", tok.text)}
		}
		return []byte(tok.text), nil
	case "boolean":
		switch strings.ToLower(tok.text) {
		case "true":
			return []byte{1}, nil
		case "false":
			return []byte{0}, nil
		}
	}
	return nil, &cqlError{code: errInvalid, msg: fmt.Sprintf("Invalid constant (%s) for column of type %s", tok.text, typ)}
}

// typeOption is a column type's [option] in result metadata.
func typeOption(typ string) []byte {
	ids := map[string]uint16{"ascii": 0x01, "bigint": 0x02, "boolean": 0x04, "int": 0x09, "text": 0x0d, "varchar": 0x0d, "uuid": 0x0c, "inet": 0x10}
	if inner, ok := strings.CutPrefix(typ, "set<"); ok {
		return append([]byte{0x00, 0x22}, typeOption(strings.TrimSuffix(inner, ">"))...)
	}
	return binary.BigEndian.AppendUint16(nil, ids[typ])
}
