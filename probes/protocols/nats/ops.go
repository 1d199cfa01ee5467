package nats

import (
	"bytes"
	"strconv"
	"strings"

	"github.com/kubectl-pixie/kubectl-pixie/probes/protocols/internal/names"
)

const (
	// maxPayload bounds a message's payload: the server's max_payload
	// cannot exceed 64 MiB.
	maxPayload = 64 << 20
	// maxSubject bounds the subjects kept in a record.
	maxSubject = 256
)

// op is one parsed control line, with its payload once read.
type op struct {
	cmd     string // upper-cased: "PUB", "HMSG", "+OK", ...
	subject string
	reply   string
	sid     string
	queue   string
	maxMsgs int    // UNSUB's, 0 when absent
	hdrLen  int    // HPUB/HMSG header bytes, part of size
	size    int    // payload bytes (headers included), -1 when it has none
	args    []byte // the rest of the line: INFO's and CONNECT's JSON, -ERR's text
	line    int    // control line bytes, CRLF included
}

// hasPayload: the op is followed by size bytes and a CRLF.
func (o *op) hasPayload() bool { return o.size >= 0 }

// wireBytes is the op's size on the wire.
func (o *op) wireBytes() int64 {
	if o.hasPayload() {
		return int64(o.line + o.size + 2)
	}
	return int64(o.line)
}

// opNames are the protocol's operations (clients' and servers').
var opNames = [...]string{"PUB", "HPUB", "SUB", "UNSUB", "CONNECT", "PING", "PONG", "INFO", "MSG", "HMSG", "+OK", "-ERR"}

// opName returns the upper-cased name of the op that b starts with, when
// it is followed by a separator or the end of the line ("" otherwise);
// operation names are case-insensitive on the wire.
func opName(b []byte) string {
	for _, n := range opNames {
		if len(b) < len(n) || !bytes.EqualFold(b[:len(n)], []byte(n)) {
			continue
		}
		if len(b) == len(n) || b[len(n)] == ' ' || b[len(n)] == '\t' || b[len(n)] == '\r' || b[len(n)] == '\n' {
			return n
		}
	}
	return ""
}

// parseLine reads a control line (without its CRLF); ok false: not a
// valid line of this protocol.
func parseLine(l []byte) (o op, ok bool) {
	o.cmd = opName(l)
	if o.cmd == "" {
		return o, false
	}
	o.size = -1
	rest := bytes.TrimLeft(l[len(o.cmd):], " \t")
	switch o.cmd {
	case "INFO", "CONNECT", "-ERR":
		o.args = rest
		return o, true
	case "PING", "PONG", "+OK":
		return o, len(bytes.TrimSpace(rest)) == 0
	}
	f := bytes.Fields(rest)
	switch o.cmd {
	case "PUB": // subject [reply] size
		return o, o.message(f, 0, 1)
	case "HPUB": // subject [reply] hdr_size size
		return o, o.message(f, 0, 2)
	case "MSG": // subject sid [reply] size
		return o, o.message(f, 1, 1)
	case "HMSG": // subject sid [reply] hdr_size size
		return o, o.message(f, 1, 2)
	case "SUB": // subject [queue] sid
		if len(f) < 2 || len(f) > 3 {
			return o, false
		}
		o.subject, o.sid = token(f[0]), token(f[len(f)-1])
		if len(f) == 3 {
			o.queue = token(f[1])
		}
		return o, true
	case "UNSUB": // sid [max_msgs]
		if len(f) < 1 || len(f) > 2 {
			return o, false
		}
		o.sid = token(f[0])
		if len(f) == 2 {
			n, err := strconv.Atoi(string(f[1]))
			if err != nil || n < 0 {
				return o, false
			}
			o.maxMsgs = n
		}
		return o, true
	}
	return o, false
}

// message reads the fields of PUB, HPUB, MSG and HMSG: the subject, sids
// (0 or 1) sids, an optional reply subject and sizes (1, or 2 with a
// header size first).
func (o *op) message(f [][]byte, sids, sizes int) bool {
	fixed := 1 + sids + sizes
	if len(f) < fixed || len(f) > fixed+1 {
		return false
	}
	o.subject = token(f[0])
	if sids == 1 {
		o.sid = token(f[1])
	}
	if len(f) == fixed+1 {
		o.reply = token(f[1+sids])
	}
	n := f[len(f)-sizes:]
	var err error
	if o.size, err = strconv.Atoi(string(n[len(n)-1])); err != nil || o.size < 0 || o.size > maxPayload {
		return false
	}
	if sizes == 2 {
		if o.hdrLen, err = strconv.Atoi(string(n[0])); err != nil || o.hdrLen < 0 || o.hdrLen > o.size {
			return false
		}
	}
	return true
}

// token is a subject, sid or queue made safe and bounded.
func token(b []byte) string {
	b = b[:min(len(b), maxSubject)]
	for _, c := range b {
		if c < 0x20 || c >= 0x7f {
			return names.Cut(names.Printable(b), maxSubject)
		}
	}
	return string(b) // the usual case: printable ASCII, one copy
}

// subjectTemplate folds the parts of a subject that vary per entity: an
// inbox ("_INBOX.<id>.<n>", the reply subjects of request-reply) becomes
// "_INBOX.*", and a token holding digits or as long as a generated id
// becomes "*" ("orders.42.created" is "orders.*.created").
func subjectTemplate(s string) string {
	if strings.HasPrefix(s, "_INBOX.") {
		return "_INBOX.*"
	}
	if !strings.ContainsAny(s, "0123456789") && len(s) < 20 {
		return s // no token to fold
	}
	toks := strings.Split(s, ".")
	for i, t := range toks {
		if len(t) >= 20 || strings.ContainsAny(t, "0123456789") {
			toks[i] = "*"
		}
	}
	return strings.Join(toks, ".")
}

// errorClass is the kind of a -ERR text, without the subject or value it
// names: "'Permissions Violation for Publish to \"x\"'" is "Permissions
// Violation".
func errorClass(text string) string {
	s := strings.Trim(strings.TrimSpace(text), "'")
	if i := strings.Index(s, " for "); i > 0 {
		s = s[:i]
	}
	if i := strings.IndexAny(s, "\"':"); i > 0 {
		s = s[:i]
	}
	return names.Cut(strings.TrimSpace(s), 64)
}
