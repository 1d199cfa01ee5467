package stats

import (
	"cmp"
	"slices"
	"strconv"

	"github.com/kubectl-pixie/kubectl-pixie/probes/api/vocab"
)

// StatusErr is the status class of a request that got no response.
const StatusErr = "err"

// Overflow is the Service and Path of the key that absorbs observations
// once an aggregator holds its maximum number of keys.
const Overflow = "{other}"

// MethodOther replaces request methods that are not an HTTP token of at
// most 16 upper-case letters.
const MethodOther = "OTHER"

// Bounds on strings that become key parts.
const (
	maxServiceLen = 253
	maxPeerLen    = 253
)

// StatusClass maps an HTTP status to "1xx".."5xx", or StatusErr for no
// response (0) or an invalid status.
func StatusClass(status int) string {
	if status < 100 || status > 599 {
		return StatusErr
	}
	return strconv.Itoa(status/100) + "xx"
}

// IsError: 5xx and no response count as errors; 4xx are the client's.
func IsError(class string) bool { return class == "5xx" || class == StatusErr }

// ClassIsError tells whether a status class of protocol's rows counts as
// an error. HTTP rows (empty Key.Protocol, as agents before the other
// protocols did) as IsError; DNS response codes other than "NOERROR"; AMQP
// reply codes from 300 (a close's or a basic.return's). Every other
// protocol's rows carry "OK" or the error's name or code (a grpc-status
// name, a Redis error prefix, a SQLSTATE, a MySQL or Kafka error), or
// StatusErr for no response.
func ClassIsError(protocol, class string) bool {
	switch protocol {
	case "":
		return IsError(class)
	case vocab.ProtocolDNS:
		return class != "NOERROR"
	case vocab.ProtocolAMQP:
		n, err := strconv.Atoi(class)
		return class == StatusErr || err == nil && n >= 300
	}
	return class != "OK"
}

// Key identifies one aggregated endpoint.
type Key struct {
	Service string `json:"service"`
	Role    string `json:"trace_role"`
	Method  string `json:"req_method"`
	Path    string `json:"req_path"` // template (see Template)
	Peer    string `json:"peer,omitempty"`
	// PeerDNS is the name a traced DNS answer gave Peer's address, for the
	// plugin to show when the cluster does not name it.
	PeerDNS     string `json:"peer_dns,omitempty"`
	StatusClass string `json:"status_class"`
	// Protocol is empty for HTTP, else "redis", "dns": for those, Method
	// is the command or query type, Path the query name or empty, and
	// StatusClass the reply's class (see ClassIsError).
	Protocol string `json:"protocol,omitempty"`
	// Node is set by the plugin when rows are kept per node (--group-by
	// node); agents leave it empty.
	Node string `json:"node,omitempty"`
}

// Endpoint is the aggregate of one Key over an interval or a window.
type Endpoint struct {
	Key
	Count     uint64  `json:"count"`
	Errors    uint64  `json:"errors"` // 5xx and no response
	ReqBytes  uint64  `json:"req_bytes"`
	RespBytes uint64  `json:"resp_bytes"`
	Latency   *Sketch `json:"latency"` // ns
	FirstNs   int64   `json:"first_ns"`
	LastNs    int64   `json:"last_ns"`
	// Folded: Path is CatchAllPath because the service spent its template
	// budget, or the whole key is the Overflow key.
	Folded bool `json:"folded,omitempty"`
}

// ErrorRate is Errors/Count as a fraction (0 when empty).
func (e *Endpoint) ErrorRate() float64 {
	if e.Count == 0 {
		return 0
	}
	return float64(e.Errors) / float64(e.Count)
}

func (e *Endpoint) merge(o *Endpoint) {
	if e.Count == 0 || (o.FirstNs != 0 && o.FirstNs < e.FirstNs) {
		e.FirstNs = o.FirstNs
	}
	e.LastNs = max(e.LastNs, o.LastNs)
	e.Count += o.Count
	e.Errors += o.Errors
	e.ReqBytes += o.ReqBytes
	e.RespBytes += o.RespBytes
	e.Folded = e.Folded || o.Folded
	if o.Latency != nil {
		e.Latency.Merge(o.Latency)
	}
}

