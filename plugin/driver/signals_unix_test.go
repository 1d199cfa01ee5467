//go:build unix

package driver

import (
	"bytes"
	"context"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// Every stop signal (a closed terminal, SIGQUIT, a closed pipe, Ctrl-C,
// SIGTERM) ends the run the normal way: the first says Options.Stopping,
// the source's context is cancelled and it still returns its final
// records; the process survives, and a second signal during the cleanup
// only says so.
func TestStopSignalsEndTheRunNormally(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGHUP, syscall.SIGQUIT, syscall.SIGPIPE, syscall.SIGINT, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			var out bytes.Buffer
			errOut := &lockedBuffer{}
			started := make(chan struct{})
			done := make(chan error, 1)
			go func() {
				done <- Run(context.Background(), func(ctx context.Context, emit func(string, []byte)) error {
					close(started)
					<-ctx.Done()
					// The probes flush after the stop: a second signal
					// arrives meanwhile.
					_ = syscall.Kill(os.Getpid(), sig)
					time.Sleep(100 * time.Millisecond)
					emit("", []byte(`{"table":"final"}`))
					return nil
				}, PassThrough{}, Options{Out: &out, ErrOut: errOut, JSON: true, Stopping: "stopping: the test's message"})
			}()
			<-started
			if err := syscall.Kill(os.Getpid(), sig); err != nil {
				t.Fatal(err)
			}
			select {
			case err := <-done:
				if err != nil {
					t.Fatal(err)
				}
			case <-time.After(10 * time.Second):
				t.Fatalf("%v did not stop the run", sig)
			}
			if !strings.Contains(out.String(), `"final"`) {
				t.Errorf("final records lost: %q", out.String())
			}
			if !strings.Contains(errOut.String(), "stopping: the probes") {
				t.Errorf("second signal not reported: %q", errOut.String())
			}
			if strings.Count(errOut.String(), "stopping: the test's message\n") != 1 {
				t.Errorf("the first signal's message not said once: %q", errOut.String())
			}
		})
	}
}
