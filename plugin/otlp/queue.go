package otlp

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// queue is the span processor: ended spans wait in a bounded channel and
// one goroutine sends them in batches. A full queue drops the span (the
// trace never waits for the backend) and a failed export drops its batch;
// both are counted. The SDK's batch processor would also drop, but does
// not say how many.
type queue struct {
	exp     sdktrace.SpanExporter
	ch      chan sdktrace.ReadOnlySpan
	batch   int
	timeout time.Duration

	mu     sync.RWMutex // closed, and ch against a send after close
	closed bool
	cancel context.CancelFunc // stops an export in flight at close's deadline
	done   chan struct{}

	queued, sent, dropped atomic.Uint64
	errMu                 sync.Mutex
	firstErr              error
}

func newQueue(exp sdktrace.SpanExporter, size, batch int, timeout time.Duration) *queue {
	ctx, cancel := context.WithCancel(context.Background())
	q := &queue{exp: exp, ch: make(chan sdktrace.ReadOnlySpan, size), batch: batch, timeout: timeout, cancel: cancel, done: make(chan struct{})}
	go q.run(ctx)
	return q
}

// OnStart implements sdktrace.SpanProcessor.
func (q *queue) OnStart(context.Context, sdktrace.ReadWriteSpan) {}

// OnEnd queues s, or drops it when the queue is full or closed.
func (q *queue) OnEnd(s sdktrace.ReadOnlySpan) {
	q.mu.RLock()
	defer q.mu.RUnlock()
	q.queued.Add(1)
	if q.closed {
		q.dropped.Add(1)
		return
	}
	select {
	case q.ch <- s:
	default:
		q.dropped.Add(1)
	}
}

// Shutdown implements sdktrace.SpanProcessor; close ends the queue.
func (q *queue) Shutdown(context.Context) error { return nil }

// ForceFlush implements sdktrace.SpanProcessor; close flushes.
func (q *queue) ForceFlush(context.Context) error { return nil }

// flushEvery sends a partial batch after this long.
const flushEvery = time.Second

func (q *queue) run(ctx context.Context) {
	defer close(q.done)
	t := time.NewTicker(flushEvery)
	defer t.Stop()
	var b []sdktrace.ReadOnlySpan
	for {
		select {
		case s, ok := <-q.ch:
			if !ok {
				q.export(ctx, b)
				return
			}
			if b = append(b, s); len(b) >= q.batch {
				q.export(ctx, b)
				b = nil
			}
		case <-t.C:
			q.export(ctx, b)
			b = nil
		}
	}
}

func (q *queue) export(ctx context.Context, b []sdktrace.ReadOnlySpan) {
	if len(b) == 0 {
		return
	}
	if ctx.Err() != nil { // past close's deadline: count what is left
		q.dropped.Add(uint64(len(b)))
		return
	}
	ctx, cancel := context.WithTimeout(ctx, q.timeout)
	defer cancel()
	if err := q.exp.ExportSpans(ctx, b); err != nil {
		q.dropped.Add(uint64(len(b)))
		q.errMu.Lock()
		if q.firstErr == nil {
			q.firstErr = err
		}
		q.errMu.Unlock()
		return
	}
	q.sent.Add(uint64(len(b)))
}

// close sends what is queued and stops, by ctx's deadline at the latest:
// spans still queued then are dropped.
func (q *queue) close(ctx context.Context) error {
	q.mu.Lock()
	if !q.closed {
		q.closed = true
		close(q.ch)
	}
	q.mu.Unlock()
	select {
	case <-q.done:
	case <-ctx.Done():
		q.cancel()
		<-q.done
	}
	q.cancel()
	q.errMu.Lock()
	defer q.errMu.Unlock()
	return q.firstErr
}
