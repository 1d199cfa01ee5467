//go:build linux

package local

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// The data-access tests plant secrets in every field a user could put one,
// with real servers and clients, and trace the same traffic with several
// plugins at once: the default (restricted) as -o json and as a table,
// none, and full. No secret may appear in any output of the first three;
// every one must appear under full (so the traffic was traced and the
// secrets were captured: their absence elsewhere is redaction).

// modeRun is one `kubectl pixie trace --local` of a data-access test.
type modeRun struct {
	name, note  string
	cmd         *exec.Cmd
	out, errOut syncBuffer
	done        chan struct{}
}

// dataModes are the runs of every data-access test: name -> extra flags.
// "restricted" and "table" pass no mode: restricted is the default.
var dataModes = map[string][]string{
	"restricted": {"-o", "json"},
	"table":      {"-o", "table"},
	"none":       {"-o", "json", "--data-access", "none"},
	"full":       {"-o", "json", "--data-access", "full"},
}

// noteFor is what a run's stderr says about its mode.
func noteFor(flags []string) string {
	for i, f := range flags {
		if f == "--data-access" && i+1 < len(flags) {
			return "data access: " + flags[i+1]
		}
	}
	return "data access: restricted"
}

// startModes starts one trace per mode over targets and waits until each
// says (on stderr, after its probes attached) which data access it runs.
func startModes(t *testing.T, modes map[string][]string, targets ...string) map[string]*modeRun {
	t.Helper()
	runs := map[string]*modeRun{}
	for name, flags := range modes {
		args := append([]string{"trace", "--local", "--duration", "90s"}, flags...)
		r := &modeRun{name: name, note: noteFor(flags), cmd: exec.Command(pluginBin, append(args, targets...)...), done: make(chan struct{})}
		r.cmd.Stdout, r.cmd.Stderr = &r.out, &r.errOut
		if err := r.cmd.Start(); err != nil {
			t.Fatal(err)
		}
		go func() { _ = r.cmd.Wait(); close(r.done) }()
		t.Cleanup(func() { _ = r.cmd.Process.Kill(); <-r.done })
		runs[name] = r
	}
	deadline := time.After(60 * time.Second)
	for name, r := range runs {
		for !strings.Contains(r.errOut.String(), "data access: ") {
			select {
			case <-r.done:
				t.Fatalf("%s: the trace ended before it said which data access it runs:\n%s%s", name, r.out.String(), r.errOut.String())
			case <-deadline:
				t.Fatalf("%s: no line on stderr says which data access runs after 60 s:\n%s", name, r.errOut.String())
			case <-time.After(50 * time.Millisecond):
			}
		}
	}
	return runs
}

// stopModes ends every run like Ctrl-C and returns its stdout and stderr.
func stopModes(t *testing.T, runs map[string]*modeRun) map[string]string {
	t.Helper()
	time.Sleep(500 * time.Millisecond) // let the last events cross the ring buffer
	for _, r := range runs {
		_ = r.cmd.Process.Signal(syscall.SIGINT)
	}
	outs := map[string]string{}
	for name, r := range runs {
		select {
		case <-r.done:
		case <-time.After(30 * time.Second):
			t.Fatalf("%s: the trace did not end 30 s after Ctrl-C", name)
		}
		if !r.cmd.ProcessState.Success() {
			t.Fatalf("%s: the trace failed (%v):\n%s", name, r.cmd.ProcessState, r.errOut.String())
		}
		outs[name] = r.out.String() + r.errOut.String()
		if !strings.Contains(r.errOut.String(), r.note) {
			t.Errorf("%s: stderr does not say %q:\n%s", name, r.note, r.errOut.String())
		}
	}
	return outs
}

