package api

import (
	"fmt"

	"github.com/kubectl-pixie/kubectl-pixie/probes/api/stats"
)

// Kinds of samples (Header.Sample).
const (
	SampleSlow  = "slow"  // among the slowest requests of its endpoint, over SampleConfig.SlowNs
	SampleError = "error" // among the latest failed requests of its endpoint
)

// Bounds on SampleConfig.PerEndpoint.
const (
	DefaultSamplesPerEndpoint = 5
	MaxSamplesPerEndpoint     = 100
)

// SampleConfig asks the agent to keep, per endpoint, the PerEndpoint
// slowest requests at least SlowNs slow (when SlowNs > 0) and the
// PerEndpoint latest errors (when Errors), in one memory budget, and to
// send them at the end as their protocol's records with Header.Sample set.
type SampleConfig struct {
	SlowNs      int64 `json:"slow_ns,omitempty"`
	Errors      bool  `json:"errors,omitempty"`
	PerEndpoint int   `json:"per_endpoint,omitempty"` // 0: DefaultSamplesPerEndpoint
}

// Check validates c (nil is valid: no samples). The errors name the value
// at fault; callers add the flag and the remedy.
func (c *SampleConfig) Check() error {
	if c == nil {
		return nil
	}
	if c.SlowNs < 0 {
		return fmt.Errorf("slow threshold %dns is negative", c.SlowNs)
	}
	if c.PerEndpoint < 0 || c.PerEndpoint > MaxSamplesPerEndpoint {
		return fmt.Errorf("samples per endpoint %d is out of range 1..%d", c.PerEndpoint, MaxSamplesPerEndpoint)
	}
	return nil
}

// Keep is how many samples of each kind an endpoint keeps.
func (c *SampleConfig) Keep() int {
	if c.PerEndpoint <= 0 {
		return DefaultSamplesPerEndpoint
	}
	return c.PerEndpoint
}

// SampleRow is what the table of samples shows of any protocol's record:
// the agent fills it from the request's observation, so readers need not
// know the record's type.
type SampleRow struct {
	TimeNs    int64  `json:"time_"` // request start, ns since the Unix epoch
	Service   string `json:"service"`
	PID       uint32 `json:"pid"`
	Peer      string `json:"peer,omitempty"`
	Protocol  string `json:"protocol,omitempty"` // empty for HTTP, as in stats.Key
	Endpoint  string `json:"endpoint"`           // EndpointText of the row: "GET /users/{id}", "redis GET"
	Request   string `json:"request"`            // the request as the data-access mode keeps it: "GET /users/42"
	Status    string `json:"status"`             // "503", "NXDOMAIN", "OK", "err" (no response)
	Error     bool   `json:"error"`              // counted in ERR%
	LatencyNs int64  `json:"latency"`
	ReqBytes  int64  `json:"req_bytes"`
	RespBytes int64  `json:"resp_bytes"`
}

// NewSampleRow describes an observed request (its Service, Peer and times
// set) of process pid.
func NewSampleRow(o *stats.Observation, pid uint32) SampleRow {
	status := o.Class
	if o.Protocol == "" {
		status = stats.StatusClass(o.Status)
		if status != stats.StatusErr {
			status = fmt.Sprint(o.Status)
		}
	}
	req := o.Method
	if o.Path != "" {
		req += " " + o.Path
	}
	return SampleRow{
		TimeNs: o.TimeNs, Service: o.Service, PID: pid, Peer: o.Peer, Protocol: o.Protocol,
		Endpoint: ObservedEndpoint(o), Request: req, Status: status, Error: ObservedError(o),
		LatencyNs: o.LatencyNs, ReqBytes: o.ReqBytes, RespBytes: o.RespBytes,
	}
}

// ObservedError tells whether an observed request counts in ERR%.
func ObservedError(o *stats.Observation) bool {
	if o.Protocol == "" {
		return stats.IsError(stats.StatusClass(o.Status))
	}
	class := o.Class
	if class == "" {
		class = stats.StatusErr
	}
	return stats.ClassIsError(o.Protocol, class)
}
