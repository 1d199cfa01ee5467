//go:build linux

package local

import (
	"encoding/json"
	"fmt"
	"maps"
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

// kafkaReport is what the Kafka client peer did (testdata/kafka).
type kafkaReport struct {
	Completed  map[int]int `json:"completed"` // requests answered, by API key
	Failed     map[int]int `json:"failed"`
	Produced   int         `json:"produced"`
	Consumed   int         `json:"consumed"`
	MissingErr int         `json:"missing_err"`
	Ports      []int       `json:"ports"` // of the client's connections
}

// buildKafkaPeers builds testdata/kafka (a module of its own: franz-go's
// client and its in-memory broker kfake) as two binaries, so broker and
// client have different command names.
func buildKafkaPeers(t *testing.T) (broker, client string) {
	t.Helper()
	dir := t.TempDir()
	broker, client = filepath.Join(dir, "kbroker"), filepath.Join(dir, "kclient")
	build := exec.Command("go", "build", "-o", broker, ".")
	build.Dir = filepath.Join("testdata", "kafka")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the Kafka peers: %v\n%s", err, out)
	}
	b, err := os.ReadFile(broker)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(client, b, 0o755); err != nil {
		t.Fatal(err)
	}
	return broker, client
}

// kafkaBroker is a running kfake broker (testdata/kafka).
type kafkaBroker struct {
	*proc
	addr   string
	report *brokerReport
}

// brokerReport is what the broker handled (testdata/kafka).
type brokerReport struct {
	Requests map[int]int `json:"requests"` // by API key
	Records  int         `json:"records"`  // in Produce requests
}

// startKafkaBroker runs the kfake broker serving topic until stop or the
// end of the test.
func startKafkaBroker(t *testing.T, brokerBin, topic string) *kafkaBroker {
	t.Helper()
	p, addr := startPeer(t, exec.Command(brokerBin, "broker", topic), "the kfake broker")
	b := &kafkaBroker{proc: p, addr: addr}
	t.Cleanup(func() { b.stop(t) })
	if !strings.HasPrefix(b.addr, "127.0.0.1:") {
		t.Fatalf("broker listens on %q, want 127.0.0.1", b.addr)
	}
	waitTCP(t, b.addr)
	return b
}

// stop ends the broker (it serves until its stdin closes) and returns
// what it handled.
func (b *kafkaBroker) stop(t *testing.T) *brokerReport {
	t.Helper()
	if b.report == nil {
		b.report = &brokerReport{}
		b.closeAndDecode(t, "the kfake broker", b.report)
	}
	return b.report
}

