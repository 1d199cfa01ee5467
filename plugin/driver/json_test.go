package driver

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"
)

// seenWriter records what reached it, safely for the flushing goroutine.
type seenWriter struct {
	mu     sync.Mutex
	b      bytes.Buffer
	writes int
}

func (w *seenWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.writes++
	return w.b.Write(p)
}

func (w *seenWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

// -o json is buffered, but a consumer reading as the run goes (jq, tail)
// gets each record within FlushEvery, while the source is still running;
// many records go out in few writes.
func TestJSONFlushedWhileRunning(t *testing.T) {
	out := &seenWriter{}
	const n = 1000
	err := Run(context.Background(), func(_ context.Context, emit func(string, []byte)) error {
		for i := range n {
			emit("n1", fmt.Appendf(nil, `{"table":"http_events","seq":%d}`, i+1))
		}
		start := time.Now()
		want := fmt.Sprintf(`"seq":%d}`+"\n", n)
		for !bytes.HasSuffix([]byte(out.String()), []byte(want)) {
			if time.Since(start) > 10*FlushEvery {
				return fmt.Errorf("the last record not written %s after it came (FlushEvery %s)", time.Since(start), FlushEvery)
			}
			time.Sleep(time.Millisecond)
		}
		return nil
	}, PassThrough{}, Options{Out: out, JSON: true})
	if err != nil {
		t.Fatal(err)
	}
	if got := bytes.Count([]byte(out.String()), []byte("\n")); got != n {
		t.Errorf("%d records written, want %d", got, n)
	}
	if out.writes > n/10 {
		t.Errorf("%d writes for %d records: not buffered", out.writes, n)
	}
}

// BenchmarkJSONLine is the merging goroutine's cost per record passed
// through by -o json into a file: with hundreds of busy nodes, what bounds
// how many records per second the plugin keeps.
func BenchmarkJSONLine(b *testing.B) {
	f, err := os.CreateTemp(b.TempDir(), "out")
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	s := NewScreen(PassThrough{}, Options{Out: f, JSON: true})
	line := []byte(`{"table":"http_events","v":1,"seq":7,"time_":1796609226204138508,"pid":23082,"comm":"fanin","local_addr":"127.0.0.1","local_port":45279,"remote_addr":"127.0.0.1","remote_port":41640,"trace_role":"server","req_method":"GET","req_path":"/","resp_status":200,"latency":120228}`)
	b.ReportAllocs()
	for b.Loop() {
		s.Line("node-001", line)
	}
	_ = s.End(nil)
}
