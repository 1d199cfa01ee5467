//go:build linux

package socktrace

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/kubectl-pixie/kubectl-pixie/probes/api"
	"github.com/kubectl-pixie/kubectl-pixie/probes/conn"
	"github.com/kubectl-pixie/kubectl-pixie/probes/internal/probetest"
	"github.com/kubectl-pixie/kubectl-pixie/probes/protocols/http1"
)

// helperH1Raw serves HTTP/1 on addr with one read per call of up to 4 KiB
// and the answers it chooses to write in one call or several: each read
// is what the kernel sees, so the test decides where requests are split.
// /big answers 10000 bytes in two writes, /chunked a chunked body, others
// an echo of the request body's size ("n=5").
func helperH1Raw(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	fmt.Println(ln.Addr().String())
	for {
		c, err := ln.Accept()
		if err != nil {
			return err
		}
		go serveH1Raw(c)
	}
}

func serveH1Raw(c net.Conn) {
	defer c.Close()
	var in []byte
	buf := make([]byte, 4096)
	for {
		n, err := c.Read(buf)
		if err != nil {
			return
		}
		in = append(in, buf[:n]...)
		for {
			end := bytes.Index(in, []byte("\r\n\r\n"))
			if end < 0 {
				break
			}
			head := string(in[:end])
			body := 0
			for _, l := range strings.Split(head, "\r\n") {
				if v, ok := strings.CutPrefix(strings.ToLower(l), "content-length:"); ok {
					body, _ = strconv.Atoi(strings.TrimSpace(v))
				}
			}
			if len(in) < end+4+body {
				break
			}
			in = in[end+4+body:]
			path := strings.Fields(head)[1]
			switch path {
			case "/big":
				c.Write([]byte("HTTP/1.1 200 OK\r\nContent-Length: 10000\r\n\r\n" + strings.Repeat("b", 4000)))
				c.Write([]byte(strings.Repeat("b", 6000)))
			case "/chunked":
				c.Write([]byte("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"))
			default:
				b := fmt.Sprintf("n=%d", body)
				fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", len(b), b)
			}
		}
	}
}

// rawExchange writes each of writes (pausing between them, so the server
// reads them apart) and reads until want responses ended.
func rawExchange(t *testing.T, c net.Conn, want int, writes ...string) {
	t.Helper()
	for i, w := range writes {
		if i > 0 {
			time.Sleep(50 * time.Millisecond)
		}
		_, err := io.WriteString(c, w)
		require.NoError(t, err)
	}
	var got []byte
	buf := make([]byte, 16384)
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	for strings.Count(string(got), "HTTP/1.1 200") < want || !responsesEnd(got) {
		n, err := c.Read(buf)
		require.NoError(t, err, "after %q", got)
		got = append(got, buf[:n]...)
	}
}

// responsesEnd: the last response's body is whole (the helper's bodies).
func responsesEnd(b []byte) bool {
	s := string(b)
	return strings.HasSuffix(s, "0\r\n\r\n") || strings.HasSuffix(s, strings.Repeat("b", 100)) ||
		strings.Contains(s[max(0, len(s)-8):], "n=")
}

