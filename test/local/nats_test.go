//go:build linux

package local

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/kubectl-pixie/kubectl-pixie/probes/api"
	"github.com/kubectl-pixie/kubectl-pixie/probes/api/vocab"
)

// natsReport is what testdata/nats did and what nats.go counted.
type natsReport struct {
	Published, Requests, Denied, Received int
	NoResponders                          int `json:"no_responders"`
	Subscribed, Unsubscribed              int
	PubOut, PubIn, SubOut, SubIn          uint64
}

// natsCounts are the server's own counters (monitoring endpoint).
type natsCounts struct {
	InMsgs, OutMsgs, Inserts uint64
}

func natsMonitor(t *testing.T, port int) natsCounts {
	t.Helper()
	get := func(path string, v any) {
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/%s", port, path))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
			t.Fatalf("/%s: %v", path, err)
		}
	}
	var varz struct {
		InMsgs  uint64 `json:"in_msgs"`
		OutMsgs uint64 `json:"out_msgs"`
	}
	var subsz struct {
		Inserts uint64 `json:"num_inserts"`
	}
	get("varz", &varz)
	get("subsz", &subsz)
	return natsCounts{InMsgs: varz.InMsgs, OutMsgs: varz.OutMsgs, Inserts: subsz.Inserts}
}

// startNATS runs Debian's nats-server with a user whose publishes to
// secret.> are denied, and its monitoring endpoint; it returns the client
// and monitoring ports.
func startNATS(t *testing.T) (port, monitor int) {
	t.Helper()
	server := requireCmd(t, "nats-server")
	port, monitor = freePort(t, "tcp"), freePort(t, "tcp")
	conf := filepath.Join(t.TempDir(), "nats.conf")
	// The first PING of the server comes 2 s into an idle connection;
	// the later ones only after ping_interval.
	text := fmt.Sprintf(`listen: 127.0.0.1:%d
http: 127.0.0.1:%d
ping_interval: "5m"
authorization { users = [ { user: alice, password: hunter2, permissions: { publish: { deny: ["secret.>"] } } } ] }
`, port, monitor)
	if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	startDaemon(t, server, "-c", conf)
	waitTCP(t, fmt.Sprintf("127.0.0.1:%d", port))
	waitTCP(t, fmt.Sprintf("127.0.0.1:%d", monitor))
	return port, monitor
}

// natsTally counts one role's records.
type natsTally struct {
	in, out int            // messages the clients sent and received, as the server counts them
	subs    int            // SUB lines
	byRow   map[string]int // "PUB svc.add paired", "-ERR Permissions Violation", ...
}

// natsTallies counts the records of each role: a message is a record's
// own op or the reply it was paired with (its resp's cmd).
func natsTallies(t *testing.T, events []api.NATSEvent, port int, clientComm string) map[string]*natsTally {
	t.Helper()
	tallies := map[string]*natsTally{vocab.RoleClient: {byRow: map[string]int{}}, vocab.RoleServer: {byRow: map[string]int{}}}
	count := func(tl *natsTally, cmd string) {
		switch cmd {
		case "PUB", "HPUB":
			tl.in++
		case "MSG", "HMSG":
			tl.out++
		}
	}
	for _, e := range events {
		switch {
		case e.TraceRole == vocab.RoleServer && e.Comm == "nats-server" && e.LocalPort == uint16(port):
		case e.TraceRole == vocab.RoleClient && e.Comm == clientComm && e.RemotePort == uint16(port):
		default:
			t.Fatalf("record with wrong connection columns: %+v", e.ConnColumns)
		}
		tl := tallies[e.TraceRole]
		count(tl, e.Cmd)
		row := e.Cmd + " " + e.SubjectTemplate
		if e.Resp != "" && e.Resp[0] == '{' {
			var r struct{ Cmd string }
			if err := json.Unmarshal([]byte(e.Resp), &r); err != nil {
				t.Fatalf("resp %q: %v", e.Resp, err)
			}
			count(tl, r.Cmd)
			row += " paired"
			if e.Latency <= 0 || e.Latency > int64(5*time.Second) {
				t.Errorf("%s latency %v", row, time.Duration(e.Latency))
			}
		}
		if e.Error != "" {
			row += " " + e.Error
		}
		if e.Cmd == "SUB" {
			tl.subs++
		}
		tl.byRow[row]++
	}
	return tallies
}

