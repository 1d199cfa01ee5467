//go:build linux

package local

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kubectl-pixie/kubectl-pixie/probes/api"
	"github.com/kubectl-pixie/kubectl-pixie/probes/api/vocab"
)

// cqlClientReport is what a client of testdata/cql or testdata/cqlpy did.
type cqlClientReport struct {
	Inserts, Selects, Updates, Deletes, Batches, Pages, PagedRows int
	Errors                                                        map[string]int // by error code
}

// cqlServerReport is what testdata/cql's server handled.
type cqlServerReport struct {
	Requests map[int]int `json:"requests"` // by opcode
	Errors   map[int]int `json:"errors"`   // by error code
	Events   int         `json:"events"`   // EVENTs pushed
}

// buildCQLPeers builds testdata/cql (a module of its own: the table-store
// server and gocql's client) as two binaries, so server and client have
// different command names.
func buildCQLPeers(t *testing.T) (server, client string) {
	t.Helper()
	dir := t.TempDir()
	server, client = filepath.Join(dir, "cqlserver"), filepath.Join(dir, "cqlclient")
	build := exec.Command("go", "build", "-o", server, ".")
	build.Dir = filepath.Join("testdata", "cql")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the CQL peers: %v\n%s", err, out)
	}
	b, err := os.ReadFile(server)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(client, b, 0o755); err != nil {
		t.Fatal(err)
	}
	return server, client
}

// startCQLServer runs the server until the returned stop, which reports
// what it handled.
func startCQLServer(t *testing.T, bin string, args ...string) (port int, stop func() cqlServerReport) {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"server"}, args...)...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	r := bufio.NewReader(stdout)
	line, err := r.ReadString('\n')
	if err == nil {
		port, err = strconv.Atoi(strings.TrimSpace(line))
	}
	if err != nil {
		t.Fatalf("server port %q: %v", line, err)
	}
	waitTCP(t, fmt.Sprintf("127.0.0.1:%d", port))
	return port, func() cqlServerReport {
		stdin.Close()
		var rep cqlServerReport
		if err := json.NewDecoder(r).Decode(&rep); err != nil {
			t.Fatalf("server report: %v", err)
		}
		return rep
	}
}

// cqlOpcodes are the request opcodes by name, as the server counts them.
var cqlOpcodes = map[string]int{"STARTUP": 1, "OPTIONS": 5, "QUERY": 7, "PREPARE": 9, "EXECUTE": 10, "REGISTER": 11, "BATCH": 13, "AUTH_RESPONSE": 15}

// cqlRows counts records by "OP KIND table" and errors by code.
func cqlRows(events []api.CQLEvent) (rows, errs map[string]int) {
	rows, errs = map[string]int{}, map[string]int{}
	for _, e := range events {
		key := e.ReqOp
		if e.QueryKind != "" {
			key += " " + e.QueryKind
			for _, f := range strings.Fields(e.QueryTemplate) {
				if strings.Count(f, ".") == 1 && !strings.ContainsAny(f, "()?,") {
					key += " " + f
					break
				}
			}
		}
		if strings.Contains(e.RespBody, "more pages") {
			key += " more"
		}
		rows[key]++
		// Drivers read the schema tables on their own (gocql's keyspace
		// metadata, the Python driver's peers_v2): errors the test's
		// statements did not cause.
		if e.ErrorCode != 0 && !strings.Contains(e.QueryTemplate, "system") {
			errs[strconv.Itoa(e.ErrorCode)]++
		}
	}
	return rows, errs
}

