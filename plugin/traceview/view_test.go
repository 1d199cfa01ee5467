package traceview

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/kubectl-pixie/kubectl-pixie/plugin/driver"
	"github.com/kubectl-pixie/kubectl-pixie/probes/api"
	"github.com/kubectl-pixie/kubectl-pixie/probes/api/stats"
	"github.com/kubectl-pixie/kubectl-pixie/probes/api/vocab"
)

func statsLine(t *testing.T, service string, n int, status int) []byte {
	t.Helper()
	agg := stats.NewAggregator(stats.Config{})
	for i := 0; i < n; i++ {
		agg.Add(stats.Observation{Service: service, Role: "server", Method: "GET", Path: "/users/42", Status: status, LatencyNs: int64(1000 * (i + 1))})
	}
	r := api.HTTPStats{Header: api.Header{Table: api.TableHTTPStats, V: 1, Seq: 2}, IntervalNs: 1e9, Rows: agg.Drain()}
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func fixedNow() time.Time { return time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC) }

// play runs records through the driver into v, as the trace command
// does: feed emits them (node, line); out gets the output.
func play(t *testing.T, v *View, out *bytes.Buffer, feed func(emit func(node string, line []byte))) error {
	t.Helper()
	return driver.Run(context.Background(), func(_ context.Context, emit func(string, []byte)) error {
		feed(emit)
		return nil
	}, v, driver.Options{Out: out, JSON: v.json()})
}

