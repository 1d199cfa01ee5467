//go:build linux

package local

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kubectl-pixie/kubectl-pixie/probes/api"
	"github.com/kubectl-pixie/kubectl-pixie/probes/api/vocab"
)

// pgServer is a throwaway PostgreSQL cluster started by a test.
type pgServer struct {
	port int
	log  *syncBuffer
	dir  string
}

// pgBin finds a PostgreSQL server program of Debian's packages.
func pgBin(t *testing.T, name string) string {
	t.Helper()
	m, _ := filepath.Glob("/usr/lib/postgresql/*/bin/" + name)
	if len(m) == 0 {
		if os.Getenv("PIXIE_REQUIRE_PRIVILEGED") == "1" {
			t.Fatalf("%s is not installed (make deps installs postgresql)", name)
		}
		t.Skipf("SKIP: %s is not installed (make deps installs postgresql)", name)
	}
	return m[len(m)-1]
}

// asUser runs cmd with the uid and gid of name (PostgreSQL refuses root).
func asUser(t *testing.T, cmd *exec.Cmd, name string) {
	t.Helper()
	u, err := user.Lookup(name)
	if err != nil {
		t.Fatalf("user %s: %v (the postgresql package creates it)", name, err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}}
}

// startPostgres initdbs a cluster into a temporary directory and runs it
// on 127.0.0.1:port: trust for everyone but pwuser, who must send a clear
// text password; every statement is logged, so the test can count what
// the server itself ran.
func startPostgres(t *testing.T) *pgServer {
	t.Helper()
	initdb, postgres := pgBin(t, "initdb"), pgBin(t, "postgres")
	dir, err := os.MkdirTemp("", "pixie-pgsql")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	data, sock := filepath.Join(dir, "data"), filepath.Join(dir, "sock")
	for _, d := range []string{data, sock} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command("chown", "postgres:postgres", d).CombinedOutput(); err != nil {
			t.Fatalf("chown: %v %s", err, out)
		}
	}
	init := exec.Command(initdb, "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync", "--locale=C")
	asUser(t, init, "postgres")
	if out, err := init.CombinedOutput(); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	hba := "host all pwuser 127.0.0.1/32 password\nhost all all 127.0.0.1/32 trust\nlocal all all trust\n"
	if err := os.WriteFile(filepath.Join(data, "pg_hba.conf"), []byte(hba), 0o600); err != nil {
		t.Fatal(err)
	}
	s := &pgServer{port: freePort(t, "tcp"), log: &syncBuffer{}, dir: dir}
	cmd := exec.Command(postgres, "-D", data, "-k", sock, "-p", strconv.Itoa(s.port), "-c", "listen_addresses=127.0.0.1",
		"-c", "fsync=off", "-c", "log_statement=all", "-c", "logging_collector=off", "-c", "log_line_prefix=%p ",
		"-c", "ssl=off")
	asUser(t, cmd, "postgres")
	cmd.Stdout, cmd.Stderr = s.log, s.log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGINT) // fast shutdown
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("postgres log:\n%s", s.log.String())
		}
	})
	waitTCP(t, fmt.Sprintf("127.0.0.1:%d", s.port))
	for i := 0; ; i++ {
		if out, err := s.psqlCmd("postgres", "-c", "SELECT 1").CombinedOutput(); err == nil {
			break
		} else if i == 100 {
			t.Fatalf("postgres does not answer: %v %s", err, out)
		}
		time.Sleep(100 * time.Millisecond)
	}
	return s
}

func (s *pgServer) psqlCmd(usr string, args ...string) *exec.Cmd {
	cmd := exec.Command("psql", append([]string{"-X", "-q", "-h", "127.0.0.1", "-p", strconv.Itoa(s.port), "-U", usr, "-d", "postgres"}, args...)...)
	cmd.Env = append(os.Environ(), "PGSSLMODE=prefer", "PGCONNECT_TIMEOUT=10")
	return cmd
}