// TestHTTP1Summary runs the kernel's HTTP/1 summaries against a real
// server: a keep-alive connection is summarized whole (one record per
// request, no data event), and each case the kernel cannot decide hands
// the connection to the payload path, counted by reason; the tracker then
// makes the same records of both.
func TestHTTP1Summary(t *testing.T) {
	probetest.RequirePrivileged(t)
	srv := startHelper(t, "h1raw", "127.0.0.1:0")
	col := startH1Tracer(t, Config{PIDs: []uint32{srv.pid()}, HTTP1Summary: true})
	require.True(t, col.tr.HTTP1Summary(), "this kernel has bpf_loop: summaries must be on")

	dial := func() net.Conn {
		c, err := net.Dial("tcp", srv.first)
		require.NoError(t, err)
		t.Cleanup(func() { c.Close() })
		return c
	}
	// Summarized: 20 GETs, a body over two writes, a request body apart.
	keep := dial()
	for range 20 {
		rawExchange(t, keep, 1, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
	}
	rawExchange(t, keep, 1, "GET /big HTTP/1.1\r\nHost: x\r\n\r\n")
	rawExchange(t, keep, 1, "POST /echo HTTP/1.1\r\nContent-Length: 5\r\n\r\n", "hello")
	// Payload: pipelined requests, a split request line, a chunked answer.
	rawExchange(t, dial(), 2, "GET /p1 HTTP/1.1\r\n\r\nGET /p2 HTTP/1.1\r\n\r\n")
	rawExchange(t, dial(), 1, "GE", "T /split HTTP/1.1\r\n\r\n")
	rawExchange(t, dial(), 1, "GET /chunked HTTP/1.1\r\n\r\n")

	evs := col.wait(t, func(st Stats) bool { return st.HTTP1Summaries >= 22 && st.HTTP1Fallbacks[FallbackFraming] >= 1 })
	st := col.tr.Stats()
	require.EqualValues(t, 22, st.HTTP1Summaries)
	require.Equal(t, map[string]uint64{FallbackConn: 0, FallbackPipelined: 1, FallbackSplit: 1, FallbackFraming: 1, FallbackFull: 0}, st.HTTP1Fallbacks)

	var sums, handoffs int
	for _, e := range evs {
		switch e.Kind {
		case conn.KindHTTP1:
			sums++
			require.Equal(t, conn.RoleServer, e.Role)
		case conn.KindHTTP1Handoff:
			handoffs++
			require.Equal(t, conn.HTTP1Wait, e.HTTP1.State, "the chunked answer's request")
			require.Equal(t, "/chunked", string(e.HTTP1.Target))
		}
	}
	require.Equal(t, 22, sums)
	require.Equal(t, 1, handoffs)

	// The tracker makes every record exactly, from summaries and payload.
	recs, tk := trackHTTP1(evs)
	var paths []string
	for _, r := range recs {
		paths = append(paths, r.ReqPath)
		require.Equal(t, 200, r.RespStatus, r.ReqPath)
		require.Greater(t, r.Latency, int64(0), r.ReqPath)
		switch r.ReqPath {
		case "/big":
			require.EqualValues(t, 10000, r.RespBodySize)
		case "/echo":
			require.EqualValues(t, 5, r.ReqBodySize)
			require.EqualValues(t, 3, r.RespBodySize)
		case "/chunked":
			require.EqualValues(t, 3, r.RespBodySize)
		}
	}
	want := append(strings.Split(strings.Repeat("/hello ", 20), " ")[:20], "/big", "/echo", "/p1", "/p2", "/split", "/chunked")
	require.ElementsMatch(t, want, paths)
	ts := tk.Stats()
	require.Zero(t, ts.Gaps+ts.ParseErrors+ts.UnmatchedRequests+ts.UnmatchedResponses+ts.DroppedSummaries, "%+v", ts)
}

// h1Collector keeps deep copies of a tracer's events, summaries included.
type h1Collector struct {
	tr     *Tracer
	mu     sync.Mutex
	events []conn.Event
}

func startH1Tracer(t *testing.T, cfg Config) *h1Collector {
	t.Helper()
	tr, err := New(cfg)
	require.NoError(t, err)
	c := &h1Collector{tr: tr}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- tr.Run(ctx, func(e *conn.Event) {
			cp := *e
			cp.Data, cp.Tail, cp.Pieces = bytes.Clone(e.Data), bytes.Clone(e.Tail), nil
			if e.HTTP1 != nil {
				h := *e.HTTP1
				h.Target = bytes.Clone(h.Target)
				cp.HTTP1 = &h
			}
			c.mu.Lock()
			c.events = append(c.events, cp)
			c.mu.Unlock()
		})
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		tr.Close()
	})
	return c
}

