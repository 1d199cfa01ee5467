//go:build linux

package socktrace

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/stretchr/testify/require"

	"github.com/kubectl-pixie/kubectl-pixie/probes/conn"
	"github.com/kubectl-pixie/kubectl-pixie/probes/internal/probetest"
)

// collector runs a tracer and keeps copies of its events.
type collector struct {
	tr     *Tracer
	mu     sync.Mutex
	events []conn.Event
	done   chan error
	cancel context.CancelFunc
}

func startTracer(t testing.TB, cfg Config) *collector {
	t.Helper()
	probetest.RequirePrivileged(t)
	tr, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %+v", err)
	}
	t.Logf("attach took %v", tr.AttachDuration())
	ctx, cancel := context.WithCancel(context.Background())
	c := &collector{tr: tr, done: make(chan error, 1), cancel: cancel}
	go func() {
		c.done <- tr.Run(ctx, func(e *conn.Event) {
			cp := *e
			cp.Data = bytes.Clone(e.Data)
			c.mu.Lock()
			c.events = append(c.events, cp)
			c.mu.Unlock()
		})
	}()
	t.Cleanup(func() { c.stop(t); tr.Close() })
	return c
}

func (c *collector) stop(t testing.TB) {
	if c.cancel == nil {
		return
	}
	c.cancel()
	c.cancel = nil
	select {
	case err := <-c.done:
		require.NoError(t, err)
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
}

func (c *collector) snapshot() []conn.Event {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]conn.Event(nil), c.events...)
}

