package http1

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/kubectl-pixie/kubectl-pixie/probes/conn"
)

// Recorded streams: real exchanges between curl and nginx or a Go
// net/http server, captured by a recording proxy on 127.0.0.1 and stored
// in testdata/streams as <name>.req, <name>.resp and <name>.want. The
// .want lines are what curl itself reported (-w): method, path, status and
// downloaded body size, so the expectations do not come from this parser.
//
// Re-record with: PIXIE_RECORD_STREAMS=1 go test -run TestRecordStreams ./probes/protocols/http1/
// (needs nginx and curl).

const streamsDir = "testdata/streams"

type recorded struct {
	name      string
	req, resp []byte
	want      []string // "METHOD PATH STATUS SIZE"
}

func recordedStreams(tb testing.TB) []recorded {
	tb.Helper()
	names, _ := filepath.Glob(filepath.Join(streamsDir, "*.want"))
	var out []recorded
	for _, n := range names {
		base := strings.TrimSuffix(n, ".want")
		r := recorded{name: filepath.Base(base)}
		var err error
		if r.req, err = os.ReadFile(base + ".req"); err != nil {
			tb.Fatal(err)
		}
		if r.resp, err = os.ReadFile(base + ".resp"); err != nil {
			tb.Fatal(err)
		}
		w, err := os.ReadFile(n)
		if err != nil {
			tb.Fatal(err)
		}
		r.want = strings.Split(strings.TrimSpace(string(w)), "\n")
		out = append(out, r)
	}
	return out
}

// TestRecordedStreams parses the recorded exchanges, cut into calls in
// several ways, on both sides, and compares with what curl reported.
func TestRecordedStreams(t *testing.T) {
	streams := recordedStreams(t)
	if len(streams) == 0 {
		t.Fatalf("no recorded streams in %s", streamsDir)
	}
	for _, rs := range streams {
		for _, role := range []conn.Role{conn.RoleClient, conn.RoleServer} {
			for _, cut := range []int{0, 1, 7, 100, 1460, 4096} {
				name := fmt.Sprintf("%s/%s/cut%d", rs.name, role, cut)
				t.Run(name, func(t *testing.T) {
					h := newHarness(t, conn.Options{})
					h.Open(role)
					reqDir, respDir := conn.Ingress, conn.Egress
					if role == conn.RoleClient {
						reqDir, respDir = conn.Egress, conn.Ingress
					}
					// Requests first, then responses: the order of a
					// pipelining client; curl waits for each response,
					// which the split tests cover.
					for _, p := range cutEvery(rs.req, cut) {
						h.Call(reqDir, string(p), 0, 0)
					}
					for _, p := range cutEvery(rs.resp, cut) {
						h.Call(respDir, string(p), 0, 0)
					}
					h.Close()
					var got []string
					for _, r := range h.Recs {
						got = append(got, fmt.Sprintf("%s %s %d %d", r.ReqMethod, r.ReqPath, r.RespStatus, r.RespBodySize))
					}
					if strings.Join(got, "\n") != strings.Join(rs.want, "\n") {
						t.Errorf("records:\n%s\nwant (from curl):\n%s", strings.Join(got, "\n"), strings.Join(rs.want, "\n"))
					}
					if st := h.Stats(); st.ParseErrors+st.Resyncs+st.UnmatchedRequests+st.UnmatchedResponses != 0 {
						t.Errorf("stats %+v", st)
					}
				})
			}
		}
	}
}

// cutEvery cuts b into pieces of n bytes (n == 0: one piece).
func cutEvery(b []byte, n int) [][]byte {
	if n <= 0 {
		return [][]byte{b}
	}
	var out [][]byte
	for len(b) > n {
		out = append(out, b[:n])
		b = b[n:]
	}
	return append(out, b)
}