// TestTraceNATS: nats.go clients (testdata/nats: a publisher-requester
// and a subscriber-responder) against Debian's nats-server with a user
// and password, both traced by command name. The messages each side
// moved equal what the server counted (/varz in_msgs and out_msgs; the
// no-responders statuses it sends are not in out_msgs) and what nats.go
// counted; SUBs equal /subsz's inserts; every request is paired with its
// reply on both connections it crosses; denied publishes are -ERR rows;
// the password reaches no output.
func TestTraceNATS(t *testing.T) {
	requirePrivileged(t)
	port, monitor := startNATS(t)
	client := filepath.Join(t.TempDir(), "nclient")
	build := exec.Command("go", "build", "-o", client, ".")
	build.Dir = filepath.Join("testdata", "nats")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the NATS client: %v\n%s", err, out)
	}
	before := natsMonitor(t, monitor)
	tr := startTrace(t, "--comm", "nats-server", "--comm", "nclient", "--duration", "90s")
	const n, m, denied = 200, 100, 4
	out, err := exec.Command(client, fmt.Sprintf("nats://127.0.0.1:%d", port), "alice", "hunter2",
		strconv.Itoa(n), strconv.Itoa(m), strconv.Itoa(denied)).Output()
	if err != nil {
		t.Fatalf("nclient: %v", err)
	}
	var rep natsReport
	if err := json.Unmarshal(out, &rep); err != nil {
		t.Fatalf("client report %q: %v", out, err)
	}
	recs := tr.stop(t)
	after := natsMonitor(t, monitor)
	t.Logf("client: %+v; server counted in %d out %d inserts %d", rep, after.InMsgs-before.InMsgs, after.OutMsgs-before.OutMsgs, after.Inserts-before.Inserts)
	if rep.Published != n+1 || rep.Requests != m || rep.NoResponders != 3 || rep.Denied != denied || rep.Received != n+1 {
		t.Fatalf("the client's load is not what the test meant: %+v", rep)
	}
	if bytes.Contains(tr.out.Bytes(), []byte("hunter2")) {
		t.Error("the password is in the trace's output")
	}

	events := tableLines[api.NATSEvent](t, tr.out.Bytes(), api.TableNATSEvents)
	tallies := natsTallies(t, events, port, "nclient")
	for role, tl := range tallies {
		t.Logf("%s: in %d out %d subs %d rows %v", role, tl.in, tl.out, tl.subs, tl.byRow)
		wantIn, wantOut := int(rep.PubOut+rep.SubOut), int(rep.PubIn+rep.SubIn)
		if tl.in != wantIn || tl.out != wantOut {
			t.Errorf("%s: traced %d messages in and %d out; nats.go counted %d and %d", role, tl.in, tl.out, wantIn, wantOut)
		}
		if role == vocab.RoleServer && (uint64(tl.in) != after.InMsgs-before.InMsgs || uint64(tl.out-rep.NoResponders) != after.OutMsgs-before.OutMsgs) {
			t.Errorf("server: traced %d in, %d out (%d no-responders statuses); the server counted %d and %d", tl.in, tl.out, rep.NoResponders,
				after.InMsgs-before.InMsgs, after.OutMsgs-before.OutMsgs)
		}
		if uint64(tl.subs) != after.Inserts-before.Inserts || tl.subs != rep.Subscribed+1 { // +1: nats.go's inbox for replies
			t.Errorf("%s: traced %d SUB; the server inserted %d, the client subscribed %d", role, tl.subs, after.Inserts-before.Inserts, rep.Subscribed)
		}
		for row, want := range map[string]int{
			"PUB orders.*": n, "HPUB orders.h": 1, "MSG orders.*": n, "HMSG orders.h": 1,
			"PUB svc.add paired": m, "MSG svc.add paired": m, "PUB svc.none paired 503": 3,
			"-ERR  Permissions Violation for Publish to \"secret.x\"": denied, "PUB secret.x": denied,
			"UNSUB tmp.x": 1, "CONNECT ": 2, "INFO ": 2,
		} {
			if tl.byRow[row] != want {
				t.Errorf("%s: %d rows %q, want %d", role, tl.byRow[row], row, want)
			}
		}
	}
	sum := summaries(t, tr.out.Bytes(), vocab.ProtocolNATS)
	if s := sum["PUB svc.add OK"]; s.Count != 2*m || s.LatencyP50 <= 0 {
		t.Errorf("PUB svc.add summary %+v", s)
	}
	if s := sum["-ERR  Permissions Violation"]; s.Count != 2*denied || s.Errors != 2*denied {
		t.Errorf("-ERR summary %+v (all %v)", s, sum)
	}
	for _, s := range recs.stats {
		if s.Final && (s.LostBy["parse_errors"] != 0 || s.LostBy["resyncs"] != 0) {
			t.Errorf("final probe_stats lost %v", s.LostBy)
		}
	}
}

// natsPings connects to the server as a raw client and times n PINGs;
// it returns the round trips and its local port.
func natsPings(t *testing.T, addr string, n int) (clientTimes, uint16) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r := bufio.NewReader(c)
	read := func(want string) {
		t.Helper()
		line, err := r.ReadString('\n')
		if err != nil || want != "" && line != want {
			t.Fatalf("read %q, want %q: %v", line, want, err)
		}
	}
	read("") // INFO
	if _, err := c.Write([]byte(`CONNECT {"user":"alice","pass":"hunter2","verbose":false}` + "\r\nPING\r\n")); err != nil {
		t.Fatal(err)
	}
	read("PONG\r\n")
	ct := timeRequests(n, func(int) time.Duration {
		start := time.Now()
		if _, err := c.Write([]byte("PING\r\n")); err != nil {
			t.Fatal(err)
		}
		line, err := r.ReadString('\n')
		d := time.Since(start)
		if err != nil || line != "PONG\r\n" {
			t.Fatalf("PING: %q %v (a PING from the server: the connection sat idle)", line, err)
		}
		return d
	})
	return ct, uint16(c.LocalAddr().(*net.TCPAddr).Port)
}

