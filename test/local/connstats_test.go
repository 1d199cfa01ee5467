//go:build linux

package local

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kubectl-pixie/kubectl-pixie/probes/api"
)

// countingConn counts the bytes the client wrote and read on its socket.
type countingConn struct {
	net.Conn
	wrote, read *uint64
}

func (c countingConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	*c.wrote += uint64(n)
	return n, err
}

func (c countingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	*c.read += uint64(n)
	return n, err
}

// peerLoad is what a client did with one server: connections opened and
// bytes it wrote and read, counted by itself.
type peerLoad struct {
	conns       uint64
	wrote, read uint64
}

func (l *peerLoad) dial(t *testing.T, addr string) countingConn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	l.conns++
	return countingConn{c, &l.wrote, &l.read}
}

// drain reads until the server closes.
func drain(t *testing.T, r io.Reader) {
	t.Helper()
	if _, err := io.Copy(io.Discard, r); err != nil {
		t.Fatal(err)
	}
}

// TestConnStats: a Go client (this process) talks to nginx serving a static
// file with sendfile, to Redis, and to a raw TCP echo server that no parser
// knows (io.Copy between sockets: splice). conn_stats of both ends must
// hold exactly the connections the client opened and the bytes it counted.
func TestConnStats(t *testing.T) {
	requirePrivileged(t)
	ng := startNginx(t, true)
	redisBin := requireCmd(t, "redis-server")
	rport := freePort(t, "tcp")
	raddr := fmt.Sprintf("127.0.0.1:%d", rport)
	redis, _ := startDaemon(t, redisBin, "--save", "", "--appendonly", "no", "--port", strconv.Itoa(rport), "--bind", "127.0.0.1",
		"--dir", t.TempDir(), "--daemonize", "no", "--protected-mode", "no")
	waitTCP(t, raddr)
	echo := startEcho(t)

	self := uint32(os.Getpid())
	tr := startTrace(t, append(pidArgs(self, ng.worker, uint32(redis.Process.Pid)), "--duration", "90s")...)
	var web, kv, raw peerLoad
	for i := range 3 { // one request per connection; the server closes
		c := web.dial(t, ng.addr)
		if i == 0 {
			// Idle past a few of the agent's intervals: it sends the rows
			// while the protocol is unknown, then under http (retracting
			// the unknown ones, checked below).
			time.Sleep(time.Second)
		}
		path := "/static.bin"
		if i == 2 {
			path = "/index.html"
		}
		fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", path)
		drain(t, c)
		c.Close()
	}
	for range 2 {
		c := kv.dial(t, raddr)
		rd := bufio.NewReader(c)
		for _, cmd := range []string{"PING", "SET k v", "GET k", "QUIT"} {
			args := strings.Fields(cmd)
			fmt.Fprintf(c, "*%d\r\n", len(args))
			for _, a := range args {
				fmt.Fprintf(c, "$%d\r\n%s\r\n", len(a), a)
			}
			if _, err := rd.ReadString('\n'); err != nil {
				t.Fatal(err)
			}
		}
		drain(t, rd)
		c.Close()
	}
	msg := bytes.Repeat([]byte("echo me back, 0123456789\n"), 2000) // 50 kB
	for range 2 {
		c := raw.dial(t, echo)
		go func() { _, _ = c.Write(msg); _ = c.Conn.(*net.TCPConn).CloseWrite() }()
		drain(t, c)
		c.Close()
	}
	if raw.read != 2*uint64(len(msg)) {
		t.Fatalf("echo returned %d bytes, want %d", raw.read, 2*len(msg))
	}
	time.Sleep(500 * time.Millisecond) // the servers' closes
	rows := connStatsRows(t, tr.stop(t), tr)

	_, nport, _ := net.SplitHostPort(ng.addr)
	_, eport, _ := net.SplitHostPort(echo)
	wanted := map[api.ConnStatsKey]bool{}
	for _, c := range []struct {
		name        string
		server      uint32
		port, proto string
		load        peerLoad
	}{
		{"nginx", ng.worker, nport, "http", web},
		{"redis", uint32(redis.Process.Pid), strconv.Itoa(rport), "redis", kv},
		{"echo", self, eport, "unknown", raw},
	} {
		port, _ := strconv.Atoi(c.port)
		l := c.load
		client := api.ConnStatsKey{PID: self, RemoteAddr: "127.0.0.1", RemotePort: uint16(port), TraceRole: "client", Protocol: c.proto}
		server := api.ConnStatsKey{PID: c.server, RemoteAddr: "127.0.0.1", LocalPort: uint16(port), TraceRole: "server", Protocol: c.proto}
		want := map[api.ConnStatsKey][5]uint64{
			client: {l.conns, l.conns, 0, l.wrote, l.read},
			server: {l.conns, l.conns, 0, l.read, l.wrote},
		}
		for k, w := range want {
			wanted[k] = true
			r, ok := rows[k]
			if !ok {
				t.Errorf("%s: no conn_stats row %+v; rows:\n%s", c.name, k, dumpRows(rows))
				continue
			}
			got := [5]uint64{r.ConnOpen, r.ConnClose, r.ConnActive, r.BytesSent, r.BytesRecv}
			if got != w {
				t.Errorf("%s %s: open, close, active, sent, recv = %v, want %v", c.name, k.TraceRole, got, w)
			}
		}
	}
	ours := map[string]bool{nport: true, eport: true, strconv.Itoa(rport): true}
	for k := range rows {
		port := strconv.Itoa(int(k.RemotePort + k.LocalPort)) // one of them is 0
		if !wanted[k] && ours[port] {
			t.Errorf("conn_stats row %+v besides the wanted ones (a key the agent left behind?); rows:\n%s", k, dumpRows(rows))
		}
	}
}

// startEcho serves a raw TCP echo in this process: io.Copy from a socket to
// itself, which Go does with splice(2) through a pipe.
func startEcho(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { _, _ = io.Copy(c, c); c.Close() }()
		}
	}()
	return ln.Addr().String()
}

// connStatsRows returns the last conn_stats row of each key (-o json writes
// one per key at the end).
func connStatsRows(t *testing.T, recs records, tr *trace) map[api.ConnStatsKey]api.ConnStats {
	t.Helper()
	if recs.tables[api.TableConnStats] == 0 {
		t.Fatalf("no conn_stats records; stderr:\n%s", tr.errOut.String())
	}
	rows := map[api.ConnStatsKey]api.ConnStats{}
	for _, line := range bytes.Split(tr.out.Bytes(), []byte("\n")) {
		if !bytes.Contains(line, []byte(`"table":"conn_stats"`)) {
			continue
		}
		var r api.ConnStats
		if err := json.Unmarshal(line, &r); err != nil {
			t.Fatal(err)
		}
		if _, dup := rows[r.Key()]; dup {
			t.Errorf("two conn_stats rows for %+v: -o json should write one per key", r.Key())
		}
		rows[r.Key()] = r
	}
	return rows
}

func dumpRows(rows map[api.ConnStatsKey]api.ConnStats) string {
	var b strings.Builder
	for _, r := range rows {
		fmt.Fprintf(&b, "  %+v\n", r)
	}
	return b.String()
}
