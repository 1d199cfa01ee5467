package session

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	kfake "k8s.io/client-go/kubernetes/fake"
)

// httpEvent is the shape of a trace -o json record as a real agent writes
// it (recorded by make bench-fanin), with its seq to fill in.
const httpEvent = `{"table":"http_events","v":1,"seq":%d,"time_":1796609226204138508,"pid":23082,"comm":"fanin","local_addr":"127.0.0.1","local_port":45279,"remote_addr":"127.0.0.1","remote_port":41640,"trace_role":"server","major_version":1,"minor_version":1,"req_method":"GET","req_path":"/","req_headers":{"Accept-Encoding":"gzip","Host":"127.0.0.1:45279","User-Agent":"Go-http-client/1.1"},"req_body":"","req_body_size":0,"resp_status":200,"resp_message":"OK","resp_headers":{"Content-Length":"31","Content-Type":"text/plain; charset=utf-8","Date":"Mon, 07 Dec 2026 02:07:06 GMT"},"resp_body":"<redacted 31 bytes>","resp_body_size":31,"latency":120228}` + "\n"

// agentLog is a whole agent output of n events and its final record.
func agentLog(n int) []byte {
	var b bytes.Buffer
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&b, httpEvent, i)
	}
	fmt.Fprintf(&b, "{\"table\":\"probe_stats\",\"seq\":%d,\"final\":true}\n", n+1)
	return b.Bytes()
}

// BenchmarkStreamRecord is the plugin's cost per record read off a log
// stream (read its header, keep a copy): with the merge (BenchmarkJSONLine
// in plugin/driver), what bounds -o json.
func BenchmarkStreamRecord(b *testing.B) {
	log := agentLog(1000)
	b.ReportAllocs()
	for b.Loop() {
		st := newStream("node-000")
		_ = st.read(bytes.NewReader(log), func(Line) {})
		b.StopTimer() // per record, not per stream
		b.StartTimer()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/1001, "ns/record")
}

// BenchmarkRunFanIn500 runs a whole session of 500 nodes (fake API, pods
// started at once, every log whole in memory): creation, watch, 500
// streams merged into one, deletion. ns/record is the merge path's cost
// per record under 500 concurrent streams.
func BenchmarkRunFanIn500(b *testing.B) {
	const nodes, perNode = 500, 200
	log := agentLog(perNode)
	b.ReportAllocs()
	for b.Loop() {
		client := kfake.NewClientset()
		ctx, cancel := context.WithCancel(context.Background())
		go startAll(ctx, client)
		o := testOptions(client, nil, io.Discard)
		o.logs = func(context.Context, string, string) (io.ReadCloser, error) {
			return io.NopCloser(bytes.NewReader(log)), nil
		}
		o.Targets = nodeNames(nodes)
		o.Window = time.Minute
		got := 0
		if _, err := Run(context.Background(), o, func(Line) { got++ }); err != nil {
			b.Fatal(err)
		}
		cancel()
		if want := nodes * (perNode + 1); got != want {
			b.Fatalf("%d records merged, want %d", got, want)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(nodes*(perNode+1)), "ns/record")
}

// startAll marks every probe pod running as it is created.
func startAll(ctx context.Context, client *kfake.Clientset) {
	w, err := client.CoreV1().Pods("pixie").Watch(ctx, metav1.ListOptions{})
	if err != nil {
		return
	}
	var mu sync.Mutex
	for ev := range w.ResultChan() {
		p, ok := ev.Object.(*corev1.Pod)
		if !ok || ev.Type != watch.Added {
			continue
		}
		p = p.DeepCopy()
		p.Status.Phase = corev1.PodRunning
		p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "probe", ContainerID: "containerd://x", State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}}
		mu.Lock()
		_, _ = client.CoreV1().Pods("pixie").UpdateStatus(ctx, p, metav1.UpdateOptions{})
		mu.Unlock()
	}
}
