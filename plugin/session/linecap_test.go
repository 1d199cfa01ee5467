package session

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	kfake "k8s.io/client-go/kubernetes/fake"

	"github.com/kubectl-pixie/kubectl-pixie/plugin/ndjson"
)

// endless is a log stream that never ends its line.
type endless struct{}

func (endless) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 'x'
	}
	return len(p), nil
}

// A pod log line over the cap is an error, not an ever-growing buffer (the
// stream had no cap at all).
func TestStreamCapsLines(t *testing.T) {
	s := newStream("n1")
	err := s.read(io.MultiReader(strings.NewReader(`{"table":"probe_ready","seq":1}`+"\n"), endless{}), func(Line) {})
	var tl *ndjson.TooLongError
	if !errors.As(err, &tl) || s.records != 1 {
		t.Fatalf("err %v after %d records, want a TooLongError after 1", err, s.records)
	}
}

// The node whose stream has a line over the cap fails with a clear error
// at once (a reconnect would replay the same line forever); its pod is
// deleted.
func TestRunFailsANodeWithALineOverTheCap(t *testing.T) {
	client := kfake.NewClientset()
	k := &fakeKubelet{client: client, conns: map[string]int{}}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go k.run(ctx, t)
	var errOut bytes.Buffer
	o := testOptions(client, k, &errOut)
	o.Window = time.Minute
	var mu sync.Mutex
	conns := 0
	o.logs = func(context.Context, string, string) (io.ReadCloser, error) {
		mu.Lock()
		conns++
		mu.Unlock()
		return io.NopCloser(io.MultiReader(strings.NewReader(`{"table":"probe_ready","seq":1}`+"\n"), endless{})), nil
	}
	start := time.Now()
	res, err := Run(context.Background(), o, func(Line) {})
	if err == nil || !strings.Contains(err.Error(), "longer than 16 MiB") || res.Failed() != 2 {
		t.Fatalf("err %v, result %+v", err, res)
	}
	if d := time.Since(start); d > 30*time.Second {
		t.Fatalf("took %s: the window, not the error, ended the run", d)
	}
	if conns != 2 {
		t.Fatalf("%d log connections for 2 nodes, want no reconnect", conns)
	}
}
