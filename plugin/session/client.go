package session

import "k8s.io/client-go/rest"

// Client-side request limits of the plugin's API client. A session of N
// nodes sends about 3N requests (create, open the log, delete) and two
// watches. client-go's default (5 requests/s, bursts of 10) takes 100 s to
// create 500 probe pods, as long to open their logs and 200 s to delete
// them (make bench-fanin measured it); these let 500 nodes start and end
// in seconds while createWorkers bounds what is in flight, and the API
// server's priority and fairness still queues or rejects (429, retried by
// client-go after its Retry-After) what it cannot take.
const (
	ClientQPS   = 200
	ClientBurst = 500
)

// ClientLimits raises a client config's request limits to ClientQPS and
// ClientBurst unless the config sets its own (a rate limiter, or a QPS).
// It is the plugin's WrapConfigFn.
func ClientLimits(c *rest.Config) *rest.Config {
	if c.RateLimiter == nil && c.QPS == 0 {
		c.QPS, c.Burst = ClientQPS, ClientBurst
	}
	return c
}