// logged counts what the server logged: statements run (log_statement=all:
// "statement: " for simple queries, "execute <name>: " for the extended
// protocol) and errors. An error whose STATEMENT line is not the last
// statement logged (a Bind that failed planning) is a statement of its own.
func logged(log string) (statements, errs int) {
	re := regexp.MustCompile(`^(\d+) (?:LOG:  (?:statement|execute [^:]*): (.*)|(ERROR):  |STATEMENT:  (.*))`)
	last := map[string]string{} // pid -> its last statement
	failed := map[string]bool{} // pid -> an ERROR waits for its STATEMENT
	for _, l := range strings.Split(log, "\n") {
		m := re.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		pid := m[1]
		switch {
		case m[3] != "":
			errs++
			failed[pid] = true
		case strings.HasPrefix(l, pid+" STATEMENT:"):
			if failed[pid] && m[4] != last[pid] {
				statements++
			}
			failed[pid] = false
		default:
			statements++
			last[pid] = m[2]
		}
	}
	return statements, errs
}

// pgConn is a minimal PostgreSQL client speaking the wire protocol, so
// the test can time each round trip and pipeline extended queries.
type pgConn struct {
	c net.Conn
	r *bufio.Reader
}

func pgMsg(typ byte, parts ...string) []byte {
	body := strings.Join(parts, "")
	b := []byte{typ, 0, 0, 0, 0}
	binary.BigEndian.PutUint32(b[1:], uint32(4+len(body)))
	return append(b, body...)
}

func dialPg(t *testing.T, port int) *pgConn {
	t.Helper()
	c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	p := &pgConn{c: c, r: bufio.NewReader(c)}
	params := "user\x00postgres\x00database\x00postgres\x00\x00"
	start := binary.BigEndian.AppendUint32(nil, uint32(8+len(params)))
	start = binary.BigEndian.AppendUint32(start, 196608)
	if _, err := c.Write(append(start, params...)); err != nil {
		t.Fatal(err)
	}
	if _, err := p.untilReady(1); err != nil {
		t.Fatal(err)
	}
	return p
}

// pings sends n simple queries SELECT 1 one at a time and returns the
// round trips the client measured.
func (p *pgConn) pings(t *testing.T, n int) clientTimes {
	t.Helper()
	return timeRequests(n, func(int) time.Duration {
		start := time.Now()
		if _, err := p.c.Write(pgMsg('Q', "SELECT 1\x00")); err != nil {
			t.Fatal(err)
		}
		if _, err := p.untilReady(1); err != nil {
			t.Fatal(err)
		}
		return time.Since(start)
	})
}

// untilReady reads messages until n ReadyForQuery, returning the
// ErrorResponses' count.
func (p *pgConn) untilReady(n int) (errs int, err error) {
	var hdr [5]byte
	for n > 0 {
		if _, err := io.ReadFull(p.r, hdr[:]); err != nil {
			return errs, err
		}
		body := make([]byte, binary.BigEndian.Uint32(hdr[1:])-4)
		if _, err := io.ReadFull(p.r, body); err != nil {
			return errs, err
		}
		switch hdr[0] {
		case 'Z':
			n--
		case 'E':
			errs++
		case 'R':
			if binary.BigEndian.Uint32(body) != 0 {
				return errs, errors.New("authentication asked for")
			}
		}
	}
	return errs, nil
}

