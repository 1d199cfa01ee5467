// Package redact applies a data-access mode (api.DataAccess) to records
// before they leave the parser: what a mode does not keep never reaches
// the agent's output.
package redact

import (
	"bytes"
	"strings"

	"github.com/kubectl-pixie/kubectl-pixie/probes/api"
	"github.com/kubectl-pixie/kubectl-pixie/probes/api/stats"
	"github.com/kubectl-pixie/kubectl-pixie/probes/api/vocab"
)

// keptHeaders are the header names whose values restricted access keeps:
// they describe the message, not its owner. Everything else (cookies,
// tokens, custom headers, Location with its query) becomes a marker.
var keptHeaders = map[string]bool{
	"content-type": true, "content-length": true, "content-encoding": true,
	"transfer-encoding": true, "host": true, ":authority": true, ":scheme": true,
	"user-agent": true, "cache-control": true, "connection": true, "te": true,
	"date": true, "server": true, "vary": true,
	"grpc-status": true, "grpc-encoding": true, "grpc-accept-encoding": true, "grpc-timeout": true,
}

// keptHeader reports whether restricted access keeps a header's value
// (Accept, Accept-Encoding, ... included).
func keptHeader(name string) bool {
	// Lower-cased on the stack: a map index by string(bytes) does not
	// allocate, and this runs for every header of every -o json record.
	var buf [32]byte
	if len(name) > len(buf) {
		n := strings.ToLower(name)
		return keptHeaders[n] || strings.HasPrefix(n, "accept")
	}
	low := buf[:len(name)]
	for i := range len(name) {
		c := name[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		low[i] = c
	}
	return keptHeaders[string(low)] || bytes.HasPrefix(low, []byte("accept"))
}

// HTTP applies mode a to an HTTP/1.x or HTTP/2 (gRPC) record.
func HTTP(ev *api.HTTPEvent, a api.DataAccess) {
	if a == api.DataAccessFull {
		return
	}
	if ev.Protocol != vocab.ProtocolGRPC {
		// gRPC's path is its method, fixed by the service definition.
		ev.ReqPath = Path(ev.ReqPath, a)
	}
	HTTPPathDone(ev, a, markers{})
}

// Marker makes the marker of a value of n bytes, like Value (a parser
// may remember the last ones of its connection instead of allocating).
type Marker interface{ Value(n int64) string }

type markers struct{}

func (markers) Value(n int64) string { return Value(n) }

// HTTPPathDone is HTTP for a record whose ReqPath is already Path's
// result (a parser that remembers it per connection); mark makes the
// body markers.
func HTTPPathDone(ev *api.HTTPEvent, a api.DataAccess, mark Marker) {
	if a == api.DataAccessFull {
		return
	}
	grpc := ev.Protocol == vocab.ProtocolGRPC
	if a == api.DataAccessNone {
		ev.ReqHeaders, ev.RespHeaders = nil, nil
		ev.ReqBody, ev.RespBody, ev.RespMessage = "", "", ""
		return
	}
	headers(ev.ReqHeaders)
	headers(ev.RespHeaders)
	ev.ReqBody = mark.Value(ev.ReqBodySize)
	ev.RespBody = mark.Value(ev.RespBodySize)
	if grpc {
		ev.RespMessage = Value(int64(len(ev.RespMessage))) // grpc-message
	}
}

func headers(h map[string]string) {
	for k, v := range h {
		if !keptHeader(k) {
			h[k] = Value(int64(len(v)))
		}
	}
}

// Value is the marker of an n-byte value ("" for an empty one, which
// hides nothing).
func Value(n int64) string {
	if n <= 0 {
		return ""
	}
	return api.Redacted(n)
}

// Path is a request target as mode a keeps it: restricted keeps the path
// template and the query's parameter names with their values replaced by
// markers; none keeps the template alone.
func Path(target string, a api.DataAccess) string {
	if a == api.DataAccessFull {
		return target
	}
	tmpl := stats.Template(target)
	q := ""
	if i := strings.IndexByte(target, '?'); i >= 0 {
		q = target[i+1:]
		if j := strings.IndexByte(q, '#'); j >= 0 {
			q = q[:j]
		}
	}
	if a == api.DataAccessNone || q == "" {
		return tmpl
	}
	return tmpl + "?" + Query(q)
}

// Bounds on a rendered query: a longer parameter name is a value, and
// parameters past maxParams are cut.
const (
	maxParamName = 64
	maxParams    = 32
)

// Query replaces the values of a query string by markers. A parameter
// name stays when it looks like a name (short, [A-Za-z0-9_.-[]]); a
// parameter without "=" is all value.
func Query(q string) string {
	var b strings.Builder
	for i, p := range strings.Split(q, "&") {
		if i > 0 {
			b.WriteByte('&')
		}
		if i == maxParams {
			b.WriteString("…")
			break
		}
		name, value, ok := strings.Cut(p, "=")
		if !ok || !paramName(name) {
			b.WriteString(Value(int64(len(p))))
			continue
		}
		b.WriteString(name)
		b.WriteByte('=')
		b.WriteString(Value(int64(len(value))))
	}
	return b.String()
}

func paramName(s string) bool {
	if s == "" || len(s) > maxParamName {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("_.-[]", c) >= 0) {
			return false
		}
	}
	return true
}
