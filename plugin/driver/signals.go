package driver

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
)

// Signals returns a context cancelled by the first stop signal: Ctrl-C,
// SIGTERM, and on Unix also a closed terminal (SIGHUP), SIGQUIT and a
// closed output pipe (SIGPIPE; the write then fails with EPIPE instead of
// killing the process). It is the plugin's one signal handler: the probes
// stop, flush and are deleted on the cancelled context. Later signals are
// caught too, so a second Ctrl-C cannot cut the cleanup short; they only
// say what is going on. first, if set, runs at the first signal before the
// context is cancelled. stop releases the signals.
func Signals(ctx context.Context, errOut io.Writer, first func()) (context.Context, func()) {
	ctx, cancel := context.WithCancel(ctx)
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, stopSignals...)
	done := make(chan struct{})
	go func() {
		stopping, said := false, false
		for {
			select {
			case <-done:
				return
			case <-sigs:
				if !stopping {
					stopping = true
					if first != nil {
						first()
					}
					cancel()
					continue
				}
				if errOut != nil && !said { // once: stderr may be the broken pipe
					said = true
					fmt.Fprintln(errOut, "stopping: the probes are flushing and being cleaned up (probe pods also end by themselves at their deadline)")
				}
			}
		}
	}()
	var once bool
	return ctx, func() {
		if once {
			return
		}
		once = true
		signal.Stop(sigs)
		close(done)
		cancel()
	}
}
