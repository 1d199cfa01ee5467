//go:build linux

package local

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/kubectl-pixie/kubectl-pixie/probes/api"
	"github.com/kubectl-pixie/kubectl-pixie/probes/api/vocab"
	"github.com/kubectl-pixie/kubectl-pixie/test/internal/stampconn"
)

const (
	rabbitUser = "pixie"
	rabbitPass = "s3cret-rabbit-pw" // must never appear in the trace
)

// startRabbit runs a throwaway RabbitMQ node of the Debian package: its
// own node name, ports, data and logs in a temp dir, everything on
// 127.0.0.1, its own epmd (stopped at the end). It returns the AMQP port.
func startRabbit(t *testing.T) int {
	t.Helper()
	requireCmd(t, "rabbitmq-server")
	// Not the /usr/sbin wrapper, which runs the node as the rabbitmq user
	// (who cannot write our temp dir).
	server := "/usr/lib/rabbitmq/bin/rabbitmq-server"
	epmd := requireCmd(t, "epmd")
	dir := t.TempDir()
	for _, d := range []string{"mnesia", "log"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	conf := fmt.Sprintf("default_user = %s\ndefault_pass = %s\nloopback_users = none\n", rabbitUser, rabbitPass)
	if err := os.WriteFile(filepath.Join(dir, "rabbitmq.conf"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "enabled_plugins"), []byte("[].\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	port, distPort, epmdPort := freePort(t, "tcp"), freePort(t, "tcp"), freePort(t, "tcp")
	cmd := exec.Command(server)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(),
		"HOME="+dir, // the Erlang cookie
		fmt.Sprintf("RABBITMQ_NODENAME=pixie-test-%d@localhost", os.Getpid()),
		"RABBITMQ_NODE_IP_ADDRESS=127.0.0.1",
		"RABBITMQ_NODE_PORT="+strconv.Itoa(port),
		"RABBITMQ_DIST_PORT="+strconv.Itoa(distPort),
		"RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS=-kernel inet_dist_use_interface {127,0,0,1}",
		"ERL_EPMD_PORT="+strconv.Itoa(epmdPort),
		"ERL_EPMD_ADDRESS=127.0.0.1",
		"RABBITMQ_MNESIA_BASE="+filepath.Join(dir, "mnesia"),
		"RABBITMQ_LOG_BASE="+filepath.Join(dir, "log"),
		"RABBITMQ_CONFIG_FILE="+filepath.Join(dir, "rabbitmq.conf"),
		"RABBITMQ_ENABLED_PLUGINS_FILE="+filepath.Join(dir, "enabled_plugins"),
	)
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM) // the script stops the node
		select {
		case <-exited:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		_ = exec.Command(epmd, "-port", strconv.Itoa(epmdPort), "-kill").Run()
		if t.Failed() {
			t.Logf("rabbitmq-server output:\n%s", out.String())
		}
	})
	// Booting takes a few seconds; the AMQP listener opens last.
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	deadline := time.Now().Add(60 * time.Second)
	for {
		c, err := amqp.Dial(fmt.Sprintf("amqp://%s:%s@%s/", rabbitUser, rabbitPass, addr))
		if err == nil {
			c.Close()
			break
		}
		select {
		case <-exited:
			t.Fatalf("rabbitmq-server exited:\n%s", out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("RabbitMQ not ready on %s after 60s: %v\n%s", addr, err, out.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
	return port
}

// amqpLoad is what the client did, to compare with the trace.
type amqpLoad struct {
	localPort    uint16
	publishes    int
	gets, empty  int
	deliveries   int
	declares     int
	bodySize     int
	failedCode   int
	failedReason string
}

// driveRabbit runs a known load on one connection: declares, publishes,
// gets (with messages and empty), a consumer acking its deliveries, a
// declare that RabbitMQ refuses (406, closing the channel) and clean
// channel and connection closes.
func driveRabbit(t *testing.T, port int) amqpLoad {
	t.Helper()
	const (
		queues    = 3
		publishes = 30
		gets      = 10
		empties   = 3
		consumed  = 5
	)
	body := []byte("0123456789abcdef")
	c, err := amqp.Dial(fmt.Sprintf("amqp://%s:%s@127.0.0.1:%d/", rabbitUser, rabbitPass, port))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ld := amqpLoad{publishes: publishes + consumed, gets: gets, empty: empties, deliveries: consumed, declares: queues, bodySize: len(body)}
	if p, err := strconv.Atoi(strings.TrimPrefix(c.LocalAddr().String(), "127.0.0.1:")); err == nil {
		ld.localPort = uint16(p)
	}
	ch, err := c.Channel()
	if err != nil {
		t.Fatal(err)
	}
	for i := range queues {
		if _, err := ch.QueueDeclare(fmt.Sprintf("pixie-q%d", i), false, true, false, false, nil); err != nil {
			t.Fatal(err)
		}
	}
	ctx := context.Background()
	pub := func(q string, n int) {
		for range n {
			if err := ch.PublishWithContext(ctx, "", q, false, false, amqp.Publishing{Body: body}); err != nil {
				t.Fatal(err)
			}
		}
	}
	pub("pixie-q0", publishes)
	pub("pixie-q2", consumed)
	for i := 0; i < gets; {
		// A get may come before the publishes are enqueued: count only
		// what the server answered with a message.
		_, ok, err := ch.Get("pixie-q0", true)
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			i++
		} else {
			ld.empty++
		}
	}
	for range empties {
		if _, ok, err := ch.Get("pixie-q1", true); err != nil || ok {
			t.Fatalf("get from the empty queue: %v %v", ok, err)
		}
	}
	deliveries, err := ch.Consume("pixie-q2", "pixie-consumer", false, false, false, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	for range consumed {
		select {
		case d := <-deliveries:
			if err := d.Ack(false); err != nil {
				t.Fatal(err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("no delivery")
		}
	}
	if err := ch.Cancel("pixie-consumer", false); err != nil {
		t.Fatal(err)
	}
	// Declaring an existing queue with other arguments: 406, channel closed.
	_, err = ch.QueueDeclare("pixie-q0", true, true, false, false, nil)
	var ae *amqp.Error
	if !errors.As(err, &ae) {
		t.Fatalf("conflicting declare: %v, want an AMQP error", err)
	}
	ld.failedCode, ld.failedReason = ae.Code, ae.Reason
	ch2, err := c.Channel()
	if err != nil {
		t.Fatal(err)
	}
	if err := ch2.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	return ld
}

// checkAMQPLatency declares one queue 200 times on a new amqp091-go
// connection, each declare timed at the connection (stampconn: from its
// frame's write to the read of declare-ok), both sides traced: the
// latency rule per request, p99 one-sided (the library reads from its
// own goroutine).
func checkAMQPLatency(t *testing.T, port int) {
	t.Helper()
	var sc *stampconn.Conn
	var lat []int64
	out := selfTrace(t, func() {
		c, err := amqp.DialConfig(fmt.Sprintf("amqp://%s:%s@127.0.0.1:%d/", rabbitUser, rabbitPass, port), amqp.Config{
			Dial: func(network, addr string) (net.Conn, error) {
				c, err := net.Dial(network, addr)
				if err == nil {
					sc = stampconn.New(c)
				}
				return sc, err
			}})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		ch, err := c.Channel()
		if err != nil {
			t.Fatal(err)
		}
		for range 200 {
			sc.Arm()
			if _, err := ch.QueueDeclare("pixie-lat", false, true, false, false, nil); err != nil {
				t.Fatal(err)
			}
			lat = append(lat, sc.Span().Nanoseconds())
		}
	}, "--comm", "beam.smp")
	cl, sv := connLatencies(t, out, api.TableAMQPEvents, uint16(sc.LocalAddr().(*net.TCPAddr).Port), func(e *api.AMQPEvent) bool {
		return e.Method == "queue.declare" && e.RespMethod == "queue.declare-ok"
	})
	checkLatency(t, latencyCase{name: "AMQP queue.declare", client: clientTimes{Lat: lat}, tracedClient: cl, tracedServer: sv})
}

// TestTraceAMQP: a real RabbitMQ (Debian's rabbitmq-server) driven by the
// amqp091-go client with a known load, traced on the server side by
// command name: exact counts per method, the refused declare and the
// channel.close carrying 406, body sizes, latencies within the client's,
// one-way methods without latency, no credentials.
func TestTraceAMQP(t *testing.T) {
	requirePrivileged(t)
	began := time.Now()
	port := startRabbit(t)
	booted := time.Since(began)

	// Both sides: the broker by name, the client (this test process,
	// amqp091-go) by PID.
	tr := startTrace(t, "--comm", "beam.smp", "--pid", strconv.Itoa(os.Getpid()), "--duration", "90s")
	ld := driveRabbit(t, port)
	recs := tr.stop(t)
	t.Logf("RabbitMQ booted in %v; the client's load: %+v", booted.Round(time.Millisecond), ld)
	if ld.failedCode != 406 {
		t.Fatalf("conflicting declare failed with %d %s, want 406", ld.failedCode, ld.failedReason)
	}
	if strings.Contains(tr.out.String(), rabbitPass) {
		t.Errorf("the password is in the trace output")
	}

	events := tableLines[api.AMQPEvent](t, tr.out.Bytes(), api.TableAMQPEvents)
	count := map[string]int{}       // "method resp code", the broker's side
	clientCount := map[string]int{} // the same seen by the client
	for _, e := range events {
		server := e.LocalPort == uint16(port) && e.RemotePort == ld.localPort
		client := e.LocalPort == ld.localPort && e.RemotePort == uint16(port)
		if !server && !client {
			continue // another connection (none expected)
		}
		// Comm is the Erlang scheduler thread ("1_scheduler").
		if server && e.TraceRole != vocab.RoleServer || client && e.TraceRole != vocab.RoleClient || e.RemoteAddr != "127.0.0.1" || e.Comm == "" {
			t.Fatalf("record with wrong connection columns: %+v", e.ConnColumns)
		}
		k := e.Method
		if e.RespMethod != "" {
			k += " " + e.RespMethod
		}
		if e.ReplyCode != 0 {
			k += " " + strconv.Itoa(e.ReplyCode)
		}
		if client {
			clientCount[k]++
		} else {
			count[k]++
		}
		switch {
		case e.RespMethod == "" && e.Latency != 0:
			t.Errorf("one-way %s with latency %v", e.Method, time.Duration(e.Latency))
		case e.RespMethod != "" && (e.Latency <= 0 || e.Latency > int64(5*time.Second)):
			t.Errorf("%s -> %s latency %v", e.Method, e.RespMethod, time.Duration(e.Latency))
		}
		switch e.Method {
		case "basic.publish", "basic.deliver":
			if e.BodySize != int64(ld.bodySize) || e.Exchange != "" || !strings.HasPrefix(e.RoutingKey, "pixie-q") {
				t.Errorf("%s record %+v", e.Method, e)
			}
		case "basic.get":
			if e.QueueName == "" || e.RespMethod == "basic.get-ok" && e.BodySize != int64(ld.bodySize) {
				t.Errorf("basic.get record %+v", e)
			}
		case "queue.declare":
			if !strings.HasPrefix(e.QueueName, "pixie-q") {
				t.Errorf("queue.declare record %+v", e)
			}
		}
	}
	t.Logf("traced %d AMQP records: %v (tables %v)", len(events), count, recs.tables)
	want := map[string]int{
		"connection.start connection.start-ok":     1,
		"connection.tune connection.tune-ok":       1,
		"connection.open connection.open-ok":       1,
		"channel.open channel.open-ok":             2,
		"queue.declare queue.declare-ok":           ld.declares,
		"queue.declare channel.close 406":          1, // the refused declare
		"channel.close channel.close-ok 406":       1, // the server's close
		"channel.close channel.close-ok 200":       1, // ch2.Close
		"basic.publish":                            ld.publishes,
		"basic.get basic.get-ok":                   ld.gets,
		"basic.get basic.get-empty":                ld.empty,
		"basic.consume basic.consume-ok":           1,
		"basic.deliver":                            ld.deliveries,
		"basic.ack":                                ld.deliveries,
		"basic.cancel basic.cancel-ok":             1,
		"connection.close connection.close-ok 200": 1,
	}
	t.Logf("the client's side: %v", clientCount)
	for side, got := range map[string]map[string]int{"broker": count, "client": clientCount} {
		for k, n := range want {
			if got[k] != n {
				t.Errorf("%s side: traced %d %q, want %d", side, got[k], k, n)
			}
		}
		for k, n := range got {
			if _, ok := want[k]; !ok {
				t.Errorf("%s side: traced %d unexpected %q", side, n, k)
			}
		}
	}

	checkAMQPLatency(t, port)

	// The aggregated rows: the refused declare and the close are errors
	// with their code as status; publishes are one-way (latency 0).
	sum := map[string]api.HTTPSummary{} // the broker's rows
	for _, s := range tableLines[api.HTTPSummary](t, tr.out.Bytes(), api.TableHTTPSummary) {
		if s.Protocol == vocab.ProtocolAMQP && s.TraceRole == vocab.RoleServer {
			k := s.ReqMethod + " " + s.ReqPath + " " + s.StatusClass
			prev := sum[k]
			s.Count += prev.Count
			s.Errors += prev.Errors
			sum[k] = s
		}
	}
	if s := sum["queue.declare  406"]; s.Count != 1 || s.Errors != 1 {
		t.Errorf("refused queue.declare summary %+v (all: %v)", s, sum)
	}
	// The service is the process (beam.smp), not its scheduler threads.
	if s := sum["queue.declare  OK"]; s.Count != uint64(ld.declares) || s.Errors != 0 || s.LatencyP50 <= 0 || s.Service != "beam.smp" {
		t.Errorf("queue.declare summary %+v", s)
	}
	if s := sum["channel.close  406"]; s.Count != 1 || s.Errors != 1 {
		t.Errorf("channel.close 406 summary %+v", s)
	}
	if s := sum["channel.close  200"]; s.Count != 1 || s.Errors != 0 {
		t.Errorf("channel.close 200 summary %+v", s)
	}
	if s := sum["basic.publish /pixie-q0 OK"]; s.Count != uint64(ld.publishes-ld.deliveries) || s.Errors != 0 || s.LatencyP99 != 0 {
		t.Errorf("basic.publish summary %+v", s)
	}
	for _, s := range recs.stats {
		if s.Final && (s.LostBy["parse_errors"] != 0 || s.LostBy["unmatched_responses"] != 0) {
			t.Errorf("final probe_stats lost %v", s.LostBy)
		}
	}
	t.Logf("TestTraceAMQP took %v", time.Since(began).Round(time.Millisecond))
}