// checkSecrets: no secret in the outputs of the restricted runs (table
// included) and none; every secret under full.
func checkSecrets(t *testing.T, outs map[string]string, secrets ...string) {
	t.Helper()
	for name, out := range outs {
		var wrong []string
		for _, s := range secrets {
			if has := strings.Contains(out, s); has != (name == "full") {
				wrong = append(wrong, s)
			}
		}
		switch {
		case len(wrong) == 0:
		case name == "full":
			t.Errorf("full: secrets %q were not traced (the test's traffic did not reach the records):\n%s", wrong, out)
		default:
			t.Errorf("%s: secrets %q leaked:\n%s", name, wrong, out)
		}
	}
}

// TestDataAccessHTTP: nginx and curl, both traced. Secrets in the query,
// a path segment, a custom header, Authorization, Cookie, a form body and
// a JSON body (requests), and in a JSON body, a custom header and
// Set-Cookie (responses). With full data access and --body-limit 0, the
// records keep headers but no body.
func TestDataAccessHTTP(t *testing.T) {
	requirePrivileged(t)
	curl := requireCmd(t, "curl")
	s := func(field string) string { return "pxleak" + field + "x7q" }
	hexToken := "5ec7e75ec7e75ec7e75ec7e75ec7e75e" // a path segment that is a token
	ng := startNginx(t, false, fmt.Sprintf(`location = /login {
  add_header X-Upstream-Key %s always; add_header Set-Cookie "session=%s" always;
  default_type application/json; return 200 '{"access_token":"%s","refresh_token":"%s"}'; }`,
		s("respheader"), s("setcookie"), s("accesstoken"), s("refreshtoken")))
	modes := map[string][]string{"nobody": {"-o", "json", "--data-access", "full", "--body-limit", "0"}}
	for k, v := range dataModes {
		modes[k] = v
	}
	runs := startModes(t, modes, append(pidArgs(ng.worker), "--comm", "curl")...)
	base := "http://" + ng.addr
	form, jsonBody := "username=alice&password="+s("formbody"), `{"card":"`+s("jsonbody")+`"}`
	for _, args := range [][]string{
		{"-H", "X-Upstream-Key: " + s("reqheader"), "-H", "Authorization: Bearer " + s("bearer"), "-H", "Cookie: sid=" + s("cookie"),
			base + "/reset?token=" + s("query") + "&api_key=" + s("querykey")},
		{"-d", form, base + "/login"},
		{"-H", "Content-Type: application/json", "-d", jsonBody, base + "/login"},
		{base + "/files/" + hexToken + "/download"},
	} {
		if out, err := exec.Command(curl, append([]string{"-s", "-o", "/dev/null"}, args...)...).CombinedOutput(); err != nil {
			t.Fatalf("curl %v: %v\n%s", args, err, out)
		}
	}
	outs := stopModes(t, runs)
	nobody := outs["nobody"]
	delete(outs, "nobody")
	checkSecrets(t, outs, s("query"), s("querykey"), hexToken, s("reqheader"), s("bearer"), s("cookie"),
		s("formbody"), s("jsonbody"), s("respheader"), s("setcookie"), s("accesstoken"), s("refreshtoken"))
	for _, want := range []string{
		fmt.Sprintf(`"req_path":"/reset?token=<redacted %d bytes>&api_key=<redacted %d bytes>"`, len(s("query")), len(s("querykey"))),
		`"req_path":"/files/{hash}/download"`, `"Content-Type":"application/json"`,
		fmt.Sprintf(`"X-Upstream-Key":"<redacted %d bytes>"`, len(s("reqheader"))),
		fmt.Sprintf(`"req_body":"<redacted %d bytes>"`, len(form)),
		fmt.Sprintf(`"req_body":"<redacted %d bytes>"`, len(jsonBody)),
	} {
		if !strings.Contains(outs["restricted"], want) {
			t.Errorf("restricted: no %s in\n%s", want, outs["restricted"])
		}
	}
	if !strings.Contains(outs["table"], "/login") {
		t.Errorf("table: no /login row:\n%s", outs["table"])
	}
	if strings.Contains(outs["none"], "X-Upstream-Key") || strings.Contains(outs["none"], "<redacted") {
		t.Errorf("none: headers or markers kept:\n%s", outs["none"])
	}
	if !strings.Contains(nobody, s("reqheader")) || strings.Contains(nobody, s("formbody")) || strings.Contains(nobody, s("accesstoken")) {
		t.Errorf("--body-limit 0: headers must stay and bodies go:\n%s", nobody)
	}
}