// TestTraceCQL: gocql (testdata/cql, protocol v4) and the DataStax Python
// driver (Debian's python3-cassandra, testdata/cqlpy, protocol v5: frames
// in checksummed segments) against the table-store server of
// testdata/cql, traced by command name: the server and the Go
// client both ways, the Python client through the server. Requests per
// op equal what the server handled and, on the Go client's connections,
// what the client saw from its side; statements (EXECUTEs named by their
// PREPARE), batches, pages and errors by code equal what each client did;
// both log in (AUTHENTICATE, AUTH_RESPONSE) and the password reaches no
// output; the schema changes pushed as EVENTs are one-way rows.
func TestTraceCQL(t *testing.T) {
	requirePrivileged(t)
	python := "/usr/bin/python3" // Debian's, with python3-cassandra
	if out, err := exec.Command(python, "-c", "import cassandra").CombinedOutput(); err != nil {
		if os.Getenv("PIXIE_REQUIRE_PRIVILEGED") == "1" {
			t.Fatalf("python3-cassandra is not installed (make deps installs it): %s", out)
		}
		t.Skipf("SKIP: python3-cassandra is not installed (make deps installs it)")
	}
	serverBin, clientBin := buildCQLPeers(t)
	port, stop := startCQLServer(t, serverBin, "auth")
	tr := startTrace(t, "--comm", "cqlserver", "--comm", "cqlclient", "--duration", "120s")
	const n = 40
	run := func(name string, args ...string) cqlClientReport {
		t.Helper()
		cmd := exec.Command(name, args...)
		cmd.Stderr = os.Stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		var rep cqlClientReport
		if err := json.Unmarshal(out, &rep); err != nil {
			t.Fatalf("client report %q: %v", out, err)
		}
		t.Logf("%s: %+v", filepath.Base(name), rep)
		return rep
	}
	goRep := run(clientBin, "client", fmt.Sprintf("127.0.0.1:%d", port), strconv.Itoa(n))
	pyRep := run(python, "-W", "ignore", filepath.Join("testdata", "cqlpy", "client.py"), strconv.Itoa(port), strconv.Itoa(n), "5")
	recs := tr.stop(t)
	srv := stop()
	t.Logf("server: %+v", srv)

	events := tableLines[api.CQLEvent](t, tr.out.Bytes(), api.TableCQLEvents)
	var client, server []api.CQLEvent
	goPorts := map[uint16]bool{}
	for _, e := range events {
		switch {
		case e.TraceRole == vocab.RoleServer && e.Comm == "cqlserver" && e.LocalPort == uint16(port):
			server = append(server, e)
		case e.TraceRole == vocab.RoleClient && e.Comm == "cqlclient" && e.RemotePort == uint16(port):
			client = append(client, e)
			goPorts[e.LocalPort] = true
		default:
			t.Fatalf("record with wrong connection columns: %+v", e.ConnColumns)
		}
		if (e.Latency <= 0) != (e.RespOp == "EVENT") || e.Latency > int64(10*time.Second) {
			t.Errorf("%s %s: latency %v", e.ReqOp, e.QueryTemplate, time.Duration(e.Latency))
		}
		if e.ReqOp == "EXECUTE" && e.QueryTemplate == "" {
			t.Errorf("EXECUTE without its statement: %+v", e)
		}
	}
	// gocql speaks v4, the Python driver v5 (frames in segments).
	versions := map[string]int{}
	for _, e := range append(client, server...) {
		py := e.TraceRole == vocab.RoleServer && !goPorts[e.RemotePort]
		versions[fmt.Sprintf("python %v v%d", py, e.Version)]++
	}
	if len(versions) != 2 || versions["python false v4"] == 0 || versions["python true v5"] == 0 {
		t.Errorf("records by client and protocol version: %v", versions)
	}
	// The server side: every request the server handled, by op; errors by
	// code.
	byOp := func(es []api.CQLEvent, keep func(api.CQLEvent) bool) map[int]int {
		m := map[int]int{}
		for _, e := range es {
			if keep(e) && e.ReqOp != "" { // not a pushed EVENT
				m[cqlOpcodes[e.ReqOp]]++
			}
		}
		return m
	}
	all := func(api.CQLEvent) bool { return true }
	if got := byOp(server, all); fmt.Sprint(got) != fmt.Sprint(srv.Requests) {
		t.Errorf("server side: traced requests by opcode %v, the server handled %v", got, srv.Requests)
	}
	srvErrs := map[int]int{}
	for _, e := range server {
		if e.ErrorCode != 0 {
			srvErrs[e.ErrorCode]++
		}
	}
	if fmt.Sprint(srvErrs) != fmt.Sprint(srv.Errors) {
		t.Errorf("server side: traced errors by code %v, the server answered %v", srvErrs, srv.Errors)
	}
	// Pushed EVENTs (schema changes, to the connections that registered)
	// and logins: the password reaches no output.
	pushed := func(es []api.CQLEvent, keep func(api.CQLEvent) bool) (n int) {
		for _, e := range es {
			if e.RespOp == "EVENT" && keep(e) {
				n++
			}
		}
		return n
	}
	if got := pushed(server, all); got != srv.Events || got == 0 {
		t.Errorf("server side: traced %d EVENTs, the server pushed %d", got, srv.Events)

	}
	if got, want := pushed(client, all), pushed(server, func(e api.CQLEvent) bool { return goPorts[e.RemotePort] }); got != want {
		t.Errorf("gocql's connections: traced %d EVENTs client-side, %d server-side", got, want)
	}
	if bytes.Contains(tr.out.Bytes(), []byte("hunter2")) {
		t.Error("the password is in the trace's output")
	}
	// The Go client's connections seen from both ends agree.
	goServer := byOp(server, func(e api.CQLEvent) bool { return goPorts[e.RemotePort] })
	if got := byOp(client, all); fmt.Sprint(got) != fmt.Sprint(goServer) {
		t.Errorf("gocql's connections: traced %v client-side, %v server-side", got, goServer)
	}
	// What each client did, by statement.
	rows, errs := cqlRows(client)
	t.Logf("client side: %v errors %v", rows, errs)
	for k, want := range map[string]int{
		"EXECUTE INSERT ks.items": goRep.Inserts, "EXECUTE SELECT ks.items": goRep.Selects + 1, // + the last page
		"EXECUTE SELECT ks.items more": goRep.Pages - 1, "EXECUTE UPDATE ks.items": goRep.Updates,
		"EXECUTE DELETE ks.items": goRep.Deletes, "BATCH BATCH ks.items": goRep.Batches,
	} {
		if rows[k] != want {
			t.Errorf("client side: %d %q, gocql did %d", rows[k], k, want)
		}
	}
	for code, n := range goRep.Errors {
		if errs[code] != n {
			t.Errorf("client side: %d errors %s, gocql saw %d", errs[code], code, n)
		}
	}
	rows, _ = cqlRows(server)
	t.Logf("server side: %v", rows)
	for k, want := range map[string]int{
		"EXECUTE INSERT py.users": pyRep.Inserts, "EXECUTE SELECT py.users": pyRep.Selects,
		"BATCH BATCH py.users": pyRep.Batches, "QUERY SELECT py.users more": pyRep.Pages - 1,
		"EXECUTE INSERT ks.items": goRep.Inserts, "BATCH BATCH ks.items": goRep.Batches,
	} {
		if rows[k] != want {
			t.Errorf("server side: %d %q, the clients did %d", rows[k], k, want)
		}
	}
	sum := summaries(t, tr.out.Bytes(), vocab.ProtocolCQL)
	if s := sum["SELECT name FROM ks.items WHERE id = ? OK"]; s.Count != uint64(2*goRep.Selects) {
		t.Errorf("summary of the SELECT by key %+v (all %v)", s, sum)
	}
	if s := sum["INSERT INTO wide.t (k, v) VALUES (?, ?) Unavailable"]; s.Count != 4 || s.Errors != 4 {
		t.Errorf("summary of Unavailable %+v", s)
	}
	for _, s := range recs.stats {
		if s.Final && (s.LostBy["parse_errors"] != 0 || s.LostBy["unmatched_responses"] != 0 || s.LostBy["unmatched_requests"] != 0) {
			t.Errorf("final probe_stats lost %v", s.LostBy)
		}
	}
}

