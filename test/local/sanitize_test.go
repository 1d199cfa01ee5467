//go:build linux

package local

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"io"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kubectl-pixie/kubectl-pixie/plugin/render/rendertest"
)

// hostilePg is a tiny PostgreSQL server: it lets any startup in and
// answers every query with an ErrorResponse whose SQLSTATE is
// rendertest.Short (escapes that clear the screen and set the clipboard).
func hostilePg(t *testing.T) int {
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
			go servePg(c)
		}
	}()
	return ln.Addr().(*net.TCPAddr).Port
}

func servePg(c net.Conn) {
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	r := bufio.NewReader(c)
	for { // startup, after refusing SSL or GSS encryption
		var n uint32
		if binary.Read(r, binary.BigEndian, &n) != nil || n < 8 || n > 10000 {
			return
		}
		body := make([]byte, n-4)
		if _, err := io.ReadFull(r, body); err != nil {
			return
		}
		if code := binary.BigEndian.Uint32(body); code == 80877103 || code == 80877104 {
			_, _ = c.Write([]byte{'N'})
			continue
		}
		break
	}
	_, _ = c.Write(bytes.Join([][]byte{
		pgMsg('R', "\x00\x00\x00\x00"),
		pgMsg('S', "server_version\x0015.0\x00"),
		pgMsg('S', "client_encoding\x00UTF8\x00"),
		pgMsg('K', "\x00\x00\x00\x01\x00\x00\x00\x02"),
		pgMsg('Z', "I"),
	}, nil))
	var hdr [5]byte
	for {
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			return
		}
		n := binary.BigEndian.Uint32(hdr[1:])
		if n < 4 || n > 1<<20 {
			return
		}
		if _, err := io.CopyN(io.Discard, r, int64(n-4)); err != nil {
			return
		}
		switch hdr[0] {
		case 'Q':
			_, _ = c.Write(append(pgMsg('E', "SERROR\x00VERROR\x00C"+rendertest.Short+"\x00Mboom\x00\x00"), pgMsg('Z', "I")...))
		case 'X':
			return
		}
	}
}

// TestTraceTableEscapesWireStatus: a real psql queries a server whose
// SQLSTATE holds terminal escapes; the real agent traces psql, and the
// table the plugin prints shows the status escaped, never raw.
func TestTraceTableEscapesWireStatus(t *testing.T) {
	requirePrivileged(t)
	psql := requireCmd(t, "psql")
	port := hostilePg(t)

	tr := exec.Command(pluginBin, "trace", "--local", "--comm", "psql", "--duration", "12s", "-o", "wide")
	var out, errOut bytes.Buffer
	tr.Stdout, tr.Stderr = &out, &errOut
	if err := tr.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tr.Process.Kill() })
	done := make(chan error, 1)
	go func() { done <- tr.Wait() }()
	// psql runs until the trace ends: the first runs may precede the
	// probes' attach; each run is a fresh connection and query.
	dsn := "host=127.0.0.1 port=" + strconv.Itoa(port) + " user=u dbname=d sslmode=disable connect_timeout=5"
	var psqlOut []byte
	for ran := false; ; {
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("trace failed: %v\n%s", err, errOut.String())
			}
			if !ran {
				t.Fatal("psql never ran")
			}
			checkWireStatus(t, out.String(), errOut.String(), string(psqlOut))
			return
		case <-time.After(300 * time.Millisecond):
			cmd := exec.Command(psql, "-X", "-c", "SELECT 1", dsn)
			psqlOut, _ = cmd.CombinedOutput() // fails: the server answers an error
			ran = ran || cmd.ProcessState != nil
		}
	}
}

func checkWireStatus(t *testing.T, out, errOut, psqlOut string) {
	t.Helper()
	if !strings.Contains(psqlOut, "boom") {
		t.Fatalf("psql did not get the server's error: %s", psqlOut)
	}
	rendertest.CheckSafe(t, "trace table", out)
	rendertest.CheckSafe(t, "trace stderr", errOut)
	if !strings.Contains(out, `^[]52;c;SGk=^G^[[2J\u009bJ^H\r\n\tX`) || !strings.Contains(out, "psql") {
		t.Errorf("the traced SQLSTATE is not shown escaped in a psql row:\n%s\nstderr:\n%s", out, errOut)
	}
}
