package session

import (
	"net/http"

	utilnet "k8s.io/apimachinery/pkg/util/net"
	"k8s.io/client-go/rest"
)

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

// StreamWindow is the HTTP/2 receive window of each of the plugin's
// streams, so the most a node's log stream holds in the plugin before the
// API server waits: Go's default (4 MiB) let a plugin that fell behind
// 500 nodes grow to 2 GiB, 256 KiB still to 920 MiB (the buffers take
// about twice the window in small frames; make bench-fanin). A node
// writing 200 requests/s sends about 100 KiB/s: a window per round trip
// of 50 ms still carries ten times that.
const StreamWindow = 64 << 10

// ClientLimits raises a client config's request limits to ClientQPS and
// ClientBurst unless the config sets its own (a rate limiter, or a QPS),
// and bounds each stream's receive window to StreamWindow. It is the
// plugin's WrapConfigFn.
func ClientLimits(c *rest.Config) *rest.Config {
	if c.RateLimiter == nil && c.QPS == 0 {
		c.QPS, c.Burst = ClientQPS, ClientBurst
	}
	c.Wrap(boundStreamWindow)
	return c
}

// boundStreamWindow sets StreamWindow on client-go's transport (under its
// cache's wrapper) before its first connection: the HTTP/2 settings are
// read when a connection opens.
func boundStreamWindow(rt http.RoundTripper) http.RoundTripper {
	inner := rt
	for {
		w, ok := inner.(utilnet.RoundTripperWrapper)
		if !ok {
			break
		}
		inner = w.WrappedRoundTripper()
	}
	if t, ok := inner.(*http.Transport); ok && t.HTTP2 == nil {
		t.HTTP2 = &http.HTTP2Config{MaxReceiveBufferPerStream: StreamWindow}
	}
	return rt
}
