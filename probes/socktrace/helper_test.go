//go:build linux

package socktrace

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The tracer filters by tgid, so the traffic comes from separate processes:
// this test binary re-executed in a helper mode (PIXIE_SOCKTRACE_HELPER),
// and curl.
const helperEnv = "PIXIE_SOCKTRACE_HELPER"

// Response bodies of the helper HTTP server.
const (
	helloBody = "hello from the socktrace test server\n"
	bigSize   = 10000
)

func TestMain(m *testing.M) {
	if mode := os.Getenv(helperEnv); mode != "" {
		if err := runHelper(mode, os.Args[len(os.Args)-1]); err != nil {
			fmt.Fprintln(os.Stderr, "helper:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func runHelper(mode, arg string) error {
	switch mode {
	case "http":
		return helperHTTP(arg)
	case "vecclient":
		return helperVecClient(arg)
	case "udp":
		return helperUDP(arg)
	case "exitopen":
		return helperExitOpen(arg)
	case "https":
		return helperHTTPS(arg)
	case "httpsclient":
		return helperHTTPSClient(arg)
	case "mmsg":
		return helperMMsg(arg)
	case "vecpair":
		return helperVecPair(arg)
	case "h2c":
		return helperH2C(arg)
	case "h1raw":
		return helperH1Raw(arg)
	}
	return fmt.Errorf("unknown helper mode %q", mode)
}

// helperHTTP serves on addr and prints the bound address.
func helperHTTP(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	fmt.Println(ln.Addr().String())
	mux := http.NewServeMux()
	mux.HandleFunc("/hello", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Date", "Mon, 02 Jan 2006 15:04:05 GMT")
		io.WriteString(w, helloBody)
	})
	mux.HandleFunc("/big", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Length", fmt.Sprint(bigSize))
		w.Write([]byte(strings.Repeat("b", bigSize)))
	})
	return http.Serve(ln, mux)
}

// helperVecClient connects to addr at once (before the test starts the
// tracer), then on a line on stdin sends a request with writev (2 iovecs)
// and reads the answer with readv (2 iovecs), and prints it.
func helperVecClient(addr string) error {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return err
	}
	fmt.Println(c.LocalAddr().String())
	if _, err := bufio.NewReader(os.Stdin).ReadString('\n'); err != nil {
		return err
	}
	bufs := net.Buffers{[]byte("GET /hello HTTP/1.1\r\n"), []byte("Host: vec\r\nConnection: close\r\n\r\n")}
	if _, err := bufs.WriteTo(c); err != nil {
		return err
	}
	raw, err := c.(*net.TCPConn).SyscallConn()
	if err != nil {
		return err
	}
	var got []byte
	for {
		a, b := make([]byte, 16), make([]byte, 4096)
		var n int
		var rerr error
		err := raw.Read(func(fd uintptr) bool {
			n, rerr = unix.Readv(int(fd), [][]byte{a, b})
			return rerr != unix.EAGAIN
		})
		if err != nil {
			return err
		}
		if rerr != nil {
			return rerr
		}
		if n == 0 {
			break
		}
		got = append(got, append(a, b...)[:n]...)
	}
	os.Stdout.Write(got)
	return c.Close()
}

// helperUDP sends "ping" from an unconnected UDP socket to an echo server in
// the same process with sendmsg, peeks at it and receives it with recvfrom,
// echoes it with sendto, and receives the echo with recvmsg.
func helperUDP(string) error {
	srv, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return err
	}
	cli, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return err
	}
	fmt.Println(srv.LocalAddr().String(), cli.LocalAddr().String())
	if _, err := bufio.NewReader(os.Stdin).ReadString('\n'); err != nil {
		return err
	}
	if _, _, err := cli.WriteMsgUDP([]byte("ping"), nil, srv.LocalAddr().(*net.UDPAddr)); err != nil {
		return err
	}
	buf := make([]byte, 64)
	// A MSG_PEEK recvfrom first: the tracer must not report it.
	rc, err := srv.SyscallConn()
	if err != nil {
		return err
	}
	var perr error
	if err := rc.Read(func(fd uintptr) bool {
		_, _, perr = unix.Recvfrom(int(fd), buf, unix.MSG_PEEK)
		return perr != unix.EAGAIN
	}); err != nil {
		return err
	}
	if perr != nil {
		return perr
	}
	n, from, err := srv.ReadFromUDP(buf) // recvfrom
	if err != nil {
		return err
	}
	if _, err := srv.WriteToUDP(buf[:n], from); err != nil { // sendto
		return err
	}
	if _, _, _, _, err := cli.ReadMsgUDP(buf, nil); err != nil { // recvmsg
		return err
	}
	return nil
}

// helperExitOpen sends a request on a new connection and exits without
// closing it: the kernel closes the socket, no close(2) runs.
func helperExitOpen(addr string) error {
	if _, err := bufio.NewReader(os.Stdin).ReadString('\n'); err != nil {
		return err
	}
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return err
	}
	if _, err := io.WriteString(c, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		return err
	}
	if _, err := c.Read(make([]byte, 4096)); err != nil {
		return err
	}
	os.Exit(0)
	return nil
}

// helper is a child process started by startHelper.
type helper struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	out   *bufio.Reader
	first string // first line of stdout
}

func (h *helper) pid() uint32 { return uint32(h.cmd.Process.Pid) }

// release writes a line to the helper's stdin (the helpers wait for it).
func (h *helper) release(t testing.TB) {
	t.Helper()
	if _, err := io.WriteString(h.stdin, "go\n"); err != nil {
		t.Fatalf("releasing helper: %v", err)
	}
}

// rest waits for the helper to exit and returns the rest of its stdout.
func (h *helper) rest(t testing.TB) string {
	t.Helper()
	b, err := io.ReadAll(h.out)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.cmd.Wait(); err != nil {
		t.Fatalf("helper %v: %v", h.cmd.Args, err)
	}
	return string(b)
}

// startHelper re-executes the test binary in mode and reads its first line.
func startHelper(t testing.TB, mode, arg string) *helper {
	t.Helper()
	return startHelperLines(t, mode, arg, true)
}

func startHelperLines(t testing.TB, mode, arg string, firstLine bool) *helper {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$", arg)
	cmd.Env = append(os.Environ(), helperEnv+"="+mode)
	return startCmd(t, cmd, firstLine)
}

// startGated starts argv behind a shell that waits for a line on stdin and
// then execs it, so the process can be targeted (by pid) before it runs.
func startGated(t testing.TB, argv ...string) *helper {
	t.Helper()
	cmd := exec.Command("sh", append([]string{"-c", `read _ && exec "$@"`, "sh"}, argv...)...)
	return startCmd(t, cmd, false)
}

func startCmd(t testing.TB, cmd *exec.Cmd, firstLine bool) *helper {
	t.Helper()
	cmd.Stderr = os.Stderr
	// SIGTERM, not SIGKILL: an nginx master stops its workers on SIGTERM,
	// while a killed master leaves them running.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	h := &helper{cmd: cmd, stdin: stdin, out: bufio.NewReader(stdout)}
	t.Cleanup(func() {
		if cmd.ProcessState != nil {
			return
		}
		cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	})
	if firstLine {
		lineCh := make(chan string, 1)
		go func() {
			l, _ := h.out.ReadString('\n')
			lineCh <- strings.TrimSpace(l)
		}()
		select {
		case h.first = <-lineCh:
		case <-time.After(10 * time.Second):
			t.Fatalf("helper %v printed nothing", cmd.Args)
		}
		if h.first == "" {
			t.Fatalf("helper %v exited early", cmd.Args)
		}
	}
	return h
}