// waitFor polls until cond holds for the events of tgid.
func (c *collector) waitFor(t *testing.T, what string, tgid uint32, cond func([]conn.Event) bool) []conn.Event {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		evs := ofTGID(c.snapshot(), tgid)
		if cond(evs) {
			return evs
		}
		if time.Now().After(deadline) {
			for _, e := range evs {
				t.Logf("event: %s", fmtEvent(&e))
			}
			t.Fatalf("timed out waiting for %s (pid %d, %d events)", what, tgid, len(evs))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func ofTGID(evs []conn.Event, tgid uint32) []conn.Event {
	var out []conn.Event
	for _, e := range evs {
		if e.ID.TGID == tgid {
			out = append(out, e)
		}
	}
	return out
}

func fmtEvent(e *conn.Event) string {
	return fmt.Sprintf("kind=%d id=%+v pid=%d comm=%q %s role=%s tr=%d %s->%s peer=%s dir=%s pos=%d size=%d len=%d %q",
		e.Kind, e.ID, e.PID, e.Comm, e.Syscall, e.Role, e.Transport, e.Local, e.Remote, e.Peer, e.Dir, e.Pos, e.Size, len(e.Data), trim(e.Data))
}

func trim(b []byte) string {
	if len(b) > 60 {
		return string(b[:60]) + "..."
	}
	return string(b)
}

func hasKind(k conn.Kind) func([]conn.Event) bool {
	return func(evs []conn.Event) bool {
		for _, e := range evs {
			if e.Kind == k {
				return true
			}
		}
		return false
	}
}

// stream is the data of one connection direction.
type stream struct {
	events []conn.Event
	data   []byte
}

// streams groups data events by (connection, direction) and checks that
// Pos continues where the previous call ended (no loss), starting at
// start, and that untruncated events carry Size bytes.
func streams(t *testing.T, evs []conn.Event, start uint64) map[conn.ID]map[conn.Dir]*stream {
	t.Helper()
	out := map[conn.ID]map[conn.Dir]*stream{}
	next := map[conn.ID]map[conn.Dir]uint64{}
	for _, e := range evs {
		if e.Kind != conn.KindData {
			continue
		}
		if out[e.ID] == nil {
			out[e.ID] = map[conn.Dir]*stream{}
			next[e.ID] = map[conn.Dir]uint64{}
		}
		s := out[e.ID][e.Dir]
		if s == nil {
			s = &stream{}
			out[e.ID][e.Dir] = s
			next[e.ID][e.Dir] = start
		}
		require.Equal(t, next[e.ID][e.Dir], e.Pos, "pos of %s", fmtEvent(&e))
		next[e.ID][e.Dir] = e.Pos + uint64(e.Size)
		if !e.Truncated() {
			require.Len(t, e.Data, int(e.Size), "data of %s", fmtEvent(&e))
		}
		s.events = append(s.events, e)
		s.data = append(s.data, e.Data...)
	}
	return out
}

// only returns the single connection of m.
func only(t *testing.T, m map[conn.ID]map[conn.Dir]*stream) (conn.ID, map[conn.Dir]*stream) {
	t.Helper()
	require.Len(t, m, 1, "connections")
	for id, s := range m {
		return id, s
	}
	panic("unreachable")
}

func openEvent(t *testing.T, evs []conn.Event, id conn.ID) conn.Event {
	t.Helper()
	for _, e := range evs {
		if e.Kind == conn.KindOpen && e.ID == id {
			return e
		}
	}
	t.Fatalf("no open event for %+v", id)
	return conn.Event{}
}

func curlArgs(url string) []string {
	return []string{"curl", "-sS", "--http1.1", "--max-time", "10", url}
}

// TestHTTPBothSides traces a Go HTTP server and a curl client and checks
// that both captured the same bytes, with roles, addresses and positions.
func TestHTTPBothSides(t *testing.T) {
	for _, tc := range []struct{ name, listen, host string }{
		{"ipv4", "127.0.0.1:0", "127.0.0.1"},
		{"ipv6", "[::1]:0", "::1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			probetest.RequirePrivileged(t)
			probetest.RequireCommand(t, "curl")
			srv := startHelper(t, "http", tc.listen)
			srvAddr := netip.MustParseAddrPort(srv.first)
			c := startTracer(t, Config{PIDs: []uint32{srv.pid()}})

			cl := startGated(t, curlArgs("http://"+srv.first+"/hello")...)
			require.NoError(t, c.tr.AddPID(cl.pid()))
			cl.release(t)
			require.Equal(t, helloBody, cl.rest(t))

			// An untargeted client of the same server: only the server side shows.
			other := exec.Command("curl", curlArgs("http://"+srv.first+"/hello")...)
			out, err := other.Output()
			require.NoError(t, err)
			require.Equal(t, helloBody, string(out))

			cev := c.waitFor(t, "curl close", cl.pid(), hasKind(conn.KindClose))
			sev := c.waitFor(t, "server closes of both connections", srv.pid(), func(evs []conn.Event) bool {
				n := 0
				for _, e := range evs {
					if e.Kind == conn.KindClose {
						n++
					}
				}
				return n >= 2
			})
			require.Empty(t, ofTGID(c.snapshot(), uint32(other.Process.Pid)), "untargeted curl was traced")

			// Client side.
			cid, cs := only(t, streams(t, cev, 0))
			copen := openEvent(t, cev, cid)
			require.Equal(t, conn.RoleClient, copen.Role)
			require.Equal(t, "curl", copen.Comm)
			require.Equal(t, conn.TransportTCP, copen.Transport)
			require.Equal(t, srvAddr, copen.Remote)
			require.Equal(t, tc.host, copen.Local.Addr().String())
			req := string(cs[conn.Egress].data)
			require.True(t, strings.HasPrefix(req, "GET /hello HTTP/1.1\r\n"), "request %q", req)
			require.True(t, strings.HasSuffix(req, "\r\n\r\n"), "request %q", req)
			resp := string(cs[conn.Ingress].data)
			require.True(t, strings.HasPrefix(resp, "HTTP/1.1 200 OK\r\n"), "response %q", resp)
			require.True(t, strings.HasSuffix(resp, "\r\n\r\n"+helloBody), "response %q", resp)
			for _, e := range cev {
				require.Equal(t, cid, e.ID)
				require.LessOrEqual(t, e.StartNs, e.EndNs)
			}

			// Server side: the connection from our curl, matched by port.
			sstreams := streams(t, sev, 0)
			require.Len(t, sstreams, 2, "server connections")
			var sid conn.ID
			for id := range sstreams {
				if openEvent(t, sev, id).Remote == copen.Local {
					sid = id
				}
			}
			require.NotZero(t, sid.FD, "no server connection from %s", copen.Local)
			sopen := openEvent(t, sev, sid)
			require.Equal(t, conn.RoleServer, sopen.Role)
			require.Equal(t, srvAddr, sopen.Local)
			require.Equal(t, copen.Local, sopen.Remote)
			require.Equal(t, req, string(sstreams[sid][conn.Ingress].data), "server saw another request")
			require.Equal(t, resp, string(sstreams[sid][conn.Egress].data), "server sent another response")

			st := c.tr.Stats()
			t.Logf("stats: %+v", st)
			require.Zero(t, st.LostBy[LostRingFull])
			require.Zero(t, st.LostBy[LostTruncated])
			require.Equal(t, st.Submitted, st.Captured)
			require.NotZero(t, st.BPFRunCount)
		})
	}
}

// TestTruncation checks the MaxPayload cap and its counters.
func TestTruncation(t *testing.T) {
	probetest.RequirePrivileged(t)
	probetest.RequireCommand(t, "curl")
	srv := startHelper(t, "http", "127.0.0.1:0")
	c := startTracer(t, Config{PIDs: []uint32{srv.pid()}, MaxPayload: 512})
	out, err := exec.Command("curl", curlArgs("http://"+srv.first+"/big")...).Output()
	require.NoError(t, err)
	require.Len(t, out, bigSize)

	sev := c.waitFor(t, "server close", srv.pid(), hasKind(conn.KindClose))
	_, s := only(t, streams(t, sev, 0))
	var total, captured uint64
	truncated := 0
	for _, e := range s[conn.Egress].events {
		total += uint64(e.Size)
		captured += uint64(len(e.Data) + len(e.Tail))
		require.LessOrEqual(t, len(e.Data), 512)
		if e.Truncated() {
			// The call's last bytes follow its first 512: the body's end.
			require.Len(t, e.Tail, 64, "tail of %s", fmtEvent(&e))
			require.Equal(t, strings.Repeat("b", 64), string(e.Tail))
		}
		if e.Truncated() {
			truncated++
		}
	}
	require.Greater(t, total, uint64(bigSize), "headers plus body")
	require.NotZero(t, truncated)
	st := c.tr.Stats()
	require.Equal(t, uint64(truncated), st.LostBy[LostTruncated])
	require.Equal(t, total-captured, st.TruncatedBytes)
}

// TestPreopenedSocketReadvWritev: a connection made before the tracer
// started is reported with role unknown; writev and readv gather from
// several iovecs.
func TestPreopenedSocketReadvWritev(t *testing.T) {
	probetest.RequirePrivileged(t)
	srv := startHelper(t, "http", "127.0.0.1:0")
	cl := startHelper(t, "vecclient", srv.first)
	time.Sleep(100 * time.Millisecond) // let the server accept before tracing
	c := startTracer(t, Config{PIDs: []uint32{cl.pid(), srv.pid()}})
	cl.release(t)
	resp := cl.rest(t)
	require.True(t, strings.HasSuffix(resp, helloBody), "response %q", resp)

	cev := c.waitFor(t, "client close", cl.pid(), hasKind(conn.KindClose))
	id, s := only(t, streams(t, cev, 0))
	open := openEvent(t, cev, id)
	require.Equal(t, conn.RoleUnknown, open.Role)
	require.Equal(t, cl.first, open.Local.String())
	require.Equal(t, srv.first, open.Remote.String())
	require.Equal(t, "GET /hello HTTP/1.1\r\nHost: vec\r\nConnection: close\r\n\r\n", string(s[conn.Egress].data))
	require.Equal(t, "writev", s[conn.Egress].events[0].Syscall)
	require.Equal(t, resp, string(s[conn.Ingress].data))
	sawReadv := false
	for _, e := range s[conn.Ingress].events {
		sawReadv = sawReadv || (e.Syscall == "readv" && e.Size > 16)
	}
	require.True(t, sawReadv, "no readv spanning both iovecs")

	// The server's side was accepted before tracing too.
	sev := c.waitFor(t, "server close", srv.pid(), hasKind(conn.KindClose))
	sid, ss := only(t, streams(t, sev, 0))
	require.Equal(t, conn.RoleUnknown, openEvent(t, sev, sid).Role)
	require.Equal(t, string(s[conn.Egress].data), string(ss[conn.Ingress].data))
}

// TestUDPPeer: datagrams on unconnected UDP sockets carry the peer address.
func TestUDPPeer(t *testing.T) {
	probetest.RequirePrivileged(t)
	h := startHelper(t, "udp", "")
	addrs := strings.Fields(h.first)
	srvAddr, cliAddr := netip.MustParseAddrPort(addrs[0]), netip.MustParseAddrPort(addrs[1])
	c := startTracer(t, Config{PIDs: []uint32{h.pid()}})
	h.release(t)
	h.rest(t)
	evs := c.waitFor(t, "4 datagrams", h.pid(), func(evs []conn.Event) bool {
		n := 0
		for _, e := range evs {
			if e.Kind == conn.KindData {
				n++
			}
		}
		return n >= 4
	})
	want := map[string]netip.AddrPort{"sendmsg": srvAddr, "recvfrom": cliAddr, "sendto": cliAddr, "recvmsg": srvAddr}
	for _, e := range evs {
		if e.Kind != conn.KindData {
			continue
		}
		require.Equal(t, conn.TransportUDP, e.Transport, fmtEvent(&e))
		require.Equal(t, "ping", string(e.Data), fmtEvent(&e))
		p, ok := want[e.Syscall]
		require.True(t, ok, "unexpected %s", fmtEvent(&e))
		require.Equal(t, p, e.Peer, fmtEvent(&e))
		delete(want, e.Syscall)
	}
	require.Empty(t, want, "syscalls not seen")
}

// TestNginxSendfileAndFork runs nginx (master forks a worker: fork
// following) with sendfile on, and curl.
func TestNginxSendfileAndFork(t *testing.T) {
	probetest.RequirePrivileged(t)
	probetest.RequireCommand(t, "curl")
	const fileSize = 20000
	c := startTracer(t, Config{})
	port, ng := startNginx(t, c, map[string][]byte{"f.bin": bytes.Repeat([]byte("n"), fileSize)})
	out, err := exec.Command("curl", curlArgs(fmt.Sprintf("http://127.0.0.1:%d/f.bin", port))...).Output()
	require.NoError(t, err)
	require.Len(t, out, fileSize)

	// The worker is a child of the targeted master.
	var id conn.ID
	deadline := time.Now().Add(10 * time.Second)
	for id.TGID == 0 && time.Now().Before(deadline) {
		for _, e := range c.snapshot() {
			if e.ID.TGID != ng.pid() && e.Kind == conn.KindData && e.Syscall == "sendfile64" {
				id = e.ID
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	require.NotZero(t, id.TGID, "no sendfile64 event from an nginx worker")
	evs := c.waitFor(t, "worker close", id.TGID, func(evs []conn.Event) bool {
		for _, e := range evs {
			if e.Kind == conn.KindClose && e.ID == id {
				return true
			}
		}
		return false
	})
	require.Equal(t, "nginx", evs[0].Comm)
	s := streams(t, evs, 0)[id]
	var sent uint32
	sawHeader := false
	for _, e := range s[conn.Egress].events {
		switch e.Syscall {
		case "sendfile64":
			require.Empty(t, e.Data)
			sent += e.Size
		case "writev":
			sawHeader = sawHeader || bytes.HasPrefix(e.Data, []byte("HTTP/1.1 200 OK\r\n"))
		}
	}
	require.Equal(t, uint32(fileSize), sent)
	require.True(t, sawHeader, "no writev with the response header")
	require.True(t, strings.HasPrefix(string(s[conn.Ingress].data), "GET /f.bin HTTP/1.1\r\n"))
	require.Zero(t, c.tr.Stats().LostBy[LostTruncated], "sendfile counts as truncated")
}

// TestExitWithOpenSocket: a process that exits with a tracked socket open
// gets a close event (Syscall "exit") and leaves the target set, with
// px_exit (bpf_for_each_map_elem) and with the pre-5.13 px_exit_old.
func TestExitWithOpenSocket(t *testing.T) {
	for _, fallback := range []bool{false, true} {
		t.Run(fmt.Sprintf("fallback=%v", fallback), func(t *testing.T) {
			probetest.RequirePrivileged(t)
			forceExitFallback = fallback
			defer func() { forceExitFallback = false }()
			srv := startHelper(t, "http", "127.0.0.1:0")
			cl := startHelperLines(t, "exitopen", srv.first, false)
			c := startTracer(t, Config{PIDs: []uint32{cl.pid()}})
			_, hasOld := c.tr.coll.Programs["px_exit_old"]
			require.Equal(t, fallback, hasOld)
			cl.release(t)
			cl.rest(t)
			evs := c.waitFor(t, "close at exit", cl.pid(), hasKind(conn.KindClose))
			id, s := only(t, streams(t, evs, 0))
			open := openEvent(t, evs, id)
			require.Equal(t, conn.RoleClient, open.Role)
			require.NotEmpty(t, s[conn.Egress].data)
			last := evs[len(evs)-1]
			require.Equal(t, conn.KindClose, last.Kind)
			require.Equal(t, "exit", last.Syscall)
			require.Equal(t, id, last.ID)
			require.Equal(t, open.Remote, last.Remote)
			on, err := c.tr.isTargeted(cl.pid())
			require.NoError(t, err)
			require.False(t, on, "exited pid still targeted")
			var cv socktracePxConn
			key := uint64(id.TGID)<<32 | uint64(uint32(id.FD))
			require.ErrorIs(t, c.tr.coll.Maps["px_conns"].Lookup(key, &cv), ebpf.ErrKeyNotExist, "connection of an exited pid kept")
		})
	}
}

// startNginx serves files with nginx (1 worker, sendfile on) on a free
// 127.0.0.1 port, targeted by c's tracer from its first instruction on.
func startNginx(t testing.TB, c *collector, files map[string][]byte) (int, *helper) {
	t.Helper()
	nginx := probetest.RequireCommand(t, "nginx")
	dir := t.TempDir()
	for _, d := range []string{"html", "tmp", "logs"} {
		require.NoError(t, os.MkdirAll(filepath.Join(dir, d), 0o755))
	}
	for name, b := range files {
		require.NoError(t, os.WriteFile(filepath.Join(dir, "html", name), b, 0o644))
	}
	port := freePort(t)
	// user root: the worker must read files in the test's 0700 temp dir.
	conf := fmt.Sprintf(`user root;
worker_processes 1;
daemon off;
pid %[1]s/nginx.pid;
error_log %[1]s/logs/error.log;
events { worker_connections 256; }
http {
  access_log off;
  sendfile on;
  client_body_temp_path %[1]s/tmp; proxy_temp_path %[1]s/tmp; fastcgi_temp_path %[1]s/tmp;
  uwsgi_temp_path %[1]s/tmp; scgi_temp_path %[1]s/tmp;
  server { listen 127.0.0.1:%[2]d; root %[1]s/html; }
}
`, dir, port)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "nginx.conf"), []byte(conf), 0o644))
	ng := startGated(t, nginx, "-p", dir, "-c", filepath.Join(dir, "nginx.conf"))
	require.NoError(t, c.tr.AddPID(ng.pid()))
	ng.release(t)
	for range 100 { // until nginx listens
		if cn, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port)); err == nil {
			cn.Close()
			return port, ng
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("nginx did not listen on port %d", port)
	return 0, nil
}

func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// TestRingFull: with a one-page ring and nobody reading, events are lost
// and counted as ring_full, not silently dropped.
func TestRingFull(t *testing.T) {
	probetest.RequirePrivileged(t)
	probetest.RequireCommand(t, "curl")
	srv := startHelper(t, "http", "127.0.0.1:0")
	tr, err := New(Config{PIDs: []uint32{srv.pid()}, RingBytes: os.Getpagesize(), MaxPayload: 1024})
	require.NoError(t, err)
	defer tr.Close()
	for range 5 {
		_, err := exec.Command("curl", curlArgs("http://"+srv.first+"/big")...).Output()
		require.NoError(t, err)
	}
	st := tr.Stats()
	require.NotZero(t, st.LostBy[LostRingFull], "stats %+v", st)
	require.NotZero(t, st.Submitted)
	require.Zero(t, st.Captured)
}