// TestTraceKafka: franz-go's client against kfake (a Kafka broker in
// memory speaking the real protocol), both real processes on 127.0.0.1,
// the client traced by command name, twice: with the newest protocol
// versions (flexible, topics by id) and capped at Kafka 3.0's (topics by
// name). Every request the client saw answered is one row of its API,
// no more; the missing topic's Metadata carries its error; Produce and
// Fetch by name carry the topic.
func TestTraceKafka(t *testing.T) {
	requirePrivileged(t)
	began := time.Now()
	brokerBin, clientBin := buildKafkaPeers(t)
	const topic, n = "pixie-orders", 20

	addr := startKafkaBroker(t, brokerBin, topic).addr
	port, _ := strconv.Atoi(strings.TrimPrefix(addr, "127.0.0.1:"))
	setup := time.Since(began)

	tr := startTrace(t, "--comm", "kclient", "--duration", "60s")
	want := map[int]int{}
	var missingErrs int
	var ports []int
	for _, versions := range [][]string{nil, {"3.0"}} {
		out, err := exec.Command(clientBin, append([]string{"client", addr, topic, strconv.Itoa(n)}, versions...)...).Output()
		if err != nil {
			t.Fatalf("kafka client %v: %v", versions, err)
		}
		var rep kafkaReport
		if err := json.Unmarshal(out, &rep); err != nil {
			t.Fatalf("client report %q: %v", out, err)
		}
		t.Logf("client %v: %+v", versions, rep)
		if rep.Produced != n || rep.Consumed < n || rep.MissingErr != 3 {
			t.Fatalf("the client's load is not what the test meant: %+v", rep)
		}
		for k, c := range rep.Completed {
			want[k] += c
		}
		ports = append(ports, rep.Ports...)
		missingErrs++
	}
	recs := tr.stop(t)

	events := tableLines[api.KafkaEvent](t, tr.out.Bytes(), api.TableKafkaEvents)
	got := map[int]int{}
	byPort := map[uint16]map[string]int{}
	errs := map[string]int{}
	topics := map[string]int{} // "Produce pixie-orders"
	for _, e := range events {
		if e.RemotePort != uint16(port) {
			continue
		}
		if e.TraceRole != vocab.RoleClient || e.RemoteAddr != "127.0.0.1" || e.ClientID != "pixie-test" {
			t.Fatalf("record with wrong columns: %+v", e)
		}
		if e.Latency <= 0 || e.Latency > int64(10*time.Second) {
			t.Errorf("%s v%d latency %v", e.ReqCmd, e.APIVersion, time.Duration(e.Latency))
		}
		got[e.APIKey]++
		if byPort[e.LocalPort] == nil {
			byPort[e.LocalPort] = map[string]int{}
		}
		byPort[e.LocalPort][e.ReqCmd]++
		if e.ErrorName != "" {
			errs[e.ReqCmd+" "+e.ErrorName]++
		}
		if e.Topic != "" {
			topics[e.ReqCmd+" "+e.Topic]++
		}
		// Fetches of a session after its first name no topics when
		// nothing changed: only Produce must always carry it.
		if e.ReqCmd == "Produce" && e.APIVersion <= 12 && e.Topic != topic {
			t.Errorf("%s v%d without its topic: %+v", e.ReqCmd, e.APIVersion, e)
		}
	}
	t.Logf("traced %d Kafka records: by api key %v, errors %v, topics %v (tables %v)", len(events), got, errs, topics, recs.tables)
	// Every connection of the client is traced, from its first exchange
	// (ApiVersions): franz-go closes and opens sockets from different
	// threads, so a close(2) still returning while another thread opens a
	// socket on the same fd number once ended the new connection.
	for _, p := range ports {
		if _, ok := byPort[uint16(p)]; !ok {
			t.Errorf("client connection from port %d not traced", p)
		}
	}
	for k, c := range want {
		if got[k] != c {
			t.Errorf("traced %d %s, the client had %d answered", got[k], apiNameOf(k), c)
		}
	}
	for k, c := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("traced %d %s the client never had answered", c, apiNameOf(k))
		}
	}
	if t.Failed() {
		byConn := map[uint16][]string{}
		for _, e := range events {
			byConn[e.LocalPort] = append(byConn[e.LocalPort], e.ReqCmd+"/"+strconv.Itoa(e.APIVersion))
		}
		t.Logf("rows by client port: %v", byConn)
		for _, s := range recs.stats {
			t.Logf("probe_stats: %+v", s)
		}
	}
	if len(errs) != 1 || errs["Metadata UNKNOWN_TOPIC_OR_PARTITION"] != missingErrs {
		t.Errorf("traced errors %v, want Metadata UNKNOWN_TOPIC_OR_PARTITION:%d", errs, missingErrs)
	}
	if topics["Produce "+topic] < n {
		t.Errorf("Produce rows with the topic: %d, want >= %d (the Kafka 3.0 run)", topics["Produce "+topic], n)
	}
	if topics["Fetch "+topic] < 1 {
		t.Errorf("no Fetch row with the topic (the Kafka 3.0 run's first fetch names it)")
	}

	sum := summaries(t, tr.out.Bytes(), vocab.ProtocolKafka)
	if s := sum["Metadata  UNKNOWN_TOPIC_OR_PARTITION"]; s.Count != uint64(missingErrs) || s.Errors != s.Count {
		t.Errorf("Metadata error summary %+v (all: %v)", s, sum)
	}
	if s := sum["Produce "+topic+" OK"]; s.Count < n || s.Errors != 0 || s.LatencyP50 <= 0 {
		t.Errorf("Produce summary %+v", s)
	}
	for _, s := range recs.stats {
		if s.Final && (s.LostBy["parse_errors"] != 0 || s.LostBy["unmatched_responses"] != 0) {
			t.Errorf("final probe_stats lost %v", s.LostBy)
		}
	}
	t.Logf("TestTraceKafka took %v (build and broker %v)", time.Since(began).Round(time.Millisecond), setup.Round(time.Millisecond))
}

