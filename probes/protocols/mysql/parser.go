// Package mysql parses the MySQL/MariaDB client/server protocol for the
// connection tracker. The handshake and authentication are consumed
// without records (nothing of them is kept); then each command is paired
// with its response, counted to its last packet: OK, ERR, or a result set
// (column count, column definitions, rows, EOF or OK), more result sets
// included. Packet sequence numbers restart at every command, which lets a
// connection seen mid-stream find the start of a response.
package mysql

import (
	"github.com/kubectl-pixie/kubectl-pixie/probes/api/vocab"
	"github.com/kubectl-pixie/kubectl-pixie/probes/conn"
)

// Protocol implements conn.Protocol.
type Protocol struct{}

func (Protocol) Name() string { return vocab.ProtocolMySQL }

// Commands (first byte of a command packet).
const (
	comQuit             = 0x01
	comInitDB           = 0x02
	comQuery            = 0x03
	comFieldList        = 0x04
	comStatistics       = 0x09
	comProcessKill      = 0x0c
	comDebug            = 0x0d
	comPing             = 0x0e
	comChangeUser       = 0x11
	comStmtPrepare      = 0x16
	comStmtExecute      = 0x17
	comStmtSendLongData = 0x18
	comStmtClose        = 0x19
	comStmtReset        = 0x1a
	comSetOption        = 0x1b
	comStmtFetch        = 0x1c
	comResetConnection  = 0x1f
)

// Capability and status flags.
const (
	capSSL             = 0x00000800
	capDeprecateEOF    = 0x01000000
	capQueryAttributes = 0x08000000

	statusCursorExists = 0x0040
	statusMoreResults  = 0x0008
	statusNoBackslash  = 0x0200 // sql_mode NO_BACKSLASH_ESCAPES
)

// respKind is what a command's response looks like.
type respKind uint8

const (
	respNone    respKind = iota // no response (QUIT, STMT_CLOSE, SEND_LONG_DATA)
	respSingle                  // one packet: OK, ERR or EOF
	respAny                     // one packet of any kind (STATISTICS)
	respResult                  // OK, ERR, LOCAL INFILE, or result sets
	respPrepare                 // STMT_PREPARE_OK and definitions, or ERR
	respRows                    // rows up to EOF (STMT_FETCH)
	respDefs                    // column definitions up to EOF (FIELD_LIST)
	respAuth                    // CHANGE_USER: an authentication exchange
)

var commands = map[byte]struct {
	name string
	resp respKind
}{
	comQuit:             {"QUIT", respNone},
	comInitDB:           {"INIT_DB", respSingle},
	comQuery:            {"QUERY", respResult},
	comFieldList:        {"FIELD_LIST", respDefs},
	comStatistics:       {"STATISTICS", respAny},
	comProcessKill:      {"PROCESS_KILL", respSingle},
	comDebug:            {"DEBUG", respSingle},
	comPing:             {"PING", respSingle},
	comChangeUser:       {"CHANGE_USER", respAuth},
	comStmtPrepare:      {"STMT_PREPARE", respPrepare},
	comStmtExecute:      {"STMT_EXECUTE", respResult},
	comStmtSendLongData: {"STMT_SEND_LONG_DATA", respNone},
	comStmtClose:        {"STMT_CLOSE", respNone},
	comStmtReset:        {"STMT_RESET", respSingle},
	comSetOption:        {"SET_OPTION", respSingle},
	comStmtFetch:        {"STMT_FETCH", respRows},
	comResetConnection:  {"RESET_CONNECTION", respSingle},
}

func le24(b []byte) int { return int(b[0]) | int(b[1])<<8 | int(b[2])<<16 }

// Infer recognises the server's greeting (protocol 10 and a version
// string), which opens every connection, or, on a connection seen
// mid-stream, a whole COM_QUERY or COM_STMT_PREPARE packet.
func (Protocol) Infer(b []byte, dir conn.Dir, transport uint8) conn.Inference {
	if transport == conn.TransportUDP || len(b) == 0 {
		return conn.Inference{}
	}
	if len(b) < 5 {
		if len(b) == 4 && b[3] > 1 || len(b) >= 3 && b[2] != 0 {
			return conn.Inference{}
		}
		return conn.Inference{Conf: conn.NeedMore}
	}
	n := le24(b)
	switch {
	case b[3] == 0 && b[4] == 0x0a && n >= 40 && n < 512:
		// Greeting: the process sending it is the server.
		if c := greeting(b[5:]); c != conn.NoMatch {
			role := conn.RoleClient
			if dir == conn.Egress {
				role = conn.RoleServer
			}
			return conn.Inference{Conf: c, Role: role}
		}
	case b[3] == 0 && (b[4] == comQuery || b[4] == comStmtPrepare) && n >= 2 && n < 1<<24-1:
		if c := statementLike(b[5:min(len(b), 4+n)], len(b) >= 4+n); c != conn.NoMatch {
			role := conn.RoleServer
			if dir == conn.Egress {
				role = conn.RoleClient
			}
			return conn.Inference{Conf: c, Role: role}
		}
	}
	return conn.Inference{}
}

// greeting checks a version string: digits and dots first, printable,
// NUL-terminated.
func greeting(v []byte) conn.Confidence {
	for i, c := range v {
		switch {
		case c == 0:
			if i < 3 {
				return conn.NoMatch
			}
			return conn.High
		case i < 2 && !(c >= '0' && c <= '9' || c == '.'):
			return conn.NoMatch
		case c < 0x20 || c > 0x7e || i > 60:
			return conn.NoMatch
		}
	}
	return conn.NeedMore
}

// statementLike checks that a command's text starts like a statement and has
// no control characters.
func statementLike(q []byte, whole bool) conn.Confidence {
	k := 0
	for k < len(q) && (q[k] == ' ' || q[k] == '\n' || q[k] == '\t' || q[k] == '\r' || q[k] == '(') {
		k++
	}
	if k == len(q) {
		if whole {
			return conn.NoMatch
		}
		return conn.NeedMore
	}
	if c := q[k] | 0x20; !(c >= 'a' && c <= 'z') && q[k] != '/' && q[k] != '-' && q[k] != '#' {
		return conn.NoMatch
	}
	for _, c := range q[k:] {
		if c < 0x20 && c != '\n' && c != '\t' && c != '\r' || c == 0x7f {
			return conn.NoMatch
		}
	}
	if !whole {
		if len(q) < 64 {
			return conn.NeedMore
		}
		return conn.Low
	}
	return conn.High
}

func (Protocol) NewParser(env *conn.Env) conn.Parser { return NewParser(env) }
