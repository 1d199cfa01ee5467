package api

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/kubectl-pixie/kubectl-pixie/probes/api/stats"
	"github.com/kubectl-pixie/kubectl-pixie/probes/api/vocab"
)

// TraceFilter narrows a trace to the requests the user asks for. The agent
// applies it to every request before aggregating or emitting it, so the
// per-request records and the summaries agree, and a dropped request costs
// no aggregation, encoding or transfer. A nil filter keeps everything.
type TraceFilter struct {
	// Protocols are names from FilterProtocols; none: all.
	Protocols []string `json:"protocols,omitempty"`
	// Status: "1xx".."5xx", "error" (what ERR% counts), an HTTP code
	// ("404") or another protocol's status class ("NXDOMAIN", "23505",
	// "NOT_FOUND"); none: all.
	Status       []string `json:"status,omitempty"`
	MinLatencyNs int64    `json:"min_latency_ns,omitempty"`
	// Endpoint is a regular expression on the endpoint text of the
	// request's row (EndpointText, HTTP paths templated: "GET /users/{id}").
	Endpoint string `json:"endpoint,omitempty"`

	re *regexp.Regexp
}

// FilterProtocols are the protocol names --protocol accepts: "http" is
// HTTP/1.x and HTTP/2 without gRPC (an empty Key.Protocol).
var FilterProtocols = []string{"http", vocab.ProtocolGRPC, vocab.ProtocolRedis, vocab.ProtocolDNS,
	vocab.ProtocolPgSQL, vocab.ProtocolMySQL, vocab.ProtocolAMQP, vocab.ProtocolKafka, vocab.ProtocolNATS, vocab.ProtocolCQL}

// FilterStatusClasses are the status words --status completes.
var FilterStatusClasses = []string{"error", "5xx", "4xx", "3xx", "2xx", "1xx"}

// ProtocolName is the --protocol name of a Key.Protocol.
func ProtocolName(protocol string) string {
	if protocol == "" {
		return "http"
	}
	return protocol
}

// EndpointText is what --endpoint matches: "METHOD /path" for HTTP,
// "protocol METHOD name" for the others ("redis GET", "dns A example.test").
func EndpointText(protocol, method, path string) string {
	s := method
	if protocol != "" {
		s = protocol + " " + method
	}
	if path != "" {
		s += " " + path
	}
	return s
}

// Compile checks the filter and prepares it for Keep. The errors name the
// value at fault; callers add the flag and the remedy.
func (f *TraceFilter) Compile() error {
	if f == nil {
		return nil
	}
	for _, p := range f.Protocols {
		if !slices.Contains(FilterProtocols, p) {
			return fmt.Errorf("protocol %q is unknown: use %s", p, strings.Join(FilterProtocols, ", "))
		}
	}
	for _, s := range f.Status {
		if !validStatus(s) {
			return fmt.Errorf("status %q is not a status: use 5xx, 4xx, error, an HTTP code such as 404, or a status class the table shows such as NXDOMAIN", s)
		}
	}
	if f.MinLatencyNs < 0 {
		return fmt.Errorf("minimum latency %dns is negative", f.MinLatencyNs)
	}
	if f.Endpoint != "" {
		re, err := regexp.Compile(f.Endpoint)
		if err != nil {
			return fmt.Errorf("endpoint %q is not a regular expression: %w", f.Endpoint, err)
		}
		f.re = re
	}
	return nil
}

// validStatus accepts a class word, a code or a class name of letters,
// digits and underscores (bounded like the classes the agent keeps).
func validStatus(s string) bool {
	if s == "" || len(s) > 32 {
		return false
	}
	for _, r := range s {
		if !(r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_') {
			return false
		}
	}
	return true
}

// Keep tells whether a request passes the filter (Compile first).
func (f *TraceFilter) Keep(o *stats.Observation) bool {
	if f == nil {
		return true
	}
	if len(f.Protocols) > 0 && !slices.Contains(f.Protocols, ProtocolName(o.Protocol)) {
		return false
	}
	if o.LatencyNs < f.MinLatencyNs {
		return false
	}
	if len(f.Status) > 0 && !f.keepStatus(o) {
		return false
	}
	return f.re == nil || f.re.MatchString(ObservedEndpoint(o))
}

// ObservedEndpoint is the endpoint text of the row o lands in: HTTP paths
// are templated as the aggregator does ("/users/{id}").
func ObservedEndpoint(o *stats.Observation) string {
	path := o.Path
	if o.Protocol == "" {
		path = stats.Template(path)
	}
	return EndpointText(o.Protocol, o.Method, path)
}

func (f *TraceFilter) keepStatus(o *stats.Observation) bool {
	class := o.Class
	if o.Protocol == "" {
		class = stats.StatusClass(o.Status)
	}
	for _, s := range f.Status {
		switch {
		case strings.EqualFold(s, "error"):
			if stats.ClassIsError(o.Protocol, class) {
				return true
			}
		case o.Protocol == "" && o.Status != 0 && s == strconv.Itoa(o.Status):
			return true
		case strings.EqualFold(s, class):
			return true
		}
	}
	return false
}
