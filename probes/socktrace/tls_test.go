//go:build linux

package socktrace

import (
	"bufio"
	"bytes"
	"debug/elf"
	"encoding/binary"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/kubectl-pixie/kubectl-pixie/probes/conn"
	"github.com/kubectl-pixie/kubectl-pixie/probes/internal/probetest"
)

func requireAMD64(t *testing.T) {
	t.Helper()
	if runtime.GOARCH != "amd64" {
		t.Skip("TLS uprobes are x86-64 only")
	}
}

// goTLSProg is a small crypto/tls program for FindGoTLS.
const goTLSProg = `package main

import (
	"crypto/tls"
	"net/http"
)

func main() {
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{}}}
	c.Get("https://127.0.0.1:1/")
}
`

// buildGo builds goTLSProg with extra go build flags.
func buildGo(t *testing.T, dir, name string, flags ...string) string {
	t.Helper()
	out := filepath.Join(dir, name)
	args := append(append([]string{"build", "-o", out}, flags...), "main.go")
	cmd := exec.Command("go", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=", "CGO_ENABLED=0")
	b, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", b)
	return out
}

// FindGoTLS on a real Go program, with its symbol table and stripped (-s
// -w: the pclntab path), against the Go toolchain's disassembler.
func TestFindGoTLS(t *testing.T) {
	requireAMD64(t)
	probetest.RequireCommand(t, "go")
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "main.go"), []byte(goTLSProg), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module gotlsprog\n\ngo 1.22\n"), 0o644))
	full := buildGo(t, dir, "full")
	stripped := buildGo(t, dir, "stripped", "-ldflags=-s -w")

	off, err := FindGoTLS(full)
	require.NoError(t, err)
	f, err := elf.Open(full)
	require.NoError(t, err)
	defer f.Close()
	text := f.Section(".text")
	toOff := func(addr uint64) uint64 { return addr - text.Addr + text.Offset }
	syms, err := f.Symbols()
	require.NoError(t, err)
	for _, s := range syms {
		switch s.Name {
		case goTLSWrite:
			require.Equal(t, toOff(s.Value), off.Write, "Write entry")
		case goTLSRead:
			require.Equal(t, toOff(s.Value), off.Read, "Read entry")
		}
	}

	// Calls are probed at the stack check's jump, as objdump decodes it.
	for _, fn := range []struct {
		re          string
		entry, call uint64
	}{{`^crypto/tls\.\(\*Conn\)\.Write$`, off.Write, off.WriteCall}, {`^crypto/tls\.\(\*Conn\)\.Read$`, off.Read, off.ReadCall}} {
		out, err := exec.Command("go", "tool", "objdump", "-s", fn.re, full).CombinedOutput()
		require.NoError(t, err, "%s", out)
		// "  conn.go:1186	0x6c9f20		493b6610		CMPQ SP, 0x10(R14)"
		insts := regexp.MustCompile(`(?m)^\s+\S+\s+0x([0-9a-f]+)\s+[0-9a-f]+\s+(.+?)\s*$`).FindAllStringSubmatch(string(out), 3)
		require.Len(t, insts, 3, "%s", out)
		jump := -1
		for i, m := range insts {
			if strings.HasPrefix(m[2], "JBE ") {
				jump = i
				break
			}
		}
		require.Positive(t, jump, "no stack check's JBE in the first instructions:\n%s", out)
		require.Contains(t, insts[jump-1][2], "0x10(R14)", "the compare before the jump")
		a, _ := strconv.ParseUint(insts[jump][1], 16, 64)
		require.Equal(t, toOff(a), fn.call, "%s: probed at the stack check's jump", fn.re)
		require.Greater(t, fn.call, fn.entry)
	}

	out, err := exec.Command("go", "tool", "objdump", "-s", `^crypto/tls\.\(\*Conn\)\.Read$`, full).CombinedOutput()
	require.NoError(t, err, "%s", out)
	// "  conn.go:1386	0x6ca5e1		c3			RET"
	re := regexp.MustCompile(`(?m)^\s+\S+\s+0x([0-9a-f]+)\s+c3\s+RET\s*$`)
	var want []uint64
	for _, m := range re.FindAllStringSubmatch(string(out), -1) {
		a, _ := strconv.ParseUint(m[1], 16, 64)
		want = append(want, toOff(a))
	}
	require.NotEmpty(t, want, "objdump found no RET:\n%s", out)
	require.Equal(t, want, off.ReadRets)
	raw, err := os.ReadFile(full)
	require.NoError(t, err)
	for _, r := range off.ReadRets {
		require.Equal(t, byte(0xc3), raw[r], "byte at RET offset %#x", r)
	}

	// The itab of *net.TCPConn as net.Conn carries the type hash the BPF
	// program checks before it follows the connection to its fd.
	md5Hash, shaHash := goTypeHashes("*net.TCPConn")
	var itabSeen bool
	for _, s := range syms {
		if s.Name != "go:itab.*net.TCPConn,net.Conn" {
			continue
		}
		sec := f.Sections[s.Section]
		var h [4]byte
		_, err := sec.ReadAt(h[:], int64(s.Value-sec.Addr+16))
		require.NoError(t, err)
		require.Contains(t, []uint32{md5Hash, shaHash}, binary.LittleEndian.Uint32(h[:]), "type hash in the itab (built by %s)", runtime.Version())
		itabSeen = true
	}
	require.True(t, itabSeen, "no itab symbol for *net.TCPConn")

	// Without a symbol table: the same offsets, from the pclntab.
	sf, err := elf.Open(stripped)
	require.NoError(t, err)
	_, err = sf.Symbols()
	sf.Close()
	require.ErrorIs(t, err, elf.ErrNoSymbols, "-s should drop the symbol table")
	soff, err := FindGoTLS(stripped)
	require.NoError(t, err)
	require.Equal(t, off, soff)
}

