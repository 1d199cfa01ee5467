package session

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	kfake "k8s.io/client-go/kubernetes/fake"

	"github.com/kubectl-pixie/kubectl-pixie/plugin/target"
	"github.com/kubectl-pixie/kubectl-pixie/probes/api"
)

func TestCutTimestamp(t *testing.T) {
	at, rec := cutTimestamp([]byte(`2026-12-07T05:01:41.340123456Z {"table":"x"}`))
	if want := time.Date(2026, 12, 7, 5, 1, 41, 340123456, time.UTC); !at.Equal(want) || string(rec) != `{"table":"x"}` {
		t.Errorf("got %v %q", at, rec)
	}
	for _, l := range []string{`{"table":"x"}`, `2026 is not a timestamp`, ``, `12345`} {
		if at, rec := cutTimestamp([]byte(l)); !at.IsZero() || string(rec) != l {
			t.Errorf("%q: cut to %v %q", l, at, rec)
		}
	}
}

// blocked reports whether send(l) waits for room (it is cancelled after a
// moment) rather than returning at once.
func blocked(s *runner, n *node, l Line) bool {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); s.send(ctx, n, l) }()
	select {
	case <-done:
		cancel()
		return false
	case <-time.After(100 * time.Millisecond):
		cancel()
		<-done
		return true
	}
}

// TestSendShedsOnlyLateDroppableWhenFull: a record is dropped only when it
// is a per-request record, read more than MaxLag after the node wrote it,
// and the merge queue is full; everything else waits for room.
func TestSendShedsOnlyLateDroppableWhenFull(t *testing.T) {
	s := &runner{lines: make(chan Line, 1)}
	n := &node{stream: newStream("n1")}
	now := time.Now()
	late := now.Add(-10 * time.Second)
	s.send(context.Background(), n, Line{at: now, droppable: true}) // the skew's base; fills the queue
	if !blocked(s, n, Line{at: now, droppable: true}) {
		t.Error("a record on time was not kept waiting for room")
	}
	if !blocked(s, n, Line{droppable: true}) {
		t.Error("a record without a timestamp was not kept waiting for room")
	}
	if !blocked(s, n, Line{at: late}) {
		t.Error("a late summary record was not kept waiting for room")
	}
	if n.stream.dropped.Load() != 0 {
		t.Fatalf("dropped %d before any late per-request record", n.stream.dropped.Load())
	}
	if blocked(s, n, Line{at: late, droppable: true}) || n.stream.dropped.Load() != 1 {
		t.Errorf("a late per-request record on a full queue: dropped %d, want 1", n.stream.dropped.Load())
	}
	<-s.lines
	s.send(context.Background(), n, Line{at: late, droppable: true})
	if len(s.lines) != 1 || n.stream.dropped.Load() != 1 {
		t.Errorf("a late per-request record with room was dropped (%d)", n.stream.dropped.Load())
	}
}

// stampedLog is one node's output as the log API sends it with
// timestamps: the first event on time, the others written 10 s before it
// (so read late), then the final probe_stats.
func stampedLog(events int) []byte {
	var b bytes.Buffer
	now := time.Now().UTC()
	for i := 1; i <= events; i++ {
		at := now.Add(-10 * time.Second)
		if i == 1 {
			at = now
		}
		fmt.Fprintf(&b, "%s "+httpEvent, at.Format(time.RFC3339Nano), i)
	}
	fmt.Fprintf(&b, "%s {\"table\":\"probe_stats\",\"seq\":%d,\"events_captured\":%d,\"events_lost\":3,\"lost_by\":{\"ring_full\":3},\"final\":true}\n", now.Format(time.RFC3339Nano), events+1, events)
	return b.Bytes()
}

// readAllSignal closes done once its reader has handed out its last byte.
type readAllSignal struct {
	r    *bytes.Reader
	once sync.Once
	done chan struct{}
}

func (r *readAllSignal) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if r.r.Len() == 0 {
		r.once.Do(func() { close(r.done) })
	}
	return n, err
}

func (r *readAllSignal) Close() error { return nil }

