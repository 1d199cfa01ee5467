// Package driver runs a view over a probe's record stream, the same way for
// trace, profile and memory, local or in a cluster: it owns the signals,
// reads the records, ticks, redraws live frames on a terminal (throttled
// snapshots when piped), passes records through for -o json and ends with
// the view's final frame and result. Views only turn records into a model
// and a model into frames.
package driver

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"sync"
	"time"

	"github.com/kubectl-pixie/kubectl-pixie/plugin/render"
)

// Source streams NDJSON records, each with the node it came from ("" for
// --local), until the window ends or ctx is cancelled; a cancelled ctx
// still lets the probes flush their final records and clean up.
type Source func(ctx context.Context, emit func(node string, line []byte)) error

// View turns records into a model and the model into frames. The driver
// calls it from one goroutine at a time.
type View interface {
	// Line consumes one record from node (which wins over any "node" in
	// the record). It reports whether -o json copies the record to the
	// output as it comes.
	Line(node string, line []byte) (pass bool)
	// Frame renders the model: a live frame, or the final one. nil shows
	// nothing (nothing attached yet, or no live view in this mode).
	Frame(final bool) []byte
	// Finish writes to out what follows the final frame (verdicts, a flame
	// graph, -o json summaries) and returns the run's error, given the
	// source's.
	Finish(out io.Writer, srcErr error) error
}

// SnapshotEvery is the cadence of plain snapshots when the output is not a
// terminal: a frame every tick would flood a log or a pipe.
const SnapshotEvery = 10 * time.Second

// FlushEvery bounds how long -o json keeps records in its output buffer. A
// write per record cost the one goroutine that merges every node's stream
// about 3 µs, 0.5 µs buffered (BenchmarkJSONLine): with hundreds of busy
// nodes that is the difference between keeping up and shedding records.
const FlushEvery = 100 * time.Millisecond

// Options choose how a run is shown.
type Options struct {
	Out, ErrOut io.Writer
	// JSON passes the records the view accepts to Out, stamped with their
	// node; there are no frames.
	JSON bool
	// TTY repaints frames in place at every tick; otherwise a snapshot is
	// printed every SnapshotEvery. Width and Height are the terminal's.
	TTY           bool
	Width, Height int
	// NoStream shows only the final frame.
	NoStream bool
	// Tick is the redraw period (default 1s).
	Tick time.Duration
	// SnapshotEvery overrides the piped cadence (tests).
	SnapshotEvery time.Duration
	Now           func() time.Time
	// Record, when set, gets every record before the view does; Run
	// closes it at the end (--record).
	Record Recorder
	// Stopping is said on ErrOut at the first stop signal, above the live
	// frame (a cluster session says its own; --local sets this).
	Stopping string
}

// Recorder keeps the records of a run.
type Recorder interface {
	Record(node string, line []byte)
	Close() error
}

// Run streams src into v until the source ends, the context is cancelled,
// a stop signal arrives (see Signals) or Out is closed, then shows the
// final frame and returns v.Finish's error.
func Run(ctx context.Context, src Source, v View, o Options) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ctx, after := withAfter(ctx)
	o.Out = &stopOnError{w: o.Out, stop: cancel}
	s := NewScreen(v, o)
	var said func()
	if o.Stopping != "" {
		said = func() { s.Say(o.Stopping) }
	}
	ctx, stopSignals := Signals(ctx, o.ErrOut, said)
	defer stopSignals()

	tickCtx, stopTicks := context.WithCancel(ctx)
	ticked := make(chan struct{})
	go func() { defer close(ticked); s.tickLoop(tickCtx) }()
	err := src(ctx, s.Line)
	stopTicks()
	<-ticked
	err = s.End(err)
	if o.Record != nil {
		err = errors.Join(err, o.Record.Close())
	}
	after.run()
	return err
}

// Screen is a view on its output: it passes records through for -o json,
// shows live frames and the final one. Run drives it; tests of a view may
// drive it by hand. Its methods are safe for concurrent use.
type Screen struct {
	mu   sync.Mutex
	v    View
	o    Options
	live *render.Live
	last time.Time // when the last frame was shown
	buf  []byte
	// out buffers -o json (Out below it); flushed every FlushEvery and at
	// the end.
	out *bufio.Writer
}