// StackCheckJump finds the jump of Go's stack check, small and large
// frame, and nothing else.
func TestStackCheckJump(t *testing.T) {
	for _, c := range []struct {
		name string
		code []byte
		want uint64
	}{
		// CMPQ SP, 0x10(R14); JBE rel8
		{"small frame", []byte{0x49, 0x3b, 0x66, 0x10, 0x76, 0x50, 0x55}, 4},
		// CMPQ SP, 0x10(R14); JBE rel32
		{"far jump", []byte{0x49, 0x3b, 0x66, 0x10, 0x0f, 0x86, 0, 1, 0, 0}, 4},
		// LEAQ -0x1f0(SP), R12; CMPQ R12, 0x10(R14); JBE rel32
		{"large frame", []byte{0x4c, 0x8d, 0xa4, 0x24, 0x10, 0xfe, 0xff, 0xff, 0x4d, 0x3b, 0x66, 0x10, 0x0f, 0x86, 0, 1, 0, 0}, 12},
		// PUSHQ BP: no stack check (NOSPLIT, or not Go)
		{"no check", []byte{0x55, 0x48, 0x89, 0xe5}, 0},
		// CMPQ SP, 0x18(R14): not the stack guard
		{"other field", []byte{0x49, 0x3b, 0x66, 0x18, 0x76, 0x50}, 0},
		// CMPQ SP, 0x10(R14); JA: not the check's jump
		{"other jump", []byte{0x49, 0x3b, 0x66, 0x10, 0x77, 0x50}, 0},
		// JBE alone: no compare of the guard before it
		{"jump first", []byte{0x76, 0x50, 0x55}, 0},
		{"cut short", []byte{0x49, 0x3b}, 0},
		{"empty", nil, 0},
	} {
		if got := StackCheckJump(c.code); got != c.want {
			t.Errorf("%s: %d, want %d", c.name, got, c.want)
		}
	}
}

func TestFindGoTLSNotGo(t *testing.T) {
	requireAMD64(t)
	for _, p := range []string{"/bin/sh", "/usr/lib/x86_64-linux-gnu/libssl.so.3"} {
		if _, err := os.Stat(p); err != nil {
			continue
		}
		_, err := FindGoTLS(p)
		require.ErrorIs(t, err, errNotGoTLS, p)
	}
}

// LibSSLPath against a real openssl process (it maps libssl.so.3) and
// this test binary (Go: no libssl).
func TestLibSSLPath(t *testing.T) {
	probetest.RequireCommand(t, "openssl")
	cmd := exec.Command("openssl", "s_server", "-nocert", "-accept", "127.0.0.1:0")
	cmd.Stdin = bytes.NewReader(nil)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	pid := uint32(cmd.Process.Pid)

	var (
		got string
		err error
	)
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if got, err = LibSSLPath("/proc", pid); err != nil || got != "" {
			break
		}
	}
	require.NoError(t, err)
	require.Regexp(t, `^/proc/`+strconv.Itoa(int(pid))+`/root/.*/libssl\.so\.[0-9.]+$`, got)
	// The path opens the file the process mapped (same inode as in maps).
	st, err := os.Stat(got)
	require.NoError(t, err)
	maps, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(int(pid)), "maps"))
	require.NoError(t, err)
	ino := strconv.FormatUint(st.Sys().(*syscall.Stat_t).Ino, 10)
	var seen bool
	sc := bufio.NewScanner(bytes.NewReader(maps))
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) >= 6 && strings.Contains(fs[5], "libssl.so") {
			seen = true
			require.Equal(t, ino, fs[4], "inode of %s", fs[5])
		}
	}
	require.True(t, seen)

	got, err = LibSSLPath("/proc", uint32(os.Getpid()))
	require.NoError(t, err)
	require.Empty(t, got, "a Go test binary maps no libssl")

	_, err = LibSSLPath("/proc", 1<<30)
	require.True(t, errors.Is(err, os.ErrNotExist), "%v", err)
}