// TestTracePostgreSQL: a real PostgreSQL (Debian's package, a throwaway
// cluster) driven by psql (simple queries with literals, failing
// statements, COPY, LISTEN/NOTIFY, a clear-text password login), pgbench
// (extended and prepared protocols) and a Go client (timed round trips,
// pipelined extended queries). Traced by comm: every statement the server
// logged is traced once, per-template counts and SQLSTATE counts are
// exact, no literal or password leaves, and server-side latencies stay
// within the client's round trips.
func TestTracePostgreSQL(t *testing.T) {
	requirePrivileged(t)
	requireCmd(t, "psql")
	pgbench := requireCmd(t, "pgbench")
	s := startPostgres(t)
	port := strconv.Itoa(s.port)
	run := func(cmd *exec.Cmd) string {
		t.Helper()
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%v: %v\n%s", cmd.Args, err, out)
		}
		return string(out)
	}
	// Setup, before tracing.
	run(s.psqlCmd("postgres", "-c", "CREATE TABLE items (id int PRIMARY KEY, name text)", "-c", "CREATE ROLE pwuser LOGIN PASSWORD 'hunter2-pg'"))

	tr := startTrace(t, "--comm", "postgres", "--duration", "120s", "--data-access", "restricted")
	logFrom := len(s.log.String())

	// pgbench -i loads 100000 rows with COPY: the server reads them in
	// calls longer than the capture, so the COPY data has gaps.
	run(exec.Command(pgbench, "-h", "127.0.0.1", "-p", port, "-U", "postgres", "-i", "-s", "1", "-q", "postgres"))

	const selects, inserts, missing, dups, rows = 20, 10, 3, 2, 5
	var script strings.Builder
	for i := range inserts {
		fmt.Fprintf(&script, "INSERT INTO items VALUES (%d, 'topsecret-%d');\n", i+1, i)
	}
	for i := range selects {
		fmt.Fprintf(&script, "SELECT name FROM items WHERE id = %d;\n", i%inserts+1)
	}
	for range missing {
		script.WriteString("SELECT * FROM nosuch_table;\n")
	}
	for range dups {
		script.WriteString("INSERT INTO items VALUES (1, 'topsecret-dup');\n")
	}
	copyFile := filepath.Join(s.dir, "copy.tsv")
	var copyRows strings.Builder
	for i := range rows {
		fmt.Fprintf(&copyRows, "%d\ttopsecret-copy-%d\n", 100+i, i)
	}
	if err := os.WriteFile(copyFile, []byte(copyRows.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(&script, "\\copy items FROM '%s'\n", copyFile)
	script.WriteString("LISTEN news;\nNOTIFY news, 'topsecret-payload';\n")
	// 222 kB of rows, written in 8 kB calls cut at the 4 kB capture: the
	// answer has gaps, its last call (871 bytes) ends with the tag.
	const bigs = 3
	for range bigs {
		script.WriteString("SELECT repeat('x', 100) FROM generate_series(1, 2000);\n")
	}
	scriptFile := filepath.Join(s.dir, "script.sql")
	if err := os.WriteFile(scriptFile, []byte(script.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	run(s.psqlCmd("postgres", "-f", scriptFile))
	pw := s.psqlCmd("pwuser", "-c", "SELECT current_user")
	pw.Env = append(pw.Env, "PGPASSWORD=hunter2-pg")
	run(pw)

	benchOut := run(exec.Command(pgbench, "-h", "127.0.0.1", "-p", port, "-U", "postgres", "-n", "-S", "-M", "extended", "-c", "2", "-t", "50", "postgres"))
	run(exec.Command(pgbench, "-h", "127.0.0.1", "-p", port, "-U", "postgres", "-n", "-S", "-M", "prepared", "-c", "1", "-t", "30", "postgres"))

	// The Go client: timed simple queries, then three pipelined extended
	// queries in one write (the second fails), answered in order.
	g := dialPg(t, s.port)
	g.pings(t, 200)
	var batch []byte
	for _, q := range []string{"SELECT 42", "SELECT 1/0", "SELECT 'topsecret-pipe'"} {
		batch = append(batch, pgMsg('P', "\x00", q+"\x00", "\x00\x00")...)
		batch = append(batch, pgMsg('B', "\x00\x00", "\x00\x00\x00\x00\x00\x00")...)
		batch = append(batch, pgMsg('E', "\x00", "\x00\x00\x00\x00")...)
		batch = append(batch, pgMsg('S')...)
	}
	if _, err := g.c.Write(batch); err != nil {
		t.Fatal(err)
	}
	if errs, err := g.untilReady(3); err != nil || errs != 1 {
		t.Fatalf("pipelined batch: %d errors, %v", errs, err)
	}
	g.c.Close()
	time.Sleep(200 * time.Millisecond)

	recs := tr.stop(t)
	serverLog := s.log.String()[logFrom:]
	wantStatements, wantErrs := logged(serverLog)
	out := tr.out.Bytes()
	if strings.Contains(string(out), "topsecret") || strings.Contains(string(out), "hunter2") {
		for _, l := range strings.Split(string(out), "\n") {
			if strings.Contains(l, "topsecret") || strings.Contains(l, "hunter2") {
				t.Errorf("a literal or password left the node: %s", l)
				break
			}
		}
	}
	events := tableLines[api.PgSQLEvent](t, out, api.TablePgSQLEvents)
	byTmpl := map[string]int{}
	byState := map[string]int{}
	statements, errs := 0, 0
	for _, e := range events {
		if e.TraceRole != vocab.RoleServer || e.LocalPort != uint16(s.port) || e.RemoteAddr != "127.0.0.1" || e.Comm != "postgres" {
			t.Fatalf("record with wrong connection columns: %+v", e.ConnColumns)
		}
		if e.Latency <= 0 || e.Latency > int64(5*time.Second) {
			t.Errorf("%s %s latency %v", e.ReqCmd, e.QueryTemplate, time.Duration(e.Latency))
		}
		byTmpl[e.ReqCmd+" "+e.QueryTemplate]++
		if e.SQLState != "" {
			byState[e.SQLState]++
			errs++
		}
		if e.ReqCmd != "PREPARE" {
			statements++
		}
		if strings.HasPrefix(e.QueryTemplate, "COPY pgbench_accounts") && e.Resp != "COPY 100000" ||
			strings.HasPrefix(e.QueryTemplate, "SELECT repeat") && e.Resp != "SELECT 2000" {
			t.Errorf("%s -> %q", e.QueryTemplate, e.Resp)
		}
	}
	t.Logf("traced %d records: %v; errors %v (tables %v)", len(events), byTmpl, byState, recs.tables)
	t.Logf("server logged %d statements, %d errors", wantStatements, wantErrs)
	if statements != wantStatements || errs != wantErrs {
		t.Errorf("traced %d statements and %d errors, the server logged %d and %d", statements, errs, wantStatements, wantErrs)
	}
	for k, want := range map[string]int{
		"QUERY INSERT INTO items VALUES (?)":                           inserts + dups,
		"QUERY SELECT name FROM items WHERE id = ?":                    selects,
		"QUERY SELECT * FROM nosuch_table":                             missing,
		"QUERY COPY items FROM STDIN":                                  1,
		"QUERY LISTEN news":                                            1,
		"QUERY NOTIFY news, ?":                                         1,
		"QUERY SELECT current_user":                                    1,
		"QUERY SELECT repeat(?) FROM generate_series(?)":               bigs,
		"QUERY COPY pgbench_accounts from stdin with (freeze on)":      1,
		"EXECUTE SELECT abalance FROM pgbench_accounts WHERE aid = $1": 100 + 30,
		"PREPARE SELECT abalance FROM pgbench_accounts WHERE aid = $1": 1,
		"QUERY SELECT ?":                                               200,
		"EXECUTE SELECT ?":                                             2,
		"EXECUTE SELECT ?/?":                                           1,
	} {
		if byTmpl[k] != want {
			t.Errorf("traced %d %q, want %d", byTmpl[k], k, want)
		}
	}
	if byState["42P01"] != missing || byState["23505"] != dups || byState["22012"] != 1 || len(byState) != 3 {
		t.Errorf("traced errors %v, want 42P01:%d 23505:%d 22012:1", byState, missing, dups)
	}

	// The Go client's queries again, on a new connection, traced on both
	// sides this time.
	var clientLat clientTimes
	var goPort uint16
	lout := selfTrace(t, func() {
		g := dialPg(t, s.port)
		clientLat = g.pings(t, 200)
		goPort = uint16(g.c.LocalAddr().(*net.TCPAddr).Port)
	}, "--comm", "postgres")
	cl, sv := connLatencies(t, lout, api.TablePgSQLEvents, goPort, func(e *api.PgSQLEvent) bool { return e.ReqCmd == "QUERY" && e.QueryTemplate == "SELECT ?" })
	checkLatency(t, latencyCase{name: "PostgreSQL SELECT 1", client: clientLat, tracedClient: cl, tracedServer: sv})

	// pgbench's own average latency bounds the traced average of its run.
	if m := regexp.MustCompile(`latency average = ([0-9.]+) ms`).FindStringSubmatch(benchOut); m != nil {
		avg, _ := strconv.ParseFloat(m[1], 64)
		var sum int64
		n := 0
		for _, e := range events {
			if e.ReqCmd == "EXECUTE" && strings.Contains(e.QueryTemplate, "pgbench_accounts") {
				sum += e.Latency
				n++
			}
		}
		t.Logf("pgbench latency average %.3f ms, traced %.3f ms", avg, float64(sum)/float64(n)/1e6)
		if n == 0 || float64(sum)/float64(n) > avg*1e6*1.5 {
			t.Errorf("traced pgbench average %.3f ms vs pgbench's %.3f ms", float64(sum)/float64(max(n, 1))/1e6, avg)
		}
	} else {
		t.Errorf("no latency average in pgbench's output:\n%s", benchOut)
	}

	// The aggregated rows (http_summary with protocol pgsql) agree.
	sum := summaries(t, out, vocab.ProtocolPgSQL)
	if r := sum["SELECT name FROM items WHERE id = ? OK"]; r.Count != selects || r.Errors != 0 || r.LatencyP50 <= 0 {
		t.Errorf("SELECT summary %+v (all: %v)", r, keys(sum))
	}
	if r := sum["SELECT * FROM nosuch_table 42P01"]; r.Count != missing || r.Errors != missing {
		t.Errorf("42P01 summary %+v", r)
	}
	if r := sum["INSERT INTO items VALUES (?) 23505"]; r.Count != dups || r.Errors != dups {
		t.Errorf("23505 summary %+v", r)
	}
	for _, st := range recs.stats {
		if st.Final && (st.LostBy["parse_errors"] != 0 || st.LostBy["unmatched_responses"] != 0 || st.LostBy["unmatched_requests"] != 0) {
			t.Errorf("final probe_stats lost %v", st.LostBy)
		}
		if st.Final && st.LostBy["truncated"] == 0 {
			t.Errorf("no call was cut at the capture: the COPY and large results did not test gaps (%v)", st.LostBy)
		}
	}
}

func keys[V any](m map[string]V) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	return ks
}

// TestTracePostgreSQLClientAndMidStream: the client side (pgbench, traced
// by comm from its start) is paired as a client, and a connection opened
// before tracing started is picked up at its next query.
func TestTracePostgreSQLClientAndMidStream(t *testing.T) {
	requirePrivileged(t)
	requireCmd(t, "psql")
	pgbench := requireCmd(t, "pgbench")
	s := startPostgres(t)
	port := strconv.Itoa(s.port)
	if out, err := exec.Command(pgbench, "-h", "127.0.0.1", "-p", port, "-U", "postgres", "-i", "-s", "1", "-q", "postgres").CombinedOutput(); err != nil {
		t.Fatalf("pgbench -i: %v\n%s", err, out)
	}
	early := dialPg(t, s.port) // connected and logged in before tracing
	earlyPort := uint16(early.c.LocalAddr().(*net.TCPAddr).Port)

	tr := startTrace(t, "--comm", "pgbench", "--comm", "postgres", "--duration", "120s")
	const n, txs = 50, 100
	for range n {
		if _, err := early.c.Write(pgMsg('Q', "SELECT 2\x00")); err != nil {
			t.Fatal(err)
		}
		if _, err := early.untilReady(1); err != nil {
			t.Fatal(err)
		}
	}
	if out, err := exec.Command(pgbench, "-h", "127.0.0.1", "-p", port, "-U", "postgres", "-n", "-S", "-M", "extended", "-c", "1",
		"-t", strconv.Itoa(txs), "postgres").CombinedOutput(); err != nil {
		t.Fatalf("pgbench: %v\n%s", err, out)
	}
	early.c.Close()
	time.Sleep(200 * time.Millisecond)
	tr.stop(t)

	events := tableLines[api.PgSQLEvent](t, tr.out.Bytes(), api.TablePgSQLEvents)
	midStream, clientExec, serverExec := 0, 0, 0
	for _, e := range events {
		switch {
		case e.TraceRole == vocab.RoleServer && e.RemotePort == earlyPort:
			if e.QueryTemplate != "SELECT ?" || e.Resp != "SELECT 1" {
				t.Errorf("mid-stream record %s -> %s", e.QueryTemplate, e.Resp)
			}
			midStream++
		case e.Comm == "pgbench":
			if e.TraceRole != vocab.RoleClient || e.RemotePort != uint16(s.port) || e.Latency <= 0 {
				t.Errorf("pgbench record columns %+v", e.ConnColumns)
			}
			if e.ReqCmd == "EXECUTE" && e.QueryTemplate == "SELECT abalance FROM pgbench_accounts WHERE aid = $1" {
				clientExec++
			}
		case e.Comm == "postgres" && e.ReqCmd == "EXECUTE" && strings.Contains(e.QueryTemplate, "pgbench_accounts"):
			serverExec++
		}
	}
	t.Logf("mid-stream %d, pgbench (client side) %d, server side %d", midStream, clientExec, serverExec)
	if midStream != n {
		t.Errorf("traced %d queries of the connection opened before tracing, want %d", midStream, n)
	}
	if clientExec != txs || serverExec != txs {
		t.Errorf("traced %d pgbench executes on the client side and %d on the server side, want %d", clientExec, serverExec, txs)
	}
}
