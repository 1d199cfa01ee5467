package driver

import (
	"context"
	"sync"
)

// Work that may wait until the final frame is shown (deleting the probe
// pods of a run whose agents have all finished): a Source hands it to After,
// and Run does it after the final frame, so a user reads the result while
// the cluster is tidied.

type afterKey struct{}

type afterList struct {
	mu sync.Mutex
	fs []func()
}

// After runs f once Run has shown the final frame; with a ctx that does not
// come from Run, at once.
func After(ctx context.Context, f func()) {
	l, ok := ctx.Value(afterKey{}).(*afterList)
	if !ok {
		f()
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.fs = append(l.fs, f)
}

func withAfter(ctx context.Context) (context.Context, *afterList) {
	l := &afterList{}
	return context.WithValue(ctx, afterKey{}, l), l
}

// run does the work handed to After, in order.
func (l *afterList) run() {
	l.mu.Lock()
	fs := l.fs
	l.fs = nil
	l.mu.Unlock()
	for _, f := range fs {
		f()
	}
}