func TestViewMergesNodesIntoTable(t *testing.T) {
	var out, errOut bytes.Buffer
	v := New(&errOut, Options{Output: "table", Window: 10 * time.Second, NodesTotal: 2, Now: fixedNow})
	if err := play(t, v, &out, func(emit func(string, []byte)) {
		emit("n1", []byte(`{"table":"probe_ready","v":1,"seq":1,"probe":"trace"}`))
		emit("n1", statsLine(t, "shop/web", 3, 200))
		emit("n2", statsLine(t, "shop/web", 2, 503))
		emit("n1", []byte(`{"table":"probe_stats","v":1,"seq":3,"probe":"trace","window_ns":10000000000,"events_captured":10,"records":3,"final":true}`))
		emit("n2", []byte(`{"table":"probe_stats","v":1,"seq":3,"probe":"trace","window_ns":10000000000,"events_captured":7,"records":2,"final":true}`))
	}); err != nil && v.json() {
		t.Fatal(err)
	}
	got := out.String()
	for _, want := range []string{"shop/web", "/users/{id}", "captured 5 requests", "2xx,5xx"} {
		if !strings.Contains(got, want) {
			t.Errorf("table lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "\x1b") {
		t.Errorf("escape sequences in piped output:\n%q", got)
	}
}

func TestViewJSONPassesEventsAndSummarises(t *testing.T) {
	var out, errOut bytes.Buffer
	v := New(&errOut, Options{Output: "json", Window: 10 * time.Second, Now: fixedNow})
	ev := `{"table":"http_events","v":1,"seq":5,"pid":7,"comm":"x","req_path":"/a"}`
	if err := play(t, v, &out, func(emit func(string, []byte)) {
		emit("node-a", []byte(ev))
		emit("", []byte(ev))
		emit("", statsLine(t, "x", 1, 200))
	}); err != nil && v.json() {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 3 {
		t.Fatalf("got %d lines, want 2 events and 1 summary:\n%s", len(lines), out.String())
	}
	var stamped map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &stamped); err != nil || stamped["node"] != "node-a" || stamped["table"] != "http_events" {
		t.Fatalf("node stamp: %v %v", stamped, err)
	}
	if lines[1] != ev {
		t.Fatalf("local record changed: %s", lines[1])
	}
	if !strings.Contains(lines[2], `"table":"http_summary"`) {
		t.Fatalf("no summary: %s", lines[2])
	}
}

func TestViewEscapesProbeMessagesAndSkipsJunk(t *testing.T) {
	var out, errOut bytes.Buffer
	v := New(&errOut, Options{Output: "table", Now: fixedNow})
	if err := play(t, v, &out, func(emit func(string, []byte)) {
		emit("", []byte(`{"table":"probe_log","level":"error","msg":"bad \u001b[31mthing","remedy":"do \u001b]0;x\u0007 this"}`))
		emit("", []byte(`not json at all`))
		emit("", []byte(`{"broken`))
		emit("", []byte(`{"table":"from_the_future"}`))
		emit("", []byte(`{"table":"from_the_future"}`))
	}); err == nil {
		t.Fatal("a probe error must be returned")
	}
	if strings.Contains(errOut.String(), "\x1b") || strings.Contains(errOut.String(), "\x07") {
		t.Fatalf("raw control characters reached the terminal: %q", errOut.String())
	}
	if got := v.Errors(); len(got) != 1 || strings.ContainsAny(got[0], "\x1b\x07") || !strings.Contains(got[0], "this") {
		t.Fatalf("errors %q: want one, escaped, with its remedy", got)
	}
	if n := strings.Count(errOut.String(), "from_the_future"); n != 1 {
		t.Fatalf("unknown table warned %d times, want once:\n%s", n, errOut.String())
	}
}

// The window clock starts when a probe attaches and never runs backwards,
// even when a probe's own (shorter) window arrives.
func TestViewClockIsMonotonic(t *testing.T) {
	now := fixedNow()
	clock := func() time.Time { return now }
	var out, errOut bytes.Buffer
	v := New(&errOut, Options{Output: "table", Window: 10 * time.Second, Now: clock})
	now = now.Add(1500 * time.Millisecond) // pod start-up: not traced time
	if err := play(t, v, &out, func(emit func(string, []byte)) {
		emit("n1", []byte(`{"table":"probe_ready","v":1,"seq":1}`))
		var last time.Duration
		for i := 0; i < 5; i++ {
			now = now.Add(time.Second)
			emit("n1", []byte(`{"table":"probe_stats","v":1,"seq":2,"window_ns":400000000}`))
			e := v.elapsed()
			if e < last || e > time.Duration(i+1)*time.Second {
				t.Fatalf("tick %d: elapsed %v after %v", i, e, last)
			}
			last = e
		}
		emit("n1", []byte(`{"table":"probe_stats","v":1,"seq":3,"window_ns":5200000000,"final":true}`))
	}); err != nil && v.json() {
		t.Fatal(err)
	}
	if e := v.elapsed(); e != 5200*time.Millisecond {
		t.Fatalf("final elapsed %v, want the probe's window 5.2s", e)
	}
}

// TestViewOtherProtocols: redis_events and dns_events pass through in
// JSON like http_events (stamped with the node), and their summaries
// carry the protocol.
func TestViewOtherProtocols(t *testing.T) {
	var out, errOut bytes.Buffer
	v := New(&errOut, Options{Output: "json", Window: 10 * time.Second, NodesTotal: 1, Now: fixedNow})
	if err := play(t, v, &out, func(emit func(string, []byte)) {
		emit("n1", []byte(`{"table":"probe_ready","v":1,"seq":1,"probe":"trace"}`))
		emit("n1", []byte(`{"table":"redis_events","v":1,"seq":2,"req_cmd":"GET"}`))
		emit("n1", []byte(`{"table":"dns_events","v":1,"seq":3,"query_type":"A"}`))
		agg := stats.NewAggregator(stats.Config{})
		agg.Add(stats.Observation{Protocol: vocab.ProtocolRedis, Service: "redis-server", Role: "server", Method: "GET", Class: "ERR", LatencyNs: 1000})
		b, _ := json.Marshal(api.HTTPStats{Header: api.Header{Table: api.TableHTTPStats, V: 1, Seq: 4}, IntervalNs: 1e9, Rows: agg.Drain()})
		emit("n1", b)
	}); err != nil && v.json() {
		t.Fatal(err)
	}
	got := out.String()
	for _, want := range []string{`{"node":"n1","table":"redis_events"`, `{"node":"n1","table":"dns_events"`, `"protocol":"redis"`, `"errors":1`} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %s:\n%s", want, got)
		}
	}
	if errOut.Len() != 0 {
		t.Errorf("warnings: %s", errOut.String())
	}
}