func tlsEvents(evs []conn.Event, dir conn.Dir) []conn.Event {
	var out []conn.Event
	for _, e := range evs {
		if e.Kind == conn.KindData && e.Source == conn.SourceTLS && e.Dir == dir {
			out = append(out, e)
		}
	}
	return out
}

// hasTLS: the TLS plaintext of dir, calls joined (Go's HTTP server reads
// the first byte of a request apart), contains s.
func hasTLS(dir conn.Dir, s string) func([]conn.Event) bool {
	return func(evs []conn.Event) bool {
		var all []byte
		for _, e := range tlsEvents(evs, dir) {
			all = append(all, e.Data...)
		}
		return bytes.Contains(all, []byte(s))
	}
}

// checkTLSConn: the plaintext is on a connection the tracer opened, with
// the socket's addresses, and no socket event carries it.
func checkTLSConn(t *testing.T, evs []conn.Event, port uint16, role conn.Role, syscalls ...string) {
	t.Helper()
	var n int
	for _, e := range evs {
		if e.Kind != conn.KindData {
			continue
		}
		if e.Source != conn.SourceTLS {
			require.False(t, bytes.Contains(e.Data, []byte("HTTP/1.1")), "plaintext in a socket event: %s", fmtEvent(&e))
			continue
		}
		n++
		require.Contains(t, syscalls, e.Syscall, fmtEvent(&e))
		require.Equal(t, role, e.Role, fmtEvent(&e))
		if role == conn.RoleServer {
			require.Equal(t, port, e.Local.Port(), fmtEvent(&e))
		} else {
			require.Equal(t, port, e.Remote.Port(), fmtEvent(&e))
		}
		require.Equal(t, "127.0.0.1", e.Remote.Addr().String(), fmtEvent(&e))
	}
	require.NotZero(t, n)
	// Positions: each direction of the TLS stream counts from 0.
	next := map[conn.ID]map[conn.Dir]uint64{}
	for _, e := range evs {
		if e.Kind != conn.KindData || e.Source != conn.SourceTLS {
			continue
		}
		if next[e.ID] == nil {
			next[e.ID] = map[conn.Dir]uint64{}
		}
		require.Equal(t, next[e.ID][e.Dir], e.Pos, "TLS stream position: %s", fmtEvent(&e))
		next[e.ID][e.Dir] += uint64(e.Size)
	}
}

// Go crypto/tls on both sides: a server found by pid, a client released
// after its probes are attached.
func TestTLSGo(t *testing.T) {
	requireAMD64(t)
	srv := startHelper(t, "https", "127.0.0.1:0")
	cli := startHelperLines(t, "httpsclient", srv.first, false)
	c := startTracer(t, Config{PIDs: []uint32{srv.pid(), cli.pid()}})
	for _, pid := range []uint32{srv.pid(), cli.pid()} {
		ts, err := c.tr.AttachTLS("/proc", pid)
		require.NoError(t, err)
		require.Len(t, ts, 1)
		require.Equal(t, TLSGo, ts[0].Kind)
		t.Logf("TLS: %s", ts[0])
	}
	cli.release(t)
	require.Equal(t, "200\n404\n", cli.rest(t))
	_, portStr, _ := strings.Cut(srv.first, ":")
	port, _ := strconv.Atoi(portStr)

	evs := c.waitFor(t, "server plaintext", srv.pid(), func(evs []conn.Event) bool {
		return hasTLS(conn.Ingress, "GET /hello HTTP/1.1")(evs) && hasTLS(conn.Ingress, "GET /missing HTTP/1.1")(evs) &&
			hasTLS(conn.Egress, "HTTP/1.1 404")(evs)
	})
	checkTLSConn(t, evs, uint16(port), conn.RoleServer, "tls.(*Conn).Write", "tls.(*Conn).Read")
	evs = c.waitFor(t, "client plaintext", cli.pid(), func(evs []conn.Event) bool {
		return hasTLS(conn.Egress, "GET /missing HTTP/1.1")(evs) && hasTLS(conn.Ingress, "HTTP/1.1 404")(evs)
	})
	checkTLSConn(t, evs, uint16(port), conn.RoleClient, "tls.(*Conn).Write", "tls.(*Conn).Read")
}