// wait polls the tracer's counters until cond, then lets the ring drain.
func (c *h1Collector) wait(t *testing.T, cond func(Stats) bool) []conn.Event {
	t.Helper()
	for end := time.Now().Add(10 * time.Second); !cond(c.tr.Stats()); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatalf("counters never got there: %+v", c.tr.Stats())
		}
	}
	time.Sleep(2 * FlushInterval)
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]conn.Event(nil), c.events...)
}

// sendmmsg writes b on c in one sendmmsg(2) call of one message.
func sendmmsg(t *testing.T, c net.Conn, b []byte) {
	t.Helper()
	raw, err := c.(*net.TCPConn).SyscallConn()
	require.NoError(t, err)
	var n int
	require.NoError(t, raw.Write(func(fd uintptr) bool {
		n, err = mmsgCall(unix.SYS_SENDMMSG, int(fd), [][]byte{b})
		return true
	}))
	require.NoError(t, err)
	require.Equal(t, 1, n)
}

// TestHTTP1SummaryMmsg: a connection summarized so far that sends a
// request with sendmmsg goes to the payload path from that call (no stack
// is left for the parser in the *mmsg exits), counted as conn; the
// records of both requests stay exact. The client here is this process.
func TestHTTP1SummaryMmsg(t *testing.T) {
	probetest.RequirePrivileged(t)
	srv := startHelper(t, "h1raw", "127.0.0.1:0")
	col := startH1Tracer(t, Config{PIDs: []uint32{uint32(os.Getpid())}, HTTP1Summary: true})
	require.True(t, col.tr.HTTP1Summary())
	c, err := net.Dial("tcp", srv.first)
	require.NoError(t, err)
	defer c.Close()
	rawExchange(t, c, 1, "GET /first HTTP/1.1\r\nHost: x\r\n\r\n")
	sendmmsg(t, c, []byte("GET /second HTTP/1.1\r\nHost: x\r\n\r\n"))
	rawExchange(t, c, 1)

	evs := col.wait(t, func(st Stats) bool { return st.HTTP1Summaries >= 1 && st.HTTP1Fallbacks[FallbackConn] >= 1 })
	st := col.tr.Stats()
	require.EqualValues(t, 1, st.HTTP1Summaries)
	require.Equal(t, map[string]uint64{FallbackConn: 1, FallbackPipelined: 0, FallbackSplit: 0, FallbackFraming: 0, FallbackFull: 0}, st.HTTP1Fallbacks)

	recs, tk := trackHTTP1(evs)
	var paths []string
	for _, r := range recs {
		paths = append(paths, r.ReqPath)
		require.Equal(t, 200, r.RespStatus, r.ReqPath)
		require.EqualValues(t, 3, r.RespBodySize, r.ReqPath)
	}
	require.Equal(t, []string{"/first", "/second"}, paths)
	ts := tk.Stats()
	require.Zero(t, ts.Gaps+ts.ParseErrors+ts.UnmatchedRequests+ts.UnmatchedResponses+ts.DroppedSummaries, "%+v", ts)
}

// trackHTTP1 makes the records of evs as the agent does, from summaries
// and payload alike, with the tracker for its counts.
func trackHTTP1(evs []conn.Event) ([]*api.HTTPEvent, *conn.Tracker) {
	var recs []*api.HTTPEvent
	tk := conn.NewTracker(conn.Options{Protocols: []conn.Protocol{http1.Protocol{}}, Summaries: http1.Protocol{}, NoHeaders: true, BodyLimit: -1, Access: api.DataAccessFull},
		func(_ conn.Protocol, r api.Record) { recs = append(recs, r.(*api.HTTPEvent)) })
	for i := range evs {
		tk.Handle(&evs[i])
	}
	tk.Flush()
	return recs, tk
}