// cqlQueries connects as a raw client, starts the session and times n
// QUERYs; it returns the round trips and its local port.
func cqlQueries(t *testing.T, addr string, n int) (clientTimes, uint16) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r := bufio.NewReader(c)
	frame := func(stream uint16, op byte, body []byte) []byte {
		b := []byte{4, 0, byte(stream >> 8), byte(stream), op}
		return append(binary.BigEndian.AppendUint32(b, uint32(len(body))), body...)
	}
	roundTrip := func(f []byte) byte {
		if _, err := c.Write(f); err != nil {
			t.Fatal(err)
		}
		var hdr [9]byte
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			t.Fatal(err)
		}
		if _, err := r.Discard(int(binary.BigEndian.Uint32(hdr[5:]))); err != nil {
			t.Fatal(err)
		}
		return hdr[4]
	}
	startup := append(binary.BigEndian.AppendUint16(nil, 1), "\x00\x0bCQL_VERSION\x00\x053.0.0"...)
	if op := roundTrip(frame(0, 1, startup)); op != 2 {
		t.Fatalf("STARTUP answered by opcode %d", op)
	}
	q := "SELECT key, cluster_name FROM system.local WHERE key = 'local'"
	query := append(binary.BigEndian.AppendUint32(nil, uint32(len(q))), q...)
	query = append(query, 0, 1, 0) // consistency ONE, no flags
	ct := timeRequests(n, func(i int) time.Duration {
		f := frame(uint16(i%100+1), 7, query)
		start := time.Now()
		op := roundTrip(f)
		d := time.Since(start)
		if op != 8 {
			t.Fatalf("QUERY answered by opcode %d", op)
		}
		return d
	})
	return ct, uint16(c.LocalAddr().(*net.TCPAddr).Port)
}

// TestTraceCQLLatency: QUERYs timed by a raw client, traced on both
// sides, hold the latency rule.
func TestTraceCQLLatency(t *testing.T) {
	requirePrivileged(t)
	serverBin, _ := buildCQLPeers(t)
	port, _ := startCQLServer(t, serverBin)
	var ct clientTimes
	var cport uint16
	out := selfTrace(t, func() { ct, cport = cqlQueries(t, fmt.Sprintf("127.0.0.1:%d", port), 200) }, "--comm", "cqlserver")
	cl, sv := connLatencies(t, out, api.TableCQLEvents, cport, func(e *api.CQLEvent) bool { return e.ReqOp == "QUERY" })
	checkLatency(t, latencyCase{name: "cql QUERY", client: ct, tracedClient: cl, tracedServer: sv})
}