// TestViewAMQPKafka: amqp_events and kafka_events pass through in JSON;
// an AMQP reply code >= 300 and a Kafka error name count as errors, a
// close with 200 does not.
func TestViewAMQPKafka(t *testing.T) {
	var out, errOut bytes.Buffer
	v := New(&errOut, Options{Output: "json", Window: 10 * time.Second, NodesTotal: 1, Now: fixedNow})
	if err := play(t, v, &out, func(emit func(string, []byte)) {
		emit("n1", []byte(`{"table":"probe_ready","v":1,"seq":1,"probe":"trace"}`))
		emit("n1", []byte(`{"table":"amqp_events","v":1,"seq":2,"method":"queue.declare","reply_code":406}`))
		emit("n1", []byte(`{"table":"kafka_events","v":1,"seq":3,"req_cmd":"Metadata"}`))
		agg := stats.NewAggregator(stats.Config{})
		agg.Add(stats.Observation{Protocol: vocab.ProtocolAMQP, Service: "beam.smp", Role: "server", Method: "queue.declare", Class: "406", LatencyNs: 1000})
		agg.Add(stats.Observation{Protocol: vocab.ProtocolAMQP, Service: "beam.smp", Role: "server", Method: "channel.close", Class: "200", LatencyNs: 1000})
		agg.Add(stats.Observation{Protocol: vocab.ProtocolKafka, Service: "app", Role: "client", Method: "Metadata", Class: "UNKNOWN_TOPIC_OR_PARTITION", LatencyNs: 1000})
		b, _ := json.Marshal(api.HTTPStats{Header: api.Header{Table: api.TableHTTPStats, V: 1, Seq: 4}, IntervalNs: 1e9, Rows: agg.Drain()})
		emit("n1", b)
	}); err != nil && v.json() {
		t.Fatal(err)
	}
	got := out.String()
	for _, want := range []string{`{"node":"n1","table":"amqp_events"`, `{"node":"n1","table":"kafka_events"`,
		`"protocol":"amqp"`, `"protocol":"kafka"`, `"status_class":"UNKNOWN_TOPIC_OR_PARTITION"`} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %s:\n%s", want, got)
		}
	}
	if n := strings.Count(got, `"errors":1`); n != 2 {
		t.Errorf("%d rows with an error, want 2 (406, the Kafka error; not the 200 close):\n%s", n, got)
	}
	if errOut.Len() != 0 {
		t.Errorf("warnings: %s", errOut.String())
	}
}

// Any per-request table passes through and counts, whichever protocol it
// belongs to, and wherever its header sits in the line.
func TestViewPassesAnyEventTable(t *testing.T) {
	for _, tc := range []struct {
		line               string
		fast, out, counted bool // recognised from its first bytes; passed through; counted
	}{
		{`{"table":"echo_events","v":1,"seq":3,"pid":7}`, true, true, true},
		{`{"table":"http_events"}`, true, true, true},
		{`{"seq":3,"table":"echo_events"}`, false, true, true}, // not the agent's layout: decoded
		{`{"table":"echo_events_x","v":1}`, false, false, false},
		{`{"table":"_events","v":1}`, false, false, false},
		{`{"table":"probe_ready","v":1}`, false, true, false},
		{`{"table":"probe_stats","v":1}`, false, false, false},
	} {
		if got := IsEvent([]byte(tc.line)); got != tc.fast {
			t.Errorf("IsEvent(%s) = %v, want %v", tc.line, got, tc.fast)
		}
		var out, errOut bytes.Buffer
		v := New(&errOut, Options{Output: "json", Now: fixedNow})
		_ = play(t, v, &out, func(emit func(string, []byte)) { emit("n1", []byte(tc.line)) })
		if passed := strings.Contains(out.String(), tc.line[1:]); passed != tc.out || (v.events == 1) != tc.counted {
			t.Errorf("%s: passed %v, counted %d; stderr %q", tc.line, passed, v.events, errOut.String())
		}
	}
}

