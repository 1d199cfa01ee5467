package session

import (
	"testing"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/util/flowcontrol"
)

func TestClientLimits(t *testing.T) {
	c := ClientLimits(&rest.Config{})
	if c.QPS != ClientQPS || c.Burst != ClientBurst {
		t.Errorf("default config: QPS %v burst %d, want %v and %d", c.QPS, c.Burst, float32(ClientQPS), ClientBurst)
	}
	own := ClientLimits(&rest.Config{QPS: 7, Burst: 9})
	if own.QPS != 7 || own.Burst != 9 {
		t.Errorf("a config's own limits were replaced: %v %d", own.QPS, own.Burst)
	}
	rl := flowcontrol.NewFakeAlwaysRateLimiter()
	if c := ClientLimits(&rest.Config{RateLimiter: rl}); c.QPS != 0 {
		t.Errorf("a config with its own rate limiter got QPS %v", c.QPS)
	}
}