// NewScreen returns a Screen showing v as o says.
func NewScreen(v View, o Options) *Screen {
	if o.Tick <= 0 {
		o.Tick = time.Second
	}
	if o.SnapshotEvery <= 0 {
		o.SnapshotEvery = SnapshotEvery
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	s := &Screen{v: v, o: o, last: o.Now()}
	if o.JSON {
		s.out = bufio.NewWriterSize(o.Out, 64<<10)
	} else {
		s.live = render.NewLive(o.Out, render.LiveOptions{TTY: o.TTY, Width: o.Width, Height: o.Height, NoStream: o.NoStream, Now: o.Now})
	}
	return s
}

// Line hands one record to the view and, for -o json, passes it through
// stamped with its node.
func (s *Screen) Line(node string, line []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.o.Record != nil {
		s.o.Record.Record(node, line)
	}
	if s.v.Line(node, line) && s.o.JSON {
		s.buf = Stamp(s.buf[:0], node, line)
		s.buf = append(s.buf, '\n')
		_, _ = s.out.Write(s.buf)
	}
}

// Flush writes out the -o json records buffered so far.
func (s *Screen) Flush() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.out != nil {
		_ = s.out.Flush()
	}
}

// Tick shows a live frame: every call on a terminal, every SnapshotEvery
// otherwise.
func (s *Screen) Tick() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.live == nil || s.o.NoStream {
		return
	}
	now := s.o.Now()
	if !s.o.TTY && now.Sub(s.last) < s.o.SnapshotEvery {
		return
	}
	if f := s.v.Frame(false); f != nil {
		_ = s.live.Update(f)
		s.last = now
	}
}

// Say writes msg and a newline on ErrOut. On a terminal the live frame is
// taken off the screen and drawn again under msg, so that the next repaint
// (in place, relative to the frame) still lands on it.
func (s *Screen) Say(msg string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	say := func() { _, _ = io.WriteString(s.o.ErrOut, msg+"\n") }
	if s.live == nil {
		say()
		return
	}
	_ = s.live.Above(say)
}

// End shows the final frame and returns the view's Finish.
func (s *Screen) End(srcErr error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.live != nil {
		if f := s.v.Frame(true); f != nil {
			_ = s.live.Final(f)
		}
	}
	if s.out == nil {
		return s.v.Finish(s.o.Out, srcErr)
	}
	err := s.v.Finish(s.out, srcErr)
	_ = s.out.Flush()
	return err
}

func (s *Screen) tickLoop(ctx context.Context) {
	every, tick := s.o.Tick, s.Tick
	switch {
	case s.out != nil:
		every, tick = FlushEvery, s.Flush
	case s.live == nil || s.o.NoStream:
		return
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			tick()
		}
	}
}

// Stamp appends line to dst with "node" set first (the agent never sets
// it: only the plugin knows which node a record came from).
func Stamp(dst []byte, node string, line []byte) []byte {
	if node == "" || len(line) < 2 || line[0] != '{' {
		return append(dst, line...)
	}
	q, _ := json.Marshal(node)
	dst = append(dst, `{"node":`...)
	dst = append(dst, q...)
	if len(line) > 2 || line[1] != '}' {
		dst = append(dst, ',')
	}
	return append(dst, line[1:]...)
}

// stopOnError ends the run at the first failed write (a closed pipe, as
// in `... -o json | head -1`) and discards the rest, so the probes still
// stop and their pods are deleted.
type stopOnError struct {
	w      io.Writer
	stop   func()
	failed bool
}

func (s *stopOnError) Write(p []byte) (int, error) {
	if s.failed {
		return len(p), nil
	}
	if _, err := s.w.Write(p); err != nil {
		s.failed = true
		s.stop()
	}
	return len(p), nil
}

// PassThrough is the view of -o json when the records are the output as
// they come (profile, memory): no model, no frames.
type PassThrough struct{}

// Line passes every record.
func (PassThrough) Line(string, []byte) bool { return true }

// Frame shows nothing.
func (PassThrough) Frame(bool) []byte { return nil }

// Finish returns the source's error.
func (PassThrough) Finish(_ io.Writer, err error) error { return err }
