package webhook

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// recorder is a real local HTTP server answering with the statuses it is
// given in turn (the last one from then on), keeping the bodies.
type recorder struct {
	mu       sync.Mutex
	statuses []int
	bodies   []string
}

func (r *recorder) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	b, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.bodies = append(r.bodies, string(b))
	st := r.statuses[min(len(r.bodies), len(r.statuses))-1]
	if req.Method != http.MethodPost || req.Header.Get("Content-Type") != "application/json" {
		st = http.StatusBadRequest
	}
	w.WriteHeader(st)
}

var payload = Payload{Command: "trace", Time: time.Unix(1_700_000_000, 0).UTC(), Rules: []string{"p99 > 250ms"},
	Fired:     []Fired{{Rule: "p99 > 250ms", Why: []string{"shop/api GET /x: p99 300ms (> 250ms)"}}},
	Rows:      []map[string]any{{"label": "shop/api GET /x", "p99": 3e8}},
	RowsTotal: 1}

// A 500 is retried after the pause, and the 200 that follows ends it;
// a 400 is not retried; the attempts are bounded.
func TestSendRetries(t *testing.T) {
	for _, c := range []struct {
		statuses []int
		posts    int
		err      string
	}{
		{[]int{500, 200}, 2, ""},
		{[]int{429, 503, 200}, 3, ""},
		{[]int{400}, 1, "answered 400 Bad Request (after 1 attempts)"},
		{[]int{500}, 3, "answered 500 Internal Server Error (after 3 attempts)"},
	} {
		rec := &recorder{statuses: c.statuses}
		srv := httptest.NewServer(rec)
		start := time.Now()
		err := Send(context.Background(), Options{URL: srv.URL + "/hook/SECRET", Backoff: 20 * time.Millisecond}, payload)
		srv.Close()
		if c.err == "" && err != nil || c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)) {
			t.Errorf("%v: %v, want %q", c.statuses, err, c.err)
		}
		if err != nil && strings.Contains(err.Error(), "SECRET") {
			t.Errorf("the error shows the URL's path: %v", err)
		}
		if len(rec.bodies) != c.posts {
			t.Errorf("%v: %d posts, want %d", c.statuses, len(rec.bodies), c.posts)
		}
		if c.posts == 3 && time.Since(start) < 60*time.Millisecond {
			t.Errorf("%v: no pause between attempts (%v)", c.statuses, time.Since(start))
		}
		var got Payload
		if err := json.Unmarshal([]byte(rec.bodies[len(rec.bodies)-1]), &got); err != nil || got.Command != "trace" || len(got.Fired) != 1 || got.Rows[0]["p99"] != 3e8 {
			t.Errorf("%v: body %s (%v)", c.statuses, rec.bodies[0], err)
		}
	}
}

// A server that does not answer is given up on after the timeout of each
// attempt.
func TestSendTimeout(t *testing.T) {
	block := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { <-block }))
	defer srv.Close()
	defer close(block)
	start := time.Now()
	err := Send(context.Background(), Options{URL: srv.URL, Timeout: 50 * time.Millisecond, Attempts: 2, Backoff: time.Millisecond}, payload)
	if err == nil || !strings.Contains(err.Error(), "deadline exceeded") || time.Since(start) > 5*time.Second {
		t.Errorf("%v after %v", err, time.Since(start))
	}
}

// The Slack format is an incoming-webhook message: one "text" field with
// the rules that fired and their rows, markup escaped.
func TestSlackPayload(t *testing.T) {
	rec := &recorder{statuses: []int{200}}
	srv := httptest.NewServer(rec)
	defer srv.Close()
	p := payload
	p.Fired = []Fired{{Rule: "p99 > 250ms && endpoint =~ \"<x>\"", Why: []string{"a: p99 300ms (> 250ms)"}}}
	if err := Send(context.Background(), Options{URL: srv.URL, Format: FormatSlack}, p); err != nil {
		t.Fatal(err)
	}
	var msg map[string]string
	if err := json.Unmarshal([]byte(rec.bodies[0]), &msg); err != nil || len(msg) != 1 {
		t.Fatalf("%s: %v", rec.bodies[0], err)
	}
	want := ":rotating_light: kubectl pixie trace: 1 --fail-if rule(s) fired\n• `p99 &gt; 250ms &amp;&amp; endpoint =~ \"&lt;x&gt;\"`\n    a: p99 300ms (&gt; 250ms)"
	if msg["text"] != want {
		t.Errorf("text %q, want %q", msg["text"], want)
	}
}

func TestCheckURL(t *testing.T) {
	for s, ok := range map[string]bool{"https://hooks.slack.com/services/X": true, "http://127.0.0.1:8080/h": true,
		"ftp://x/y": false, "hooks.slack.com/x": false, "https://": false, "::": false} {
		if err := CheckURL(s); (err == nil) != ok {
			t.Errorf("%q: %v", s, err)
		}
	}
}