// OpenSSL in curl, which starts after the tracer: the system libssl is
// probed for every targeted process, and the exec keeps the pid targeted.
func TestTLSOpenSSLCurl(t *testing.T) {
	requireAMD64(t)
	probetest.RequireCommand(t, "curl")
	srv := startHelper(t, "https", "127.0.0.1:0")
	cu := startGated(t, "curl", "-sk", "-o", "/dev/null", "-w", "%{http_code}", "https://"+srv.first+"/hello")
	c := startTracer(t, Config{PIDs: []uint32{cu.pid()}})
	ts, err := c.tr.AttachTLSLibraries("/")
	require.NoError(t, err)
	require.NotEmpty(t, ts, "no libssl.so.* under /usr/lib or /lib")
	for _, tt := range ts {
		require.Equal(t, TLSOpenSSL, tt.Kind)
		require.Zero(t, tt.PID)
	}
	// Attaching it again per pid must not double the probes.
	_, err = c.tr.AttachTLSLibraries("/")
	require.NoError(t, err)
	cu.release(t)
	require.Equal(t, "200", cu.rest(t))
	_, portStr, _ := strings.Cut(srv.first, ":")
	port, _ := strconv.Atoi(portStr)
	evs := c.waitFor(t, "curl plaintext", cu.pid(), func(evs []conn.Event) bool {
		return hasTLS(conn.Egress, "GET /hello HTTP/1.1")(evs) && hasTLS(conn.Ingress, "HTTP/1.1 200")(evs)
	})
	checkTLSConn(t, evs, uint16(port), conn.RoleClient, "SSL_write", "SSL_read", "SSL_write_ex", "SSL_read_ex")
	var sent []byte
	for _, e := range tlsEvents(evs, conn.Egress) {
		sent = append(sent, e.Data...)
	}
	require.Equal(t, 1, bytes.Count(sent, []byte("GET /hello")), "the request is reported once")
	// The server was not targeted: no events of it.
	require.Empty(t, ofTGID(c.snapshot(), srv.pid()))
}

// With TLSPerExecutable, the Go probes attached for the server cover a
// second process running the same executable, which is only targeted (as
// an exec of an AddComm name would be) and never passed to AttachTLS.
func TestTLSGoPerExecutable(t *testing.T) {
	requireAMD64(t)
	srv := startHelper(t, "https", "127.0.0.1:0")
	cli := startHelperLines(t, "httpsclient", srv.first, false)
	c := startTracer(t, Config{PIDs: []uint32{srv.pid()}, TLSPerExecutable: true})
	ts, err := c.tr.AttachTLS("/proc", srv.pid())
	require.NoError(t, err)
	require.Len(t, ts, 1)
	require.Equal(t, TLSGo, ts[0].Kind)
	require.Zero(t, ts[0].PID, "probed per executable")
	require.NoError(t, c.tr.AddPID(cli.pid()))
	cli.release(t)
	require.Equal(t, "200\n404\n", cli.rest(t))
	_, portStr, _ := strings.Cut(srv.first, ":")
	port, _ := strconv.Atoi(portStr)
	evs := c.waitFor(t, "client plaintext", cli.pid(), func(evs []conn.Event) bool {
		return hasTLS(conn.Egress, "GET /missing HTTP/1.1")(evs) && hasTLS(conn.Ingress, "HTTP/1.1 404")(evs)
	})
	checkTLSConn(t, evs, uint16(port), conn.RoleClient, "tls.(*Conn).Write", "tls.(*Conn).Read")
	// A later AttachTLS of another process of that executable adds nothing.
	ts, err = c.tr.AttachTLS("/proc", uint32(os.Getpid()))
	require.NoError(t, err)
	require.Empty(t, ts)
}

// A process without libssl or Go TLS gets no probe and no error, nor does
// one that is gone.
func TestAttachTLSNothing(t *testing.T) {
	requireAMD64(t)
	cmd := exec.Command("sleep", "30")
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	c := startTracer(t, Config{PIDs: []uint32{uint32(cmd.Process.Pid)}})
	ts, err := c.tr.AttachTLS("/proc", uint32(cmd.Process.Pid))
	require.NoError(t, err)
	require.Empty(t, ts)
	ts, err = c.tr.AttachTLS("/proc", 1<<30)
	require.NoError(t, err)
	require.Empty(t, ts)
	require.Zero(t, c.tr.Stats().LostBy[LostTLSNoFD])
}