// TestTraceNATSLatency: PINGs timed by a raw client, traced on both
// sides, hold the latency rule.
func TestTraceNATSLatency(t *testing.T) {
	requirePrivileged(t)
	port, _ := startNATS(t)
	var ct clientTimes
	var cport uint16
	out := selfTrace(t, func() { ct, cport = natsPings(t, fmt.Sprintf("127.0.0.1:%d", port), 200) }, "--comm", "nats-server")
	cl, sv := connLatencies(t, out, api.TableNATSEvents, cport, func(e *api.NATSEvent) bool { return e.Cmd == "PING" })
	if len(cl) == 0 || len(sv) == 0 {
		t.Fatalf("traced %d PINGs client-side, %d server-side", len(cl), len(sv))
	}
	// The first PING was the handshake's, not timed.
	checkLatency(t, latencyCase{name: "nats PING", client: ct, tracedClient: cl[1:], tracedServer: sv[1:]})
}

// natsNodeModules is where hack/deps.sh installs nats.js.
const natsNodeModules = "/var/cache/kubectl-pixie/npm/nats-2.29.3/node_modules"

// TestTraceNATSNode: a second language, nats.js on Node.js (one
// connection publishing, subscribing, requesting and responding) against
// Debian's nats-server, both traced: messages in and out equal /varz and
// nats.js's own counts on both ends, requests paired both ways.
func TestTraceNATSNode(t *testing.T) {
	requirePrivileged(t)
	if _, err := os.Stat(natsNodeModules); err != nil {
		if os.Getenv("PIXIE_REQUIRE_PRIVILEGED") == "1" {
			t.Fatalf("nats.js is not installed (make deps installs it): %v", err)
		}
		t.Skipf("SKIP: nats.js is not installed (make deps installs it)")
	}
	port, monitor := startNATS(t)
	node := nodeAs(t, "natsnode")
	before := natsMonitor(t, monitor)
	tr := startTrace(t, "--comm", "nats-server", "--comm", "natsnode", "--duration", "90s")
	const n, m = 200, 100
	script, _ := filepath.Abs(filepath.Join("testdata", "natsnode", "client.js"))
	cmd := exec.Command(node, script, fmt.Sprintf("nats://127.0.0.1:%d", port), strconv.Itoa(n), strconv.Itoa(m))
	cmd.Env = append(os.Environ(), "NODE_PATH="+natsNodeModules)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("natsnode: %v", err)
	}
	var rep struct {
		Published, Requests, Received int
		InMsgs                        int `json:"in_msgs"`
		OutMsgs                       int `json:"out_msgs"`
	}
	if err := json.Unmarshal(out, &rep); err != nil {
		t.Fatalf("client report %q: %v", out, err)
	}
	tr.stop(t)
	after := natsMonitor(t, monitor)
	t.Logf("client: %+v; server counted in %d out %d", rep, after.InMsgs-before.InMsgs, after.OutMsgs-before.OutMsgs)
	if rep.Published != n || rep.Requests != m || rep.Received != n {
		t.Fatalf("the client's load is not what the test meant: %+v", rep)
	}
	events := tableLines[api.NATSEvent](t, tr.out.Bytes(), api.TableNATSEvents)
	for role, tl := range natsTallies(t, events, port, "natsnode") {
		t.Logf("%s: in %d out %d rows %v", role, tl.in, tl.out, tl.byRow)
		if tl.in != rep.OutMsgs || tl.out != rep.InMsgs || uint64(tl.in) != after.InMsgs-before.InMsgs || uint64(tl.out) != after.OutMsgs-before.OutMsgs {
			t.Errorf("%s: traced %d messages in and %d out; nats.js counted %d and %d, the server %d and %d", role, tl.in, tl.out,
				rep.OutMsgs, rep.InMsgs, after.InMsgs-before.InMsgs, after.OutMsgs-before.OutMsgs)
		}
		for row, want := range map[string]int{"PUB orders.*": n, "MSG orders.*": n, "PUB svc.add paired": m, "MSG svc.add paired": m, "CONNECT ": 1} {
			if tl.byRow[row] != want {
				t.Errorf("%s: %d rows %q, want %d", role, tl.byRow[row], row, want)
			}
		}
	}
	if bytes.Contains(tr.out.Bytes(), []byte("hunter2")) {
		t.Error("the password is in the trace's output")
	}
}
