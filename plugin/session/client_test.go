package session

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	utilnet "k8s.io/apimachinery/pkg/util/net"

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

// TestStreamWindowBoundsUnreadStream: through a client-go transport (TLS,
// HTTP/2) a stream the plugin does not read holds at most about
// StreamWindow; Go's default window lets the server send megabytes.
func TestStreamWindowBoundsUnreadStream(t *testing.T) {
	t.Parallel()
	var sent atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		chunk := bytes.Repeat([]byte("x"), 4096)
		w.WriteHeader(http.StatusOK)
		w.(http.Flusher).Flush()
		for r.Context().Err() == nil {
			if _, err := w.Write(chunk); err != nil {
				return
			}
			w.(http.Flusher).Flush()
			sent.Add(int64(len(chunk)))
		}
	}))
	srv.EnableHTTP2 = true
	srv.StartTLS()
	defer srv.Close()

	unread := func(wrap func(http.RoundTripper) http.RoundTripper) *http.Response {
		t.Helper()
		tr := utilnet.SetTransportDefaults(&http.Transport{TLSClientConfig: srv.Client().Transport.(*http.Transport).TLSClientConfig.Clone()})
		resp, err := (&http.Client{Transport: wrap(tr)}).Get(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		if resp.ProtoMajor != 2 {
			t.Fatalf("served over %s, want HTTP/2", resp.Proto)
		}
		return resp
	}

	sent.Store(0)
	// the plugin's own path: a rest.Config through ClientLimits
	cfg := ClientLimits(&rest.Config{Host: srv.URL, TLSClientConfig: rest.TLSClientConfig{Insecure: true}})
	hc, err := rest.HTTPClientFor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := hc.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	if resp.ProtoMajor != 2 {
		t.Fatalf("served over %s, want HTTP/2", resp.Proto)
	}
	// the sender stops once the window is used up: wait until it has not
	// moved for a second (a stall under load only makes it smaller)
	for last := int64(-1); sent.Load() != last; time.Sleep(time.Second) {
		last = sent.Load()
	}
	if got := sent.Load(); got > StreamWindow+64<<10 {
		t.Errorf("an unread stream took %d KiB, want at most the %d KiB window and a frame", got>>10, StreamWindow>>10)
	}
	resp.Body.Close()

	sent.Store(0)
	resp = unread(func(rt http.RoundTripper) http.RoundTripper { return rt })
	defer resp.Body.Close()
	deadline := time.Now().Add(30 * time.Second)
	for sent.Load() < 2<<20 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if got := sent.Load(); got < 2<<20 {
		t.Errorf("without the bound an unread stream took only %d KiB: the test cannot tell", got>>10)
	}
}
