// Package pgsql parses the PostgreSQL frontend/backend protocol (v3) for
// the connection tracker. A simple Query, or the extended-protocol
// messages up to a Sync, are one unit answered by exactly one
// ReadyForQuery: units are paired with their ReadyForQuery in order, so
// pipelined batches, COPY data and asynchronous messages (notices,
// notifications, parameter status) never shift the pairing. Startup and
// authentication are consumed without records; passwords are never kept.
package pgsql

import (
	"bytes"
	"encoding/binary"

	"github.com/kubectl-pixie/kubectl-pixie/probes/api/vocab"
	"github.com/kubectl-pixie/kubectl-pixie/probes/conn"
)

// Protocol implements conn.Protocol.
type Protocol struct{}

func (Protocol) Name() string { return vocab.ProtocolPgSQL }

// Codes of the untyped messages a client sends first.
const (
	codeProtocol3 = 196608   // StartupMessage, protocol 3.0
	codeSSL       = 80877103 // SSLRequest
	codeGSSENC    = 80877104 // GSSENCRequest
	codeCancel    = 80877102 // CancelRequest
)

// Infer recognises what clients send: a StartupMessage or SSLRequest at
// the start of a connection, or a whole Query or Parse message (a
// connection seen mid-stream). Server messages are never used: one-byte
// types with a length are too weak a signature.
func (Protocol) Infer(b []byte, dir conn.Dir, transport uint8) conn.Inference {
	if transport == conn.TransportUDP || len(b) == 0 {
		return conn.Inference{}
	}
	role := conn.RoleServer
	if dir == conn.Egress {
		role = conn.RoleClient
	}
	switch b[0] {
	case 0:
		if len(b) < 8 {
			if len(b) >= 2 && b[1] != 0 {
				return conn.Inference{}
			}
			return conn.Inference{Conf: conn.NeedMore}
		}
		l, code := binary.BigEndian.Uint32(b), binary.BigEndian.Uint32(b[4:])
		switch {
		case (code == codeSSL || code == codeGSSENC) && l == 8,
			code == codeProtocol3 && l > 8 && l < 10000:
			return conn.Inference{Conf: conn.High, Role: role}
		}
	case 'Q', 'P':
		if c := queryMessage(b); c != conn.NoMatch {
			return conn.Inference{Conf: c, Role: role}
		}
	}
	return conn.Inference{}
}

// queryMessage tells whether b starts with a Query or Parse message whose
// SQL text looks like a statement: High when the whole message is there
// and well formed, NeedMore for a short prefix.
func queryMessage(b []byte) conn.Confidence {
	if len(b) < 5 {
		if len(b) >= 2 && b[1] != 0 {
			return conn.NoMatch
		}
		return conn.NeedMore
	}
	l := int(binary.BigEndian.Uint32(b[1:]))
	if b[1] != 0 || l < 6 || l > 1<<24 {
		return conn.NoMatch
	}
	body := b[5:]
	if len(body) > l-4 {
		body = body[:l-4]
	}
	if b[0] == 'P' {
		// statement name, then the query
		i := bytes.IndexByte(body[:min(len(body), 70)], 0)
		if i < 0 {
			if len(body) < 70 && len(b) < 1+l {
				return conn.NeedMore
			}
			return conn.NoMatch
		}
		body = body[i+1:]
	}
	// The text must start like a statement.
	k := 0
	for k < len(body) && (body[k] == ' ' || body[k] == '\n' || body[k] == '\t' || body[k] == '(' || body[k] == '\r') {
		k++
	}
	if k == len(body) {
		if len(b) < 1+l {
			return conn.NeedMore
		}
		return conn.NoMatch
	}
	if c := body[k] | 0x20; !(c >= 'a' && c <= 'z') && body[k] != '/' && body[k] != '-' {
		return conn.NoMatch
	}
	for _, c := range body[k:] {
		if c < 0x20 && c != '\n' && c != '\t' && c != '\r' && c != 0 || c == 0x7f {
			return conn.NoMatch
		}
	}
	if len(b) < 1+l {
		if len(b) < 128 {
			return conn.NeedMore
		}
		return conn.Low
	}
	if b[0] == 'Q' && b[l] != 0 {
		return conn.NoMatch
	}
	if b[0] == 'P' && bytes.IndexByte(body, 0) < 0 {
		return conn.NoMatch
	}
	return conn.High
}

func (Protocol) NewParser(env *conn.Env) conn.Parser { return NewParser(env) }
