package recording

import (
	"context"
	"errors"
	"io"
	"sync"
	"time"

	"github.com/kubectl-pixie/kubectl-pixie/plugin/driver"
)

// Clock is the time of a replay: the moment the current record arrived
// in the recorded run, so that rates and windows come out as they did.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// Now is the replayed time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *Clock) set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

// Replay returns a clock standing at the recording's start and a source
// that emits its records as fast as the view takes them, moving the
// clock. A cut recording ends the source with a warning on warn, not an
// error: what it holds is shown.
func (rd *Reader) Replay(warn func(error)) (*Clock, driver.Source) {
	c := &Clock{t: rd.Header.Started}
	return c, func(ctx context.Context, emit func(string, []byte)) error {
		for ctx.Err() == nil {
			r, err := rd.Next()
			if errors.Is(err, io.EOF) {
				c.set(rd.Header.Started.Add(rd.End()))
				return nil
			}
			if err != nil {
				c.set(rd.Header.Started.Add(rd.last))
				warn(err)
				return nil
			}
			c.set(rd.Header.Started.Add(r.At))
			emit(r.Node, r.Line)
		}
		return nil
	}
}