// Observation is one request/response as the agent saw it.
// A recording carries it with each request (api.Header.Obs), hence the
// JSON names.
type Observation struct {
	Service   string `json:"service"` // workload, pod or comm
	Role      string `json:"role"`    // vocab.RoleClient or vocab.RoleServer
	Method    string `json:"method"`
	Path      string `json:"path"`               // raw request target; templated by Add
	Peer      string `json:"peer,omitempty"`     // the other side: a service name or addr:port
	PeerDNS   string `json:"peer_dns,omitempty"` // the name DNS gave Peer's address (Key.PeerDNS)
	Status    int    `json:"status"`             // 0: no response
	LatencyNs int64  `json:"latency"`
	ReqBytes  int64  `json:"req_bytes"`
	RespBytes int64  `json:"resp_bytes"`
	TimeNs    int64  `json:"time_"` // request start, ns since the Unix epoch
	// Protocol is empty for HTTP. Other protocols give their status as
	// Class (bounded, few values) instead of Status, and Method and Path
	// are kept as they are (bounded), not normalised or templated.
	Protocol string `json:"protocol,omitempty"`
	Class    string `json:"class,omitempty"`
}

// Config bounds an Aggregator. Zero fields take defaults.
type Config struct {
	MaxKeys             int // default DefaultMaxKeys
	TemplatesPerService int // default DefaultTemplatesPerService
	MaxServices         int // default DefaultMaxServices
}

// DefaultMaxKeys bounds the endpoints an aggregator holds. With sketches
// of typically < 100 buckets that is a few MiB at most.
const DefaultMaxKeys = 2000

// Aggregator folds observations into endpoints in memory that depends on
// its Config, never on how long it runs or how many requests it sees. The
// agent Adds and Drains a delta every interval; the plugin Merges deltas
// from all nodes and reads Rows. Not safe for concurrent use.
type Aggregator struct {
	maxKeys int
	limiter *Limiter
	eps     map[Key]*Endpoint
}

// NewAggregator returns an empty aggregator.
func NewAggregator(cfg Config) *Aggregator {
	if cfg.MaxKeys <= 0 {
		cfg.MaxKeys = DefaultMaxKeys
	}
	return &Aggregator{
		maxKeys: cfg.MaxKeys,
		limiter: NewLimiter(cfg.TemplatesPerService, cfg.MaxServices),
		eps:     make(map[Key]*Endpoint),
	}
}

// Bounds on the key parts of other protocols.
const (
	maxOtherMethodLen = 80
	maxOtherPathLen   = 253
	maxClassLen       = 32 // "FAILED_PRECONDITION", Kafka's "UNKNOWN_TOPIC_OR_PARTITION"
)

// Add folds one observation in, templating its path.
func (a *Aggregator) Add(o Observation) {
	if o.Protocol != "" {
		a.addOther(o)
		return
	}
	service := truncate(o.Service, maxServiceLen)
	path, folded := a.limiter.Template(service, o.Path)
	class := StatusClass(o.Status)
	k := Key{
		Service:     service,
		Role:        o.Role,
		Method:      normalizeMethod(o.Method),
		Path:        path,
		Peer:        truncate(o.Peer, maxPeerLen),
		PeerDNS:     truncate(o.PeerDNS, maxPeerLen),
		StatusClass: class,
	}
	if k.Role != vocab.RoleClient && k.Role != vocab.RoleServer {
		k.Role = ""
	}
	e := a.slot(k, folded)
	if e.Count == 0 || o.TimeNs < e.FirstNs {
		e.FirstNs = o.TimeNs
	}
	e.LastNs = max(e.LastNs, o.TimeNs)
	e.Count++
	if IsError(class) {
		e.Errors++
	}
	e.ReqBytes += uint64(max(o.ReqBytes, 0))
	e.RespBytes += uint64(max(o.RespBytes, 0))
	e.Latency.Add(float64(o.LatencyNs))
}