// TestViewSaysNodesMessagesOnce: the same info or warning from many nodes
// is shown once, with its first node, and counted at the end; a message
// that differs is shown as it comes.
func TestViewSaysNodesMessagesOnce(t *testing.T) {
	var out, errOut bytes.Buffer
	v := New(&errOut, Options{Output: "table", Window: 10 * time.Second, NodesTotal: 3, Now: fixedNow})
	_ = play(t, v, &out, func(emit func(string, []byte)) {
		for _, n := range []string{"n1", "n2", "n3"} {
			emit(n, []byte(`{"table":"probe_log","level":"info","msg":"data access: restricted"}`))
			emit(n, []byte(`{"table":"probe_log","level":"warning","msg":"no TLS library","remedy":"see README"}`))
		}
		emit("n2", []byte(`{"table":"probe_log","level":"info","msg":"TLS: go uprobes on pid 7"}`))
	})
	got := errOut.String()
	for _, want := range []string{
		"node n1: data access: restricted\n",
		"warning: node n1: no TLS library\n  see README\n",
		"node n2: TLS: go uprobes on pid 7\n",
		"the same info from 2 more node(s): data access: restricted\n",
		"the same warning from 2 more node(s): no TLS library\n",
	} {
		if strings.Count(got, want) != 1 {
			t.Errorf("stderr has %q %d times, want once:\n%s", want, strings.Count(got, want), got)
		}
	}
	if strings.Contains(got, "node n2: data access") || strings.Contains(got, "node n3: no TLS") {
		t.Errorf("a repeated message was shown again:\n%s", got)
	}
}

// A pod that calls before the API server has its IP has its first rows
// under the IP; named late, they merge with its named rows.
func TestViewNamesLatePeers(t *testing.T) {
	peerRows := func(peer string, n int) []byte {
		agg := stats.NewAggregator(stats.Config{})
		for i := range n {
			agg.Add(stats.Observation{Service: "shop/web", Role: "server", Method: "GET", Path: "/a", Peer: peer, Status: 200, LatencyNs: int64(1000 * (i + 1))})
		}
		b, err := json.Marshal(api.HTTPStats{Header: api.Header{Table: api.TableHTTPStats, V: 1}, IntervalNs: 1e9, Rows: agg.Drain()})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	for _, c := range []struct {
		name  string
		named bool
		want  map[string]uint64 // peer -> count
	}{
		{"named late", true, map[string]uint64{"shop/client": 5}},
		{"no names", false, map[string]uint64{"10.244.3.7": 2, "shop/client": 3}},
	} {
		t.Run(c.name, func(t *testing.T) {
			known := false
			o := Options{Output: "json", Window: 10 * time.Second, Now: fixedNow}
			if c.named {
				o.PeerNames = func(peer string) (string, bool) {
					if known && peer == "10.244.3.7" {
						return "shop/client", true
					}
					return "", false
				}
			}
			var out, errOut bytes.Buffer
			v := New(&errOut, o)
			if err := play(t, v, &out, func(emit func(string, []byte)) {
				emit("n1", []byte(`{"table":"probe_ready","v":1,"seq":1,"probe":"trace"}`))
				emit("n1", peerRows("10.244.3.7", 2)) // before the watch has the pod's IP
				known = true
				emit("n2", peerRows("shop/client", 3)) // named as it came
			}); err != nil {
				t.Fatal(err)
			}
			got := map[string]uint64{}
			for _, l := range strings.Split(strings.TrimSpace(out.String()), "\n") {
				var s api.HTTPSummary
				if json.Unmarshal([]byte(l), &s) == nil && s.Table == api.TableHTTPSummary {
					got[s.Peer] += s.Count
				}
			}
			if len(got) != len(c.want) {
				t.Fatalf("summaries by peer %v, want %v\n%s", got, c.want, out.String())
			}
			for p, n := range c.want {
				if got[p] != n {
					t.Errorf("summaries by peer %v, want %v", got, c.want)
				}
			}
		})
	}
}