// TestDataAccessGRPC: grpc-go client and server, both traced. Secrets in
// the request and response messages, in metadata and in grpc-message.
func TestDataAccessGRPC(t *testing.T) {
	requirePrivileged(t)
	srvBin, cliBin := buildGRPCPeer(t)
	secret := "pxleakgrpcx7q"
	srv := exec.Command(srvBin, "server", "127.0.0.1:0")
	srv.Env = append(os.Environ(), "GRPCPEER_SECRET="+secret)
	srv.Stderr = os.Stderr
	stdin, _ := srv.StdinPipe()
	stdout, _ := srv.StdoutPipe()
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stdin.Close(); _ = srv.Process.Kill(); _ = srv.Wait() })
	buf := make([]byte, 64)
	n, _ := stdout.Read(buf)
	addr := strings.TrimSpace(string(buf[:n]))
	if addr == "" {
		t.Fatal("the gRPC server printed no address")
	}
	runs := startModes(t, dataModes, "--comm", filepath.Base(srvBin), "--comm", filepath.Base(cliBin))
	cli := exec.Command(cliBin, "client", addr, "3", "2")
	cli.Env = append(os.Environ(), "GRPCPEER_SECRET="+secret)
	if out, err := cli.CombinedOutput(); err != nil {
		t.Fatalf("gRPC client: %v\n%s", err, out)
	}
	outs := stopModes(t, runs)
	checkSecrets(t, outs, secret+"body", secret+"meta", secret+"msg")
	msg := fmt.Sprintf(`"resp_message":"<redacted %d bytes>"`, len("failing on purpose for "+secret+"msg"))
	for _, want := range []string{`"req_path":"/pixie.test.Echo/Say"`, `"grpc_status":"14"`, msg} {
		if !strings.Contains(outs["restricted"], want) {
			t.Errorf("restricted: no %s in\n%s", want, outs["restricted"])
		}
	}
}

// TestDataAccessRedis: redis-server and redis-cli. Secrets in keys,
// values, replies, EVAL scripts with bulk, status and error replies, hash
// fields and a connection name; an AUTH password (redacted in every mode,
// so only checked where the others are).
func TestDataAccessRedis(t *testing.T) {
	requirePrivileged(t)
	server, cli := requireCmd(t, "redis-server"), requireCmd(t, "redis-cli")
	port := freePort(t, "tcp")
	startDaemon(t, server, "--save", "", "--appendonly", "no", "--port", strconv.Itoa(port), "--bind", "127.0.0.1",
		"--dir", t.TempDir(), "--daemonize", "no", "--protected-mode", "no")
	waitTCP(t, fmt.Sprintf("127.0.0.1:%d", port))
	s := func(field string) string { return "pxleak" + field + "x7q" }
	runs := startModes(t, dataModes, "--comm", "redis-server")
	for _, args := range [][]string{
		{"SET", "user:" + s("key"), s("value")},
		{"GET", "user:" + s("key")},
		{"HSET", "h", "f", s("hashvalue")},
		{"EVAL", "return '" + s("script") + "'", "0"},
		{"EVAL", "return redis.status_reply('" + s("status") + "')", "0"},
		{"EVAL", "return redis.error_reply('MYERR " + s("error") + "')", "0"},
		{"CLIENT", "SETNAME", s("clientname")},
		{"AUTH", "pxleakpasswordx7q"},
	} {
		// Error replies make redis-cli exit non-zero in some versions.
		_ = exec.Command(cli, append([]string{"-p", strconv.Itoa(port)}, args...)...).Run()
	}
	outs := stopModes(t, runs)
	checkSecrets(t, outs, s("key"), s("value"), s("hashvalue"), s("script"), s("status"), s("error"), s("clientname"))
	if strings.Contains(outs["full"], "pxleakpassword") {
		t.Errorf("full: the AUTH password leaked:\n%s", outs["full"])
	}
	for _, want := range []string{
		`"req_cmd":"EVAL"`,
		fmt.Sprintf(`"resp":"MYERR <redacted %d bytes>"`, len(s("error"))),
		fmt.Sprintf(`"req_cmd":"CLIENT SETNAME","req_args":"[\"SETNAME\",\"<redacted %d bytes>\"]"`, len(s("clientname"))),
	} {
		if !strings.Contains(outs["restricted"], want) {
			t.Errorf("restricted: no %s in\n%s", want, outs["restricted"])
		}
	}
	if !strings.Contains(outs["table"], "EVAL") {
		t.Errorf("table: no EVAL row:\n%s", outs["table"])
	}
}

