//go:build linux

package local

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"
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
	URLs     []string `json:"urls"`     // requested in order, on one keep-alive connection
	Method   string   `json:"method"`   // default GET
	BodySize int      `json:"body_size"` // request body bytes (POST)
	Pre      int      `json:"pre"`      // requests made before waiting for a line on stdin
}

// clientResult is what the client measured itself.
type clientResult struct {
	Latencies []int64 `json:"lat"` // ns, after Pre
	Statuses  []int   `json:"status"`
	Bytes     []int64 `json:"bytes"`
}

// clientMain is the Go client role: sequential requests on one keep-alive
// connection, each timed from before the request is written to after the
// whole body is read.
func clientMain() {
	var plan clientPlan
	if err := json.Unmarshal([]byte(os.Args[1]), &plan); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	if plan.Method == "" {
		plan.Method = http.MethodGet
	}
	c := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1, MaxConnsPerHost: 1, DisableCompression: true}}
	do := func(url string) (int, int64, time.Duration) {
		var body io.Reader
		if plan.BodySize > 0 {
			body = bytes.NewReader(bytes.Repeat([]byte("b"), plan.BodySize))
		}
		req, _ := http.NewRequest(plan.Method, url, body)
		start := time.Now()
		resp, err := c.Do(req)
		if err != nil {
			fmt.Fprintln(os.Stderr, "client:", err)
			os.Exit(1)
		}
		n, _ := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode, n, time.Since(start)
	}
	for i := 0; i < plan.Pre; i++ {
		do(plan.URLs[0])
	}
	if plan.Pre > 0 {
		fmt.Println("ready")
		bufio.NewReader(os.Stdin).ReadString('\n')
	}
	var res clientResult
	for _, u := range plan.URLs {
		st, n, d := do(u)
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

func hasPrefixAny(s string, ps ...string) bool {
	for _, p := range ps {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
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