// TestRunShedsWhenBehindAndCountsIt: a node whose records come late while
// the merge is stalled loses per-request records, never its final one;
// every record is either merged or counted, the count is in the node's
// probe_stats (events_lost, lost_by) and its result, and said on stderr.
func TestRunShedsWhenBehindAndCountsIt(t *testing.T) {
	const events = 3000
	client := kfake.NewClientset()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go startAll(ctx, client)
	var errOut bytes.Buffer
	o := testOptions(client, nil, &errOut)
	o.Targets = []target.Node{{Name: "n1", All: true}}
	log := &readAllSignal{r: bytes.NewReader(stampedLog(events)), done: make(chan struct{})}
	o.logs = func(context.Context, string, string) (io.ReadCloser, error) { return log, nil }

	got := 0
	var final api.ProbeStats
	res, err := Run(context.Background(), o, func(l Line) {
		if got == 0 {
			<-log.done // the merge stalls while the node's whole log is read
		}
		switch {
		case l.Table == api.TableHTTPEvents:
			got++
		case l.Table == api.TableProbeStats:
			if err := json.Unmarshal(l.Raw, &final); err != nil {
				t.Errorf("probe_stats: %v: %s", err, l.Raw)
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	dropped := res.Nodes[0].Dropped
	if dropped == 0 || uint64(got)+dropped != events {
		t.Fatalf("merged %d and dropped %d of %d events", got, dropped, events)
	}
	if !final.Final || final.LostBy[LostPluginBehind] != dropped || final.LostBy["ring_full"] != 3 || final.EventsLost != 3+dropped {
		t.Errorf("final probe_stats does not count the %d dropped: %+v", dropped, final)
	}
	if w := errOut.String(); !strings.Contains(w, fmt.Sprintf("dropped %d per-request record(s) (most from node n1: %d", dropped, dropped)) {
		t.Errorf("stderr does not say what was dropped:\n%s", w)
	}
}

func TestEventSeq(t *testing.T) {
	for rec, want := range map[string]uint64{
		fmt.Sprintf(strings.TrimSpace(httpEvent), 42):               42,
		`{"table":"dns_events","seq":7,"time_":1}`:                  7,
		`{"table":"http_events","v":1,"seq":9,"sample":"slow"}`:     0, // kept: samples are few
		`{"table":"http_stats","v":1,"seq":3,"rows":[]}`:            0,
		`{"table":"probe_stats","seq":3,"final":true}`:              0,
		`{"v":1,"table":"http_events","seq":3,"x":1}`:               0, // another layout: decoded
		`{"table":"http_events","v":1,"seq":}`:                      0,
		`{"table":"http_events","v":1,"seq":99999999999999999999,"`: 0,
	} {
		seq, ok := eventSeq([]byte(rec))
		if ok != (want > 0) || seq != want && ok {
			t.Errorf("%s: seq %d ok %v, want %d", rec, seq, ok, want)
		}
	}
}

// TestEventHeader: a per-request record's header read from its first bytes
// is the one encoding/json decodes; other records, other layouts and
// records that are not valid JSON are left to the decoder.
func TestEventHeader(t *testing.T) {
	for _, rec := range []string{
		fmt.Sprintf(strings.TrimSpace(httpEvent), 42),
		`{"table":"dns_events","seq":7,"time_":1}`,
		`{"table":"redis_events","v":1,"seq":3,"req_cmd":"GET","node":"x"}`,
	} {
		var want header
		if err := json.Unmarshal([]byte(rec), &want); err != nil {
			t.Fatal(err)
		}
		got, ok := eventHeader([]byte(rec))
		if !ok || got != want {
			t.Errorf("%s: %+v ok %v, want %+v", rec, got, ok, want)
		}
	}
	for _, rec := range []string{
		`{"table":"http_events","v":1,"seq":9,"sample":"slow","sample_row":{}}`, // samples are decoded
		`{"table":"probe_stats","seq":3,"final":true}`,
		`{"table":"agent_hello","seq":1,"agent_version":"v1"}`,
		`{"v":1,"table":"http_events","seq":3,"x":1}`,
		`{"table":"http_events","v":1,"seq":4,"req_path":"/a}`,                // not JSON
		`{"table":"http_events","v":1,"seq":4,"req_path":"/a"}}`,              // not JSON
		`{"table":"http_events","v":1,"seq":4,"req_path":"/a` + "\x1b" + `"}`, // a raw control byte
	} {
		if h, ok := eventHeader([]byte(rec)); ok {
			t.Errorf("%s: read as %+v, want it decoded", rec, h)
		}
	}
}
