package cql

import (
	"encoding/json"
	"strconv"
	"strings"

	"github.com/kubectl-pixie/kubectl-pixie/probes/protocols/internal/fields"
	"github.com/kubectl-pixie/kubectl-pixie/probes/protocols/internal/names"
)

// Opcodes (native_protocol_v4.spec, section 2.4).
const (
	opError        = 0x00
	opStartup      = 0x01
	opReady        = 0x02
	opAuthenticate = 0x03
	opOptions      = 0x05
	opSupported    = 0x06
	opQuery        = 0x07
	opResult       = 0x08
	opPrepare      = 0x09
	opExecute      = 0x0a
	opRegister     = 0x0b
	opEvent        = 0x0c
	opBatch        = 0x0d
	opAuthChall    = 0x0e
	opAuthResponse = 0x0f
	opAuthSuccess  = 0x10
	maxOpcode      = opAuthSuccess
)

var opNames = [...]string{
	opError: "ERROR", opStartup: "STARTUP", opReady: "READY", opAuthenticate: "AUTHENTICATE", 0x04: "",
	opOptions: "OPTIONS", opSupported: "SUPPORTED", opQuery: "QUERY", opResult: "RESULT", opPrepare: "PREPARE",
	opExecute: "EXECUTE", opRegister: "REGISTER", opEvent: "EVENT", opBatch: "BATCH", opAuthChall: "AUTH_CHALLENGE",
	opAuthResponse: "AUTH_RESPONSE", opAuthSuccess: "AUTH_SUCCESS",
}

// requestOp: clients send op; responseOp: servers do.
func requestOp(op int) bool {
	switch op {
	case opStartup, opOptions, opQuery, opPrepare, opExecute, opRegister, opBatch, opAuthResponse:
		return true
	}
	return false
}

func responseOp(op int) bool {
	switch op {
	case opError, opReady, opAuthenticate, opSupported, opResult, opEvent, opAuthChall, opAuthSuccess:
		return true
	}
	return false
}

// errorNames are the error codes' names (section 9), as the drivers
// spell them.
var errorNames = map[int]string{
	0x0000: "ServerError", 0x000a: "ProtocolError", 0x0100: "BadCredentials", 0x1000: "Unavailable",
	0x1001: "Overloaded", 0x1002: "IsBootstrapping", 0x1003: "TruncateError", 0x1100: "WriteTimeout",
	0x1200: "ReadTimeout", 0x1300: "ReadFailure", 0x1400: "FunctionFailure", 0x1500: "WriteFailure",
	0x1600: "CDCWriteFailure", 0x1700: "CASWriteUnknown", 0x2000: "SyntaxError", 0x2100: "Unauthorized",
	0x2200: "Invalid", 0x2300: "ConfigError", 0x2400: "AlreadyExists", 0x2500: "Unprepared",
}

func errorName(code int) string {
	if n, ok := errorNames[code]; ok {
		return n
	}
	return "Error" + strconv.Itoa(code)
}

// rd reads the protocol's notations ([string], [long string], ...).
type rd struct{ fields.Reader }

func (r *rd) str() string { return names.Printable(r.Take(r.U16())) }

// longStrPrefix returns a [long string]'s kept bytes: cut when the keep
// bound or the capture ended it first.
func (r *rd) longStrPrefix() (q []byte, cut bool) {
	n := r.I32()
	if !r.OK || n < 0 {
		r.OK = false
		return nil, false
	}
	if n > len(r.B) {
		q = r.B
		r.B, r.OK = nil, false
		return q, true
	}
	return r.Take(n), false
}

func (r *rd) shortBytes() []byte { return r.Take(r.U16()) }

// stringMap renders a [string map] (STARTUP) or a [string multimap]
// (SUPPORTED) as JSON, at most limit bytes of it.
func (r *rd) stringMap(multi bool, limit int) string {
	m := map[string]any{}
	for n := min(r.U16(), 64); n > 0 && r.OK; n-- {
		k := r.str()
		if multi {
			m[k] = r.stringList()
		} else {
			m[k] = r.str()
		}
	}
	return bounded(m, limit)
}

// mapValue finds key's value in a [string map].
func (r *rd) mapValue(key string) string {
	for n := min(r.U16(), 64); n > 0 && r.OK; n-- {
		k, v := r.str(), r.str()
		if k == key && r.OK {
			return v
		}
	}
	return ""
}

func (r *rd) stringList() []string {
	var l []string
	for n := min(r.U16(), 64); n > 0 && r.OK; n-- {
		l = append(l, r.str())
	}
	return l
}

// bounded renders v as JSON, "" past limit bytes (a cut JSON is none).
func bounded(v any, limit int) string {
	b, err := json.Marshal(v)
	if err != nil || len(b) > limit {
		return ""
	}
	return string(b)
}

// Rows metadata flags (section 4.2.5.2).
const (
	rowsGlobalSpec = 0x0001
	rowsMorePages  = 0x0002
	rowsNoMetadata = 0x0004
	rowsNewMeta    = 0x0008
)

// rows reads a Rows result's metadata and returns its row count and
// whether more pages follow; ok false when the kept bytes end first.
func (r *rd) rows(version int) (count int, more, ok bool) {
	flags := r.I32()
	cols := r.I32()
	if flags&rowsMorePages != 0 {
		r.Skip(r.I32())
	}
	if version >= 5 && flags&rowsNewMeta != 0 {
		r.shortBytes()
	}
	if flags&rowsNoMetadata == 0 {
		if flags&rowsGlobalSpec != 0 {
			r.str()
			r.str()
		}
		for i := 0; i < cols && r.OK; i++ {
			if flags&rowsGlobalSpec == 0 {
				r.str()
				r.str()
			}
			r.str()
			r.option(0)
		}
	}
	count = r.I32()
	return count, flags&rowsMorePages != 0, r.OK && cols >= 0 && count >= 0
}

// option skips a type [option], collections and user types included.
func (r *rd) option(depth int) {
	if depth > 16 {
		r.OK = false
		return
	}
	switch id := r.U16(); id {
	case 0x0000: // custom
		r.str()
	case 0x0020, 0x0022: // list, set
		r.option(depth + 1)
	case 0x0021: // map
		r.option(depth + 1)
		r.option(depth + 1)
	case 0x0030: // user type
		r.str()
		r.str()
		for n := r.U16(); n > 0 && r.OK; n-- {
			r.str()
			r.option(depth + 1)
		}
	case 0x0031: // tuple
		for n := r.U16(); n > 0 && r.OK; n-- {
			r.option(depth + 1)
		}
	}
}

// result describes a RESULT body; prepared is the statement id of a
// Prepared result.
func (r *rd) result(version int) (desc string, prepared []byte) {
	switch kind := r.I32(); kind {
	case 1:
		return "void", nil
	case 2:
		n, more, ok := r.rows(version)
		switch {
		case !ok:
			return "rows", nil
		case more:
			return strconv.Itoa(n) + " rows, more pages", nil
		}
		return strconv.Itoa(n) + " rows", nil
	case 3:
		return "keyspace " + names.Cut(r.str(), 64), nil
	case 4:
		id := r.shortBytes()
		if !r.OK || len(id) == 0 {
			return "prepared", nil
		}
		return "prepared", id
	case 5:
		change, target := r.str(), r.str()
		return strings.TrimSpace("schema_change " + names.Cut(change, 16) + " " + names.Cut(target, 16)), nil
	default:
		return "result " + strconv.Itoa(kind), nil
	}
}
