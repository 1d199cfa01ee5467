package http2

import (
	"strconv"
	"strings"
)

// block is one decoded header block (HEADERS plus CONTINUATIONs).
type block struct {
	method, path, authority, scheme string
	status                          string
	contentType                     string
	grpcStatus, grpcMessage         string
	headers                         map[string]string
	bytes                           int  // decoded size (RFC 7541 4.1), for bounds
	mem                             int  // size of what is kept, for bounds
	dropped                         bool // some fields were not kept (bound)
	// unknown counts fields that referred to table entries never seen.
	unknown int
}

// field adds one decoded field. keep: build the header map; limit
// bounds its size. Values are kept as sent: the data-access mode applies
// to the finished record.
func (b *block) field(name, value string, keep bool, limit int) {
	size := len(name) + len(value) + 32
	b.bytes += size
	if len(name) > 0 && name[0] == ':' {
		switch name {
		case ":method":
			b.method = value
		case ":path":
			b.path = value
		case ":status":
			b.status = value
		case ":authority":
			b.authority = value
		case ":scheme":
			b.scheme = value
		default:
			return
		}
		b.mem += size
		if name != ":authority" {
			return
		}
	}
	switch name {
	case "content-type":
		b.contentType = value
	case "grpc-status":
		b.grpcStatus = value
	case "grpc-message":
		b.grpcMessage = value
	}
	if !keep {
		return
	}
	if b.bytes > limit {
		b.dropped = true
		return
	}
	if b.headers == nil {
		b.headers = make(map[string]string, 8)
	}
	b.mem += size
	if old, ok := b.headers[name]; ok {
		// Repeated (cookie crumbs, multi-valued headers): join in order.
		value = old + ", " + value
	}
	b.headers[name] = value
}

// isGRPC reports whether a content type is gRPC's
// ("application/grpc", "application/grpc+proto", ...).
func isGRPC(contentType string) bool {
	const g = "application/grpc"
	return strings.HasPrefix(contentType, g) && (len(contentType) == len(g) || contentType[len(g)] == '+' || contentType[len(g)] == ';')
}

// statusCode parses :status (three digits).
func statusCode(s string) int {
	if len(s) != 3 {
		return 0
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 100 {
		return 0
	}
	return n
}

// grpcNames are the canonical gRPC status code names.
var grpcNames = [...]string{
	"OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED",
	"NOT_FOUND", "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED",
	"FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED",
	"INTERNAL", "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED",
}

// GRPCStatusName names a grpc-status value ("14" -> "UNAVAILABLE");
// unknown codes read "grpc 42", a missing one "" (the call ended without
// a status: reset, or the trailers were lost).
func GRPCStatusName(code string) string {
	if code == "" {
		return ""
	}
	n, err := strconv.Atoi(code)
	if err == nil && n >= 0 && n < len(grpcNames) {
		return grpcNames[n]
	}
	if len(code) > 8 {
		code = code[:8]
	}
	return "grpc " + code
}
