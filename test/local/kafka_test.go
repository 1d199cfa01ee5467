//go:build linux

package local

import (
	"bufio"
	"encoding/json"
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

// startKafkaBroker runs the kfake broker serving topic until the test
// ends; it returns its address.
func startKafkaBroker(t *testing.T, brokerBin, topic string) string {
	t.Helper()
	broker := exec.Command(brokerBin, "broker", topic)
	stdin, err := broker.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := broker.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	broker.Stderr = os.Stderr
	if err := broker.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stdin.Close() // the broker serves until its stdin closes
		done := make(chan struct{})
		go func() { _ = broker.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = broker.Process.Kill()
			<-done
		}
	})
	addr, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("broker address: %v", err)
	}
	addr = strings.TrimSpace(addr)
	if !strings.HasPrefix(addr, "127.0.0.1:") {
		t.Fatalf("broker listens on %q, want 127.0.0.1", addr)
	}
	waitTCP(t, addr)
	return addr
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

	addr := startKafkaBroker(t, brokerBin, topic)
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

func apiNameOf(key int) string {
	names := map[int]string{0: "Produce", 1: "Fetch", 2: "ListOffsets", 3: "Metadata", 18: "ApiVersions", 22: "InitProducerId"}
	if s, ok := names[key]; ok {
		return s
	}
	return "api " + strconv.Itoa(key)
}