func (a *Aggregator) addOther(o Observation) {
	k := Key{
		Protocol:    truncate(o.Protocol, maxClassLen),
		Service:     truncate(o.Service, maxServiceLen),
		Role:        o.Role,
		Method:      truncate(o.Method, maxOtherMethodLen),
		Path:        truncate(o.Path, maxOtherPathLen),
		Peer:        truncate(o.Peer, maxPeerLen),
		PeerDNS:     truncate(o.PeerDNS, maxPeerLen),
		StatusClass: truncate(o.Class, maxClassLen),
	}
	if k.StatusClass == "" {
		k.StatusClass = StatusErr
	}
	if k.Role != vocab.RoleClient && k.Role != vocab.RoleServer {
		k.Role = ""
	}
	e := a.slot(k, false)
	if e.Count == 0 || o.TimeNs < e.FirstNs {
		e.FirstNs = o.TimeNs
	}
	e.LastNs = max(e.LastNs, o.TimeNs)
	e.Count++
	if ClassIsError(k.Protocol, k.StatusClass) {
		e.Errors++
	}
	e.ReqBytes += uint64(max(o.ReqBytes, 0))
	e.RespBytes += uint64(max(o.RespBytes, 0))
	e.Latency.Add(float64(o.LatencyNs))
}

// slot finds or creates k's endpoint, or the overflow endpoint when full.
func (a *Aggregator) slot(k Key, folded bool) *Endpoint {
	if e, ok := a.eps[k]; ok {
		return e
	}
	if len(a.eps) >= a.maxKeys {
		// One overflow key per status class keeps error counts right.
		k = Key{Service: Overflow, Path: Overflow, StatusClass: k.StatusClass}
		folded = true
		if e, ok := a.eps[k]; ok {
			return e
		}
	}
	e := &Endpoint{Key: k, Latency: NewSketch(), Folded: folded}
	a.eps[k] = e
	return e
}

func normalizeMethod(m string) string {
	if m == "" || len(m) > 16 {
		return MethodOther
	}
	for i := 0; i < len(m); i++ {
		if m[i] < 'A' || m[i] > 'Z' {
			return MethodOther
		}
	}
	return m
}

// Merge folds endpoints (deltas from nodes) in. Their keys are trusted as
// already templated; the key bound still applies.
func (a *Aggregator) Merge(eps []Endpoint) {
	for i := range eps {
		o := &eps[i]
		if o.Count == 0 {
			continue
		}
		e := a.slot(o.Key, o.Folded)
		e.merge(o)
	}
}

// Drain returns the endpoints accumulated since the last Drain, sorted as
// Rows, and starts a new interval. The template budget is kept across
// intervals, so a service's folded paths stay folded.
func (a *Aggregator) Drain() []Endpoint {
	rows := a.rows(false)
	clear(a.eps)
	return rows
}

// Rows returns a copy of the endpoints, most requests first (ties by key).
func (a *Aggregator) Rows() []Endpoint { return a.rows(true) }

func (a *Aggregator) rows(copySketch bool) []Endpoint {
	rows := make([]Endpoint, 0, len(a.eps))
	for _, e := range a.eps {
		r := *e
		if copySketch {
			r.Latency = e.Latency.Clone()
		}
		rows = append(rows, r)
	}
	SortRows(rows)
	return rows
}

// Len is the number of keys held.
func (a *Aggregator) Len() int { return len(a.eps) }

// SortRows sorts by Count descending, then by key, so output is stable.
func SortRows(rows []Endpoint) {
	slices.SortFunc(rows, func(x, y Endpoint) int {
		return cmp.Or(
			cmp.Compare(y.Count, x.Count),
			cmp.Compare(x.Service, y.Service),
			cmp.Compare(x.Role, y.Role),
			cmp.Compare(x.Peer, y.Peer),
			cmp.Compare(x.PeerDNS, y.PeerDNS),
			cmp.Compare(x.Path, y.Path),
			cmp.Compare(x.Method, y.Method),
			cmp.Compare(x.StatusClass, y.StatusClass),
			cmp.Compare(x.Protocol, y.Protocol),
			cmp.Compare(x.Node, y.Node),
		)
	})
}