// TestDataAccessPostgreSQL: a real PostgreSQL and psql. Secrets in plain,
// E'...' and dollar-quoted literals, in a literal read with
// standard_conforming_strings=off (where \' does not end a string), and
// in an error message.
func TestDataAccessPostgreSQL(t *testing.T) {
	requirePrivileged(t)
	pg := startPostgres(t)
	s := func(field string) string { return "pxleak" + field + "x7q" }
	runs := startModes(t, dataModes, "--comm", "postgres")
	queries := []string{
		"SELECT 'plain " + s("plain") + "' AS a, 42",
		"SELECT E'it\\'s " + s("estring") + "'",
		"SELECT $$" + s("dollar") + "$$, $t$ " + s("dollartag") + " $ 'x $t$",
		"SET standard_conforming_strings = off",
		"SELECT 'O\\'Brien " + s("scsoff") + " tail' AS name",
	}
	var args []string
	for _, q := range queries {
		args = append(args, "-c", q)
	}
	if out, err := pg.psqlCmd("postgres", args...).CombinedOutput(); err != nil {
		t.Fatalf("psql: %v\n%s", err, out)
	}
	// An error carries its message (RAISE's text) in the response.
	_ = pg.psqlCmd("postgres", "-c", "DO $$BEGIN RAISE EXCEPTION '"+s("raise")+"'; END$$").Run()
	outs := stopModes(t, runs)
	checkSecrets(t, outs, s("plain"), s("estring"), s("dollar"), s("dollartag"), s("scsoff"), s("raise"))
	for _, want := range []string{`"query_template":"SELECT ? AS a, ?"`, `"query_template":"SELECT ?…"`, `"sqlstate":"P0001"`} {
		if !strings.Contains(outs["restricted"], want) {
			t.Errorf("restricted: no %s in\n%s", want, outs["restricted"])
		}
	}
	if !strings.Contains(outs["table"], "SELECT ? AS a, ?") {
		t.Errorf("table: no statement template row:\n%s", outs["table"])
	}
}

// TestDataAccessMariaDB: a real MariaDB and a wire-protocol client.
// Secrets in '...' and "..." literals with backslash escapes, in a literal read
// under sql_mode NO_BACKSLASH_ESCAPES (where \' ends a string), and in a
// syntax error's message, which quotes the statement.
func TestDataAccessMariaDB(t *testing.T) {
	requirePrivileged(t)
	my := startMariaDB(t)
	if out, err := my.client("-e", "CREATE DATABASE app").CombinedOutput(); err != nil {
		t.Fatalf("mariadb: %v\n%s", err, out)
	}
	s := func(field string) string { return "pxleak" + field + "x7q" }
	runs := startModes(t, dataModes, "--comm", "mariadbd")
	c := dialMySQL(t, my.port, "root")
	for _, q := range []string{
		"SELECT 'O\\'Brien " + s("escaped") + "', \"" + s("dquote") + "\"",
		"SELECT 'a' FROM WHERE '" + s("syntax") + "'",
		"SET sql_mode = 'NO_BACKSLASH_ESCAPES'",
		"SELECT 'C:\\', '" + s("nobackslash") + "'",
	} {
		c.write(t, 0, append([]byte{0x03}, q...))
		c.result(t)
	}
	outs := stopModes(t, runs)
	checkSecrets(t, outs, s("escaped"), s("dquote"), s("syntax"), s("nobackslash"))
	if !strings.Contains(outs["restricted"], `"err_code":1064`) || !strings.Contains(outs["restricted"], `"query_template":"SELECT ?"`) {
		t.Errorf("restricted: no syntax error or statement template:\n%s", outs["restricted"])
	}
}

