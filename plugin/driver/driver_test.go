package driver

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// When piped, a frame is printed every SnapshotEvery, not every tick:
// memory used to print one per --interval (20 a second at 50ms).
func TestPipedSnapshotsAreThrottled(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var out bytes.Buffer
	s := NewScreen(viewFunc{}, Options{Out: &out, Tick: 50 * time.Millisecond, Now: func() time.Time { return now }})
	for i := 0; i < 400; i++ { // 20 s of 50 ms ticks
		now = now.Add(50 * time.Millisecond)
		s.Tick()
	}
	if n := strings.Count(out.String(), "--- "); n != 2 {
		t.Fatalf("%d snapshots in 20s piped, want 2 (one per %s):\n%s", n, SnapshotEvery, out.String())
	}
	out.Reset()
	tty := NewScreen(viewFunc{}, Options{Out: &out, TTY: true, Now: func() time.Time { return now }})
	for i := 0; i < 3; i++ {
		tty.Tick()
	}
	if n := strings.Count(out.String(), "frame"); n != 3 {
		t.Fatalf("%d frames for 3 ticks on a terminal, want 3", n)
	}
}

type viewFunc struct{}

func (viewFunc) Line(string, []byte) bool            { return true }
func (viewFunc) Frame(bool) []byte                   { return []byte("frame\n") }
func (viewFunc) Finish(_ io.Writer, err error) error { return err }

// -o json passes records through stamped with their node, first.
func TestJSONPassThroughStampsNode(t *testing.T) {
	var out bytes.Buffer
	err := Run(context.Background(), func(_ context.Context, emit func(string, []byte)) error {
		emit("n1", []byte(`{"table":"x","v":1}`))
		emit("", []byte(`{"table":"y"}`))
		emit("n2", []byte(`{}`))
		return nil
	}, PassThrough{}, Options{Out: &out, JSON: true})
	if err != nil {
		t.Fatal(err)
	}
	want := "{\"node\":\"n1\",\"table\":\"x\",\"v\":1}\n{\"table\":\"y\"}\n{\"node\":\"n2\"}\n"
	if out.String() != want {
		t.Fatalf("got\n%s\nwant\n%s", out.String(), want)
	}
}

// brokenPipe fails every write, as stdout does after `| head -1` exits.
type brokenPipe struct {
	mu     sync.Mutex
	writes int
}

func (b *brokenPipe) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.writes++
	return 0, syscall.EPIPE
}

// A closed output ends the run (the source sees a cancelled context, so
// probes stop and pods are deleted) instead of killing the plugin or
// writing on forever.
func TestClosedOutputStopsTheRun(t *testing.T) {
	out := &brokenPipe{}
	stopped := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- Run(context.Background(), func(ctx context.Context, emit func(string, []byte)) error {
			for ctx.Err() == nil {
				emit("", []byte(`{"table":"http_events"}`))
				time.Sleep(time.Millisecond)
			}
			close(stopped)
			return nil
		}, PassThrough{}, Options{Out: out, JSON: true})
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the run went on after its output was closed")
	}
	<-stopped
	if out.writes != 1 {
		t.Fatalf("%d writes to a closed output, want 1 (the rest discarded)", out.writes)
	}
}

var errProbe = errors.New("probe failed")

// The final frame is shown and the view's Finish decides the error.
func TestEndShowsFinalFrameAndFinish(t *testing.T) {
	var out bytes.Buffer
	err := NewScreen(viewFunc{}, Options{Out: &out, TTY: true}).End(errProbe)
	if !errors.Is(err, errProbe) || !strings.Contains(out.String(), "frame") {
		t.Fatalf("err %v, out %q", err, out.String())
	}
}

type fakeRecorder struct {
	lines  []string
	closed int
	err    error
}

func (r *fakeRecorder) Record(node string, line []byte) {
	r.lines = append(r.lines, node+" "+string(line))
}
func (r *fakeRecorder) Close() error { r.closed++; return r.err }

// --record gets every record, those the view drops included, with its
// node, and is closed once at the end; a failed close fails the run.
func TestRecorderGetsEveryRecord(t *testing.T) {
	rec := &fakeRecorder{err: errors.New("disk full")}
	var out bytes.Buffer
	err := Run(context.Background(), func(_ context.Context, emit func(string, []byte)) error {
		emit("n1", []byte(`{"a":1}`))
		emit("", []byte(`not json`))
		return nil
	}, PassThrough{}, Options{Out: &out, JSON: true, Record: rec})
	if !errors.Is(err, rec.err) {
		t.Errorf("run error %v, want the recorder's", err)
	}
	if want := []string{`n1 {"a":1}`, ` not json`}; strings.Join(rec.lines, "|") != strings.Join(want, "|") || rec.closed != 1 {
		t.Errorf("recorded %q, closed %d times; want %q, once", rec.lines, rec.closed, want)
	}
}