// TestTraceKafkaLatency: franz-go's client (testdata/kafka timed:
// Metadata requests one after the other, timed by the library's
// end-to-end hook around its conn.Write and conn.Read) to kfake, both
// traced: the latency rule per request, p99 one-sided (the library
// reads from its own goroutine).
func TestTraceKafkaLatency(t *testing.T) {
	requirePrivileged(t)
	brokerBin, clientBin := buildKafkaPeers(t)
	b := startKafkaBroker(t, brokerBin, "pixie-lat")
	cli := startProc(t, exec.Command(clientBin, "timed", b.addr, "200"))
	tr := startTrace(t, append(pidArgs(uint32(b.cmd.Process.Pid), cli.pid()), "--duration", "60s")...)
	fmt.Fprintln(cli.stdin)
	run := readTimedRun(t, cli)
	tr.stop(t)
	cl, sv := connLatencies(t, tr.out.Bytes(), api.TableKafkaEvents, run.Port, func(e *api.KafkaEvent) bool { return e.ReqCmd == "Metadata" })
	checkLatency(t, latencyCase{name: "Kafka Metadata", client: clientTimes{Lat: run.Lat}, tracedClient: cl, tracedServer: sv})
}

func apiNameOf(key int) string {
	names := map[int]string{0: "Produce", 1: "Fetch", 2: "ListOffsets", 3: "Metadata", 18: "ApiVersions", 22: "InitProducerId"}
	if s, ok := names[key]; ok {
		return s
	}
	return "api " + strconv.Itoa(key)
}

// TestTraceKafkaKcat: librdkafka (Debian's kcat) produces 500 messages to
// kfake; it sends each Produce as one sendmsg of a dozen iovecs, more
// than 4 KiB here, so the request is both gathered from many iovecs and
// cut by the capture: it is still recorded, from its header and size.
// Both roles traced (kcat as client, the broker as server): per API key,
// each side's records equal the requests the broker handled.
func TestTraceKafkaKcat(t *testing.T) {
	requirePrivileged(t)
	kcat := requireCmd(t, "kcat")
	brokerBin, _ := buildKafkaPeers(t)
	const topic, n = "pixie-kcat", 500
	b := startKafkaBroker(t, brokerBin, topic)
	port, _ := strconv.Atoi(strings.TrimPrefix(b.addr, "127.0.0.1:"))

	tr := startTrace(t, "--comm", "kcat", "--comm", "kbroker", "--duration", "60s")
	var msgs strings.Builder
	for i := range n {
		fmt.Fprintf(&msgs, "order %d for the kcat test\n", i)
	}
	prod := exec.Command(kcat, "-P", "-b", b.addr, "-t", topic)
	prod.Stdin = strings.NewReader(msgs.String())
	if out, err := prod.CombinedOutput(); err != nil {
		t.Fatalf("kcat: %v\n%s", err, out)
	}
	recs := tr.stop(t)
	rep := b.stop(t)
	t.Logf("broker handled %+v", rep)
	if rep.Records != n || rep.Requests[0] < 1 {
		t.Fatalf("the broker took %d records in %d Produce requests, want %d: the load is not what the test meant", rep.Records, rep.Requests[0], n)
	}

	got := map[string]map[int]int{vocab.RoleClient: {}, vocab.RoleServer: {}}
	for _, e := range tableLines[api.KafkaEvent](t, tr.out.Bytes(), api.TableKafkaEvents) {
		if e.Latency <= 0 || e.Latency > int64(10*time.Second) {
			t.Errorf("%s latency %v", e.ReqCmd, time.Duration(e.Latency))
		}
		switch {
		// librdkafka names its threads (rdk:broker0): the rows carry them.
		case e.PID == uint32(prod.Process.Pid) && e.TraceRole == vocab.RoleClient && e.RemotePort == uint16(port):
		case e.Comm == "kbroker" && e.TraceRole == vocab.RoleServer && e.LocalPort == uint16(port):
		default:
			t.Errorf("record from %s as %s: %+v", e.Comm, e.TraceRole, e)
			continue
		}
		if e.ErrorName != "" {
			t.Errorf("%s with error %s", e.ReqCmd, e.ErrorName)
		}
		if e.ReqCmd == "Produce" && e.Topic != topic {
			t.Errorf("Produce without its topic: %+v", e)
		}
		got[e.TraceRole][e.APIKey]++
	}
	for role, byKey := range got {
		if !maps.Equal(byKey, rep.Requests) {
			t.Errorf("%s side traced %v by API key, the broker handled %v", role, byKey, rep.Requests)
		}
	}
	final := recs.stats[len(recs.stats)-1]
	if final.LostBy["truncated"] == 0 {
		t.Errorf("no call cut by the capture: the test no longer covers a cut request (lost_by %v)", final.LostBy)
	}
	for _, k := range []string{"parse_errors", "unmatched_requests", "unmatched_responses", "iov_cut", "gaps"} {
		if final.LostBy[k] != 0 {
			t.Errorf("probe_stats lost_by %v", final.LostBy)
			break
		}
	}
}