// checkNever: no secret in any output, full data access included (for
// payloads the agent never reads).
func checkNever(t *testing.T, outs map[string]string, secrets ...string) {
	t.Helper()
	for name, out := range outs {
		for _, s := range secrets {
			if strings.Contains(out, s) {
				t.Errorf("%s: secret %q left the node:\n%s", name, s, out)
			}
		}
	}
}

// TestDataAccessKafka: franz-go's client produces records with secrets in
// their key, value and header to kfake; record batches are never read, so
// no mode keeps them.
func TestDataAccessKafka(t *testing.T) {
	requirePrivileged(t)
	brokerBin, clientBin := buildKafkaPeers(t)
	const topic = "pixie-orders"
	addr := startKafkaBroker(t, brokerBin, topic).addr
	secret := "pxleakkafkax7q"
	runs := startModes(t, dataModes, "--comm", "kclient")
	cl := exec.Command(clientBin, "client", addr, topic, "3")
	cl.Env = append(os.Environ(), "KAFKA_SECRET="+secret)
	if out, err := cl.Output(); err != nil {
		t.Fatalf("kafka client: %v\n%s", err, out)
	}
	outs := stopModes(t, runs)
	checkNever(t, outs, secret)
	for _, name := range []string{"restricted", "full"} {
		if !strings.Contains(outs[name], `"req_cmd":"Produce"`) {
			t.Errorf("%s: no Produce record (the traffic was not traced):\n%s", name, outs[name])
		}
	}
	if strings.Contains(outs["none"], "pixie-test") || !strings.Contains(outs["restricted"], `"client_id":"pixie-test"`) {
		t.Errorf("client id: none must drop it, restricted keep it:\n%s\n%s", outs["none"], outs["restricted"])
	}
}

// TestDataAccessAMQP: RabbitMQ and amqp091-go. Secrets in a message's
// body, headers and properties, published and fetched back with
// basic.get, and the login's password: none is ever read, in any mode.
func TestDataAccessAMQP(t *testing.T) {
	requirePrivileged(t)
	port := startRabbit(t)
	secret := "pxleakamqpx7q"
	runs := startModes(t, dataModes, "--comm", "beam.smp", "--pid", strconv.Itoa(os.Getpid()))
	c, err := amqp.Dial(fmt.Sprintf("amqp://%s:%s@127.0.0.1:%d/", rabbitUser, rabbitPass, port))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ch, err := c.Channel()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ch.QueueDeclare("pixie-secrets", false, true, false, false, nil); err != nil {
		t.Fatal(err)
	}
	msg := amqp.Publishing{
		Body: []byte(secret + "body"), Headers: amqp.Table{"token": secret + "header"},
		CorrelationId: secret + "corr", ReplyTo: secret + "reply", MessageId: secret + "id",
	}
	if err := ch.PublishWithContext(context.Background(), "", "pixie-secrets", false, false, msg); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); ; {
		if _, ok, err := ch.Get("pixie-secrets", true); err != nil || ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the message never came back")
		}
	}
	c.Close()
	outs := stopModes(t, runs)
	checkNever(t, outs, secret, rabbitPass)
	for _, name := range []string{"restricted", "full"} {
		if !strings.Contains(outs[name], `"method":"basic.publish"`) || !strings.Contains(outs[name], `"method":"basic.get"`) {
			t.Errorf("%s: no basic.publish or basic.get record (the traffic was not traced):\n%s", name, outs[name])
		}
	}
}
