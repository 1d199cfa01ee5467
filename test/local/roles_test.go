//go:build linux

package local

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"runtime"
	"strconv"
	"time"

	"github.com/kubectl-pixie/kubectl-pixie/test/internal/stampconn"
)

// serverMain is the Go net/http server role: keep-alive on, routes that
// make chunked, large and error responses. It prints its address.
func serverMain() {
	ln, err := net.Listen("tcp", os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/chunked/{n}", func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(r.PathValue("n"))
		for i := 0; i < n; i++ {
			fmt.Fprintf(w, "chunk %d;", i)
			w.(http.Flusher).Flush() // no Content-Length: chunked encoding
		}
	})
	mux.HandleFunc("/big/{n}", func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(r.PathValue("n"))
		w.Header().Set("Content-Length", strconv.Itoa(n))
		w.Write(bytes.Repeat([]byte("x"), n))
	})
	mux.HandleFunc("/status/{code}", func(w http.ResponseWriter, r *http.Request) {
		code, _ := strconv.Atoi(r.PathValue("code"))
		w.WriteHeader(code)
		fmt.Fprintf(w, "status %d", code)
	})
	mux.HandleFunc("/sleep/{ms}", func(w http.ResponseWriter, r *http.Request) {
		ms, _ := strconv.Atoi(r.PathValue("ms"))
		time.Sleep(time.Duration(ms) * time.Millisecond)
		fmt.Fprint(w, "slept")
	})
	mux.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) {
		n, _ := io.Copy(io.Discard, r.Body)
		fmt.Fprintf(w, "%d", n)
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "ok")
	})
	fmt.Println(ln.Addr().String())
	_ = http.Serve(ln, mux)
}

// clientPlan tells the client role what to do.
type clientPlan struct {
	URLs     []string `json:"urls"`      // requested in order, on one keep-alive connection
	Method   string   `json:"method"`    // default GET
	BodySize int      `json:"body_size"` // request body bytes (POST)
	Pre      int      `json:"pre"`       // requests made before waiting for a line on stdin
	Wait     bool     `json:"wait"`      // wait for a line on stdin even without Pre requests
	TLS      bool     `json:"tls"`       // over crypto/tls (any certificate)
	// Deep writes each request from a new goroutine, one small frame
	// deeper than the last: a few of those writes find the stack too
	// small at tls.(*Conn).Write's stack check and run it again after
	// morestack.
	Deep bool `json:"deep,omitempty"`
	// Resolver is a DNS server's "ip:port" that resolves the URLs' host
	// names (through Go's resolver) instead of the system's.
	Resolver string `json:"resolver,omitempty"`
}

// clientResult is what the client measured itself.
type clientResult struct {
	Latencies []int64 `json:"lat"`       // ns, after Pre
	Preempted []bool  `json:"preempted"` // the kernel preempted the client's thread during the request
	Statuses  []int   `json:"status"`
	Bytes     []int64 `json:"bytes"`
}

// clientMain is the client role: sequential requests on one keep-alive
// connection, each timed from just before the request's first write to
// just after the read that brought its last byte (see stampconn). It
// speaks HTTP/1.1 over a net.Conn (with net/http's parser) rather than
// through http.Client, whose connection pool and writer goroutine would
// add scheduling time that no syscall sees.
func clientMain() {
	var plan clientPlan
	if err := json.Unmarshal([]byte(os.Args[1]), &plan); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	if plan.Method == "" {
		plan.Method = http.MethodGet
	}
	var c *stampconn.Conn
	var br *bufio.Reader
	depth := 0
	do := func(rawURL string) (int, int64, time.Duration) {
		u, err := url.Parse(rawURL)
		if err != nil {
			fatalf("client: %v", err)
		}
		if c == nil {
			if c, err = dial(u.Host, plan.TLS, plan.Resolver); err != nil {
				fatalf("client: %v", err)
			}
			br = bufio.NewReader(c)
		}
		var req bytes.Buffer
		fmt.Fprintf(&req, "%s %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: pixie-test\r\n", plan.Method, u.RequestURI(), u.Host)
		if plan.BodySize > 0 {
			fmt.Fprintf(&req, "Content-Length: %d\r\n\r\n", plan.BodySize)
			req.Write(bytes.Repeat([]byte("b"), plan.BodySize))
		} else {
			req.WriteString("\r\n")
		}
		c.Arm()
		write := func() error { _, err := c.Write(req.Bytes()); return err }
		if plan.Deep {
			depth++
			err = onNewStack(depth, write)
		} else {
			err = write()
		}
		if err != nil {
			fatalf("client: %v", err)
		}
		resp, err := http.ReadResponse(br, &http.Request{Method: plan.Method})
		if err != nil {
			fatalf("client: %v", err)
		}
		n, err := io.Copy(io.Discard, resp.Body)
		if err != nil {
			fatalf("client: %v", err)
		}
		resp.Body.Close()
		return resp.StatusCode, n, c.Span()
	}
	for i := 0; i < plan.Pre; i++ {
		do(plan.URLs[0])
	}
	if plan.Pre > 0 || plan.Wait {
		fmt.Println("ready")
		bufio.NewReader(os.Stdin).ReadString('\n')
	}
	var res clientResult
	runtime.LockOSThread() // for threadPreemptions
	for _, u := range plan.URLs {
		before := threadPreemptions()
		st, n, d := do(u)
		res.Preempted = append(res.Preempted, threadPreemptions() != before)
		res.Latencies = append(res.Latencies, d.Nanoseconds())
		res.Statuses = append(res.Statuses, st)
		res.Bytes = append(res.Bytes, n)
	}
	b, _ := json.Marshal(res)
	fmt.Println(string(b))
	// Stay alive until killed, so the connection closes after the trace
	// read everything.
	bufio.NewReader(os.Stdin).ReadString('\n')
}

// onNewStack runs f on a new goroutine (a new, small stack) under depth
// frames of descend.
func onNewStack(depth int, f func() error) error {
	done := make(chan error)
	go func() { done <- descend(depth, f) }()
	return <-done
}

//go:noinline
func descend(n int, f func() error) error {
	if n == 0 {
		return f()
	}
	return descend(n-1, f)
}

// dial connects to addr, over crypto/tls if asked, and times the
// connection's writes and reads: the socket's, or tls.Conn's, where the
// Go TLS uprobes sit (their span holds the encryption).
func dial(addr string, overTLS bool, resolver string) (*stampconn.Conn, error) {
	var d net.Dialer
	if resolver != "" {
		d.Resolver = &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var rd net.Dialer
			return rd.DialContext(ctx, network, resolver)
		}}
	}
	c, err := d.Dial("tcp", addr)
	if err != nil || !overTLS {
		return stampconn.New(c), err
	}
	tc := tls.Client(c, &tls.Config{InsecureSkipVerify: true})
	return stampconn.New(tc), tc.Handshake()
}

func fatalf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, format+"\n", args...)
	os.Exit(1)
}

func planArg(p clientPlan) string {
	b, _ := json.Marshal(p)
	return string(b)
}

func urls(base string, paths ...string) []string {
	var out []string
	for _, p := range paths {
		out = append(out, "http://"+base+p)
	}
	return out
}

func nPaths(format string, n int) []string {
	var out []string
	for i := 0; i < n; i++ {
		out = append(out, fmt.Sprintf(format, i))
	}
	return out
}

func parseClient(t interface {
	Helper()
	Fatalf(string, ...any)
}, line string) clientResult {
	t.Helper()
	var r clientResult
	if err := json.Unmarshal([]byte(line), &r); err != nil {
		t.Fatalf("client output %q: %v", line, err)
	}
	return r
}
