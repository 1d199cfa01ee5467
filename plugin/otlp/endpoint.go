// Package otlp sends a trace run to an OpenTelemetry backend (--otlp-endpoint):
// every captured request as a span, the per-endpoint summaries as metrics,
// through the official OpenTelemetry Go SDK and OTLP exporters. It sees
// only the records the run received, so it carries no more than the
// data-access mode let the agent keep. Exporting never blocks or fails the
// run: spans wait in a bounded queue, and what could not be sent is counted
// and reported.
package otlp

import (
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
)

// Default ports of OTLP receivers.
const (
	DefaultHTTPPort = 4318
	DefaultGRPCPort = 4317
)

// Endpoint is where to send, from --otlp-endpoint.
type Endpoint struct {
	GRPC bool   // OTLP/gRPC; else OTLP/HTTP with protobuf bodies
	TLS  bool   // https:// or grpcs://
	Host string // host:port
	// Path is the OTLP/HTTP base path ("" or "/otlp"): signals go to
	// Path+"/v1/traces" and Path+"/v1/metrics", as OTEL_EXPORTER_OTLP_ENDPOINT.
	Path string
}

// String is the endpoint as a URL.
func (e Endpoint) String() string {
	scheme := map[[2]bool]string{{false, false}: "http", {false, true}: "https", {true, false}: "grpc", {true, true}: "grpcs"}[[2]bool{e.GRPC, e.TLS}]
	return scheme + "://" + e.Host + e.Path
}

const endpointRemedy = "use http://HOST:4318 (OTLP/HTTP) or grpc://HOST:4317 (OTLP/gRPC), e.g. --otlp-endpoint http://localhost:4318"

// ParseEndpoint checks an --otlp-endpoint value, without I/O: http:// and
// https:// are OTLP/HTTP (default port 4318, an optional base path),
// grpc:// and grpcs:// OTLP/gRPC (default port 4317, no path).
func ParseEndpoint(s string) (Endpoint, error) {
	bad := func(why string) (Endpoint, error) {
		return Endpoint{}, fmt.Errorf("--otlp-endpoint %q %s: %s", s, why, endpointRemedy)
	}
	u, err := url.Parse(s)
	if err != nil {
		return bad("is not a URL")
	}
	if u.Opaque != "" { // "localhost:4318" parses as scheme "localhost"
		return bad("has no scheme")
	}
	var e Endpoint
	switch strings.ToLower(u.Scheme) {
	case "http":
	case "https":
		e.TLS = true
	case "grpc":
		e.GRPC = true
	case "grpcs":
		e.GRPC, e.TLS = true, true
	case "":
		return bad("has no scheme")
	default:
		return bad("has the unknown scheme " + strconv.Quote(u.Scheme))
	}
	if u.Hostname() == "" {
		return bad("names no host")
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return bad("may not carry credentials, a query or a fragment")
	}
	port := u.Port()
	if port == "" {
		port = strconv.Itoa(map[bool]int{false: DefaultHTTPPort, true: DefaultGRPCPort}[e.GRPC])
	} else if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return bad("has a port out of range")
	}
	e.Host = net.JoinHostPort(u.Hostname(), port)
	e.Path = strings.TrimRight(u.EscapedPath(), "/")
	if e.GRPC && e.Path != "" {
		return bad("has a path, which OTLP/gRPC does not take")
	}
	return e, nil
}