// TestRecordStreams records the streams (opt-in, see above).
func TestRecordStreams(t *testing.T) {
	if os.Getenv("PIXIE_RECORD_STREAMS") != "1" {
		t.Skip("set PIXIE_RECORD_STREAMS=1 to re-record testdata/streams (needs nginx and curl)")
	}
	for _, c := range []string{"nginx", "curl"} {
		if _, err := exec.LookPath(c); err != nil {
			t.Fatalf("%s not found: %v", c, err)
		}
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "index.html"), []byte("<html>hello from nginx</html>\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "big.bin"), bytes.Repeat([]byte("0123456789abcdef"), 48<<10/16), 0o644); err != nil {
		t.Fatal(err)
	}
	nginxAddr := startNginx(t, dir)
	goAddr := startGoServer(t)

	rec := func(name, target string, args ...string) {
		t.Helper()
		p := newRecProxy(t, target)
		var cmdArgs []string
		// Bodies go to stdout (-o covers one URL only), the -w lines to stderr.
		cmdArgs = append(cmdArgs, "-sS", "-w", "%{stderr}%{method} %{url_effective} %{http_code} %{size_download}\\n")
		for _, a := range args {
			cmdArgs = append(cmdArgs, strings.ReplaceAll(a, "ADDR", p.addr))
		}
		var out bytes.Buffer
		cmd := exec.Command("curl", cmdArgs...)
		cmd.Stdout, cmd.Stderr = io.Discard, &out
		if err := cmd.Run(); err != nil {
			t.Fatalf("curl %v: %v", cmdArgs, err)
		}
		req, resp := p.wait()
		var want []string
		for _, l := range strings.Split(strings.TrimSpace(out.String()), "\n") {
			f := strings.Fields(l)
			path := f[1][strings.Index(f[1][len("http://"):], "/")+len("http://"):]
			want = append(want, fmt.Sprintf("%s %s %s %s", f[0], path, f[2], f[3]))
		}
		base := filepath.Join(streamsDir, name)
		for ext, b := range map[string][]byte{".req": req, ".resp": resp, ".want": []byte(strings.Join(want, "\n") + "\n")} {
			if err := os.WriteFile(base+ext, b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		t.Logf("%s: %d request bytes, %d response bytes, %d exchanges", name, len(req), len(resp), len(want))
	}
	if err := os.MkdirAll(streamsDir, 0o755); err != nil {
		t.Fatal(err)
	}
	rec("nginx-keepalive", nginxAddr, "http://ADDR/", "http://ADDR/index.html?x=1", "http://ADDR/missing")
	rec("nginx-head", nginxAddr, "-I", "http://ADDR/index.html")
	rec("nginx-304", nginxAddr, "-H", "If-Modified-Since: Fri, 01 Jan 2100 00:00:00 GMT", "http://ADDR/index.html")
	rec("nginx-big", nginxAddr, "http://ADDR/big.bin", "http://ADDR/index.html")
	rec("nginx-http10", nginxAddr, "--http1.0", "http://ADDR/index.html")
	rec("go-chunked", goAddr, "http://ADDR/stream?n=5", "http://ADDR/stream?n=0")
	rec("go-100-continue", goAddr, "-H", "Expect: 100-continue", "--data-binary", "@"+filepath.Join(dir, "index.html"), "http://ADDR/echo")
	rec("go-chunked-request", goAddr, "-H", "Transfer-Encoding: chunked", "--data-binary", "@"+filepath.Join(dir, "big.bin"), "http://ADDR/echo")
	rec("go-http10-close", goAddr, "--http1.0", "http://ADDR/stream?n=3")
	rec("go-204-auth", goAddr, "-u", "user:pass", "-b", "sid=1", "http://ADDR/nocontent", "http://ADDR/echo")
}

func startNginx(t *testing.T, root string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	conf := fmt.Sprintf(`daemon off; master_process off; worker_processes 1; pid %[1]s/nginx.pid; error_log %[1]s/error.log;
events { worker_connections 64; }
http { access_log off; sendfile on; keepalive_timeout 10; if_modified_since before;
  client_body_temp_path %[1]s; proxy_temp_path %[1]s; fastcgi_temp_path %[1]s; uwsgi_temp_path %[1]s; scgi_temp_path %[1]s;
  server { listen %[2]s; root %[1]s; } }
`, root, addr)
	cf := filepath.Join(root, "nginx.conf")
	if err := os.WriteFile(cf, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("nginx", "-c", cf, "-p", root)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// SIGTERM: the master stops its workers (SIGKILL would orphan them).
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	})
	for i := 0; i < 100; i++ {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return addr
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("nginx did not listen on %s", addr)
	return ""
}

func startGoServer(t *testing.T) string {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("/stream", func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(r.URL.Query().Get("n"))
		for i := 0; i < n; i++ {
			fmt.Fprintf(w, "line %d of a streamed body\n", i)
			w.(http.Flusher).Flush()
		}
	})
	mux.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Set-Cookie", "sid=2")
		fmt.Fprintf(w, "got %d bytes", len(b))
	})
	mux.HandleFunc("/nocontent", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: mux}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

// recProxy accepts one connection and forwards it to target, keeping
// both directions.
type recProxy struct {
	addr      string
	wg        sync.WaitGroup
	req, resp bytes.Buffer
}

func newRecProxy(t *testing.T, target string) *recProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &recProxy{addr: ln.Addr().String()}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		defer ln.Close()
		c, err := ln.Accept()
		if err != nil {
			return
		}
		s, err := net.Dial("tcp", target)
		if err != nil {
			c.Close()
			return
		}
		var inner sync.WaitGroup
		inner.Add(2)
		go func() {
			defer inner.Done()
			_, _ = io.Copy(io.MultiWriter(s, &p.req), bufio.NewReader(c))
			_ = s.(*net.TCPConn).CloseWrite()
		}()
		go func() {
			defer inner.Done()
			_, _ = io.Copy(io.MultiWriter(c, &p.resp), s)
			c.Close()
		}()
		inner.Wait()
		s.Close()
	}()
	return p
}

func (p *recProxy) wait() (req, resp []byte) {
	p.wg.Wait()
	return p.req.Bytes(), p.resp.Bytes()
}
