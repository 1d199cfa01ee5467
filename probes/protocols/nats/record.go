package nats

import (
	"bytes"
	"encoding/json"
	"strconv"
	"unicode/utf8"

	"github.com/kubectl-pixie/kubectl-pixie/probes/api"
	"github.com/kubectl-pixie/kubectl-pixie/probes/protocols/internal/names"
)

// Options of CONNECT and INFO a record keeps: none is a credential
// (user, pass, auth_token, jwt, nkey, sig are never read) nor a nonce.
var (
	connectKeys = []string{"verbose", "pedantic", "tls_required", "name", "lang", "version", "protocol", "echo", "headers", "no_responders"}
	infoKeys    = []string{"server_name", "version", "proto", "headers", "max_payload", "auth_required", "tls_required"}
)

// event is the record of op o.
func (p *Parser) event(o *op, payload []byte, cut bool) *api.NATSEvent {
	ev := &api.NATSEvent{
		Header:          api.Header{Table: api.TableNATSEvents, V: api.Version},
		Cmd:             o.cmd,
		Subject:         o.subject,
		SubjectTemplate: subjectTemplate(o.subject),
		ReqBytes:        o.wireBytes(),
	}
	if o.cmd == "-ERR" {
		ev.Error = errorText(o.args)
	}
	if p.bodies() {
		ev.Body = p.options(o, payload, cut, false)
	}
	return ev
}

// options renders o as JSON: the fields of its line and its payload
// (redacted unless full data is asked for), or CONNECT's and INFO's
// allowed options.
func (p *Parser) options(o *op, payload []byte, cut, withCmd bool) string {
	switch o.cmd {
	case "CONNECT":
		return allowed(o.args, connectKeys)
	case "INFO":
		return allowed(o.args, infoKeys)
	case "-ERR":
		return jsonString(errorText(o.args))
	case "PING", "PONG", "+OK":
		return ""
	}
	b := []byte{'{'}
	field := func(k, v string) {
		if len(b) > 1 {
			b = append(b, ',')
		}
		b = append(append(append(b, '"'), k...), `":`...)
		b = append(b, v...)
	}
	if withCmd {
		field("cmd", jsonString(o.cmd))
	}
	for _, kv := range [...][2]string{{"subject", o.subject}, {"reply_to", o.reply}, {"queue", o.queue}, {"sid", o.sid}} {
		if kv[1] != "" {
			field(kv[0], jsonString(kv[1]))
		}
	}
	if o.maxMsgs > 0 {
		field("max_msgs", strconv.Itoa(o.maxMsgs))
	}
	if o.hasPayload() {
		field("bytes", strconv.Itoa(o.size))
		if o.hdrLen > 0 {
			field("header_bytes", strconv.Itoa(o.hdrLen))
		}
		field("payload", jsonString(p.payloadText(o, payload, cut)))
	}
	return string(append(b, '}'))
}

// payloadText is the payload after the headers (never kept: they may
// carry tokens), bounded by the body limit, or its redaction marker.
func (p *Parser) payloadText(o *op, payload []byte, cut bool) string {
	n := o.size - o.hdrLen
	if p.env.Mode() != api.DataAccessFull || p.env.BodyLimit <= 0 {
		return api.Redacted(int64(n))
	}
	body := payload[min(o.hdrLen, len(payload)):]
	s := names.Printable(body[:min(len(body), p.env.BodyLimit)])
	if cut || len(body) > p.env.BodyLimit {
		s = names.Cut(s, p.env.BodyLimit) + "…"
	}
	return s
}

// status is an HMSG's status as an error ("503 No Responders"), when
// its headers start with one of 400 or above.
func status(o *op, payload []byte) string {
	if o.hdrLen == 0 {
		return ""
	}
	h := payload[:min(o.hdrLen, len(payload))]
	line, _, _ := bytes.Cut(h, []byte("\r\n"))
	rest, ok := bytes.CutPrefix(line, []byte("NATS/1.0 "))
	if !ok || len(rest) < 3 {
		return ""
	}
	code, err := strconv.Atoi(string(rest[:3]))
	if err != nil || code < 400 {
		return ""
	}
	return names.Cut(names.Printable(bytes.TrimSpace(rest)), 64)
}

// errorText is a -ERR's text without its quotes, bounded.
func errorText(args []byte) string {
	s := bytes.Trim(bytes.TrimSpace(args), "'")
	return names.Cut(names.Printable(s), 256)
}

// connectVerbose reads CONNECT's verbose option: the server then acks
// every op of the client with +OK or -ERR.
func connectVerbose(args []byte) bool {
	var o struct {
		Verbose bool `json:"verbose"`
	}
	return json.Unmarshal(args, &o) == nil && o.Verbose
}

// allowed re-renders a JSON object with only keys, in their order; "{}"
// when it is not one (cut by the line bound, say).
func allowed(obj []byte, keys []string) string {
	var m map[string]json.RawMessage
	if json.Unmarshal(obj, &m) != nil {
		return "{}"
	}
	b := []byte{'{'}
	for _, k := range keys {
		var c bytes.Buffer
		if v, ok := m[k]; !ok || json.Compact(&c, v) != nil || c.Len() > maxSubject {
			continue // a value this long is no option worth a column
		}
		if len(b) > 1 {
			b = append(b, ',')
		}
		b = append(append(append(b, '"'), k...), `":`...)
		b = append(b, c.Bytes()...)
	}
	return string(append(b, '}'))
}

// jsonString quotes s for JSON (invalid UTF-8 becomes U+FFFD).
func jsonString(s string) string {
	b := make([]byte, 0, len(s)+2)
	b = append(b, '"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b = append(b, '\\', byte(r))
		case r < 0x20:
			b = append(b, `\u00`...)
			b = append(b, "0123456789abcdef"[r>>4], "0123456789abcdef"[r&15])
		default:
			b = utf8.AppendRune(b, r)
		}
	}
	return string(append(b, '"'))
}
