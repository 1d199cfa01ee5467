// Command kafkapeer is the Kafka peer of test/local's Kafka test: a real
// Kafka-protocol broker (franz-go's kfake, in memory) or a real client
// (franz-go) with a known load, each a separate process.
//
//	kafkapeer broker TOPIC            prints its 127.0.0.1 address, serves until stdin closes,
//	                                  then prints the requests it handled as JSON
//	kafkapeer client ADDR TOPIC N [3.0] produces N records, consumes them, asks for a missing topic;
//	                                  prints what it did as JSON
//	kafkapeer timed ADDR N            after a line on stdin, N Metadata requests one after the
//	                                  other to broker 0; prints {"port":P,"lat":[ns...]} of
//	                                  that connection's Metadata requests (franz-go's
//	                                  end-to-end hook: its conn.Write start to its last
//	                                  conn.Read's end) and waits for stdin to close
//
// The client counts, per API key, the requests it wrote whose responses it
// read (franz-go's end-to-end hook): the trace must show exactly those.
// "3.0" caps the protocol versions at Kafka 3.0's (topics by name in
// Produce and Fetch); otherwise the newest are used (topics by id).
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"
)

func main() {
	if len(os.Args) < 3 {
		fail(fmt.Errorf("usage: kafkapeer broker TOPIC | client ADDR TOPIC N [3.0]"))
	}
	switch os.Args[1] {
	case "broker":
		broker(os.Args[2])
	case "timed":
		n, err := strconv.Atoi(os.Args[3])
		if err != nil {
			fail(err)
		}
		timed(os.Args[2], n)
	case "client":
		if len(os.Args) < 5 {
			fail(fmt.Errorf("usage: kafkapeer client ADDR TOPIC N [3.0]"))
		}
		n, err := strconv.Atoi(os.Args[4])
		if err != nil {
			fail(err)
		}
		client(os.Args[2], os.Args[3], n, len(os.Args) > 5 && os.Args[5] == "3.0")
	default:
		fail(fmt.Errorf("unknown mode %q", os.Args[1]))
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "kafkapeer:", err)
	os.Exit(1)
}

func broker(topic string) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.Ports(0), kfake.SeedTopics(1, topic))
	if err != nil {
		fail(err)
	}
	defer c.Close()
	var mu sync.Mutex
	seen := brokerReport{Requests: map[int]int{}}
	c.Control(func(req kmsg.Request) (kmsg.Response, error, bool) {
		mu.Lock()
		defer mu.Unlock()
		seen.Requests[int(req.Key())]++
		if p, ok := req.(*kmsg.ProduceRequest); ok {
			seen.Records += producedRecords(p)
		}
		return nil, nil, false // observed only: the cluster answers
	})
	fmt.Println(c.ListenAddrs()[0]) // kfake listens on 127.0.0.1 only
	_, _ = io.Copy(io.Discard, os.Stdin)
	mu.Lock()
	defer mu.Unlock()
	b, _ := json.Marshal(seen)
	fmt.Println(string(b))
}

// brokerReport is what the broker handled: requests by API key, and the
// records of its Produce requests.
type brokerReport struct {
	Requests map[int]int `json:"requests"`
	Records  int         `json:"records"`
}

// producedRecords counts the records of a Produce request's batches.
func producedRecords(p *kmsg.ProduceRequest) int {
	n := 0
	for _, t := range p.Topics {
		for _, part := range t.Partitions {
			for b := part.Records; len(b) > 0; {
				var rb kmsg.RecordBatch
				if err := rb.ReadFrom(b); err != nil {
					break
				}
				n += int(rb.NumRecords)
				b = b[12+int(rb.Length):] // base offset and length precede Length bytes
			}
		}
	}
	return n
}

// e2e counts requests per API key: completed (response read) or not.
type e2e struct {
	mu        sync.Mutex
	completed map[int16]int
	failed    map[int16]int
	ports     []int // local ports of the connections dialed
}

func (h *e2e) OnBrokerConnect(_ kgo.BrokerMetadata, _ time.Duration, c net.Conn, err error) {
	if err != nil {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if a, ok := c.LocalAddr().(*net.TCPAddr); ok {
		h.ports = append(h.ports, a.Port)
	}
}

func (h *e2e) OnBrokerE2E(_ kgo.BrokerMetadata, key int16, e kgo.BrokerE2E) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if e.Err() == nil {
		h.completed[key]++
	} else {
		h.failed[key]++
	}
}

type report struct {
	Completed  map[int16]int `json:"completed"`
	Failed     map[int16]int `json:"failed"`
	Produced   int           `json:"produced"`
	Consumed   int           `json:"consumed"`
	MissingErr int16         `json:"missing_err"`
	Ports      []int         `json:"ports"`
}

func client(addr, topic string, n int, v30 bool) {
	hook := &e2e{completed: map[int16]int{}, failed: map[int16]int{}}
	opts := []kgo.Opt{
		kgo.SeedBrokers(addr),
		kgo.ClientID("pixie-test"),
		kgo.DefaultProduceTopic(topic),
		kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.WithHooks(hook),
	}
	if v30 {
		opts = append(opts, kgo.MaxVersions(kversion.V3_0_0()))
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		fail(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var rep report
	for i := range n {
		// One at a time: each record its own Produce request.
		rec := &kgo.Record{Value: []byte("record-" + strconv.Itoa(i))}
		if secret := os.Getenv("KAFKA_SECRET"); secret != "" {
			// A secret in every part of a record a user could put one.
			rec.Key, rec.Value = []byte(secret+"key"), []byte(secret+"value")
			rec.Headers = []kgo.RecordHeader{{Key: "token", Value: []byte(secret + "header")}}
		}
		if err := cl.ProduceSync(ctx, rec).FirstErr(); err != nil {
			fail(fmt.Errorf("produce: %w", err))
		}
		rep.Produced++
	}
	for rep.Consumed < n {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			fail(fmt.Errorf("consumed %d of %d: %w", rep.Consumed, n, err))
		}
		fs.EachError(func(t string, p int32, err error) { fail(fmt.Errorf("fetch %s/%d: %w", t, p, err)) })
		rep.Consumed += fs.NumRecords()
	}
	req := kmsg.NewPtrMetadataRequest()
	t := kmsg.NewMetadataRequestTopic()
	t.Topic = kmsg.StringPtr("pixie-missing-topic")
	req.Topics = append(req.Topics, t)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		fail(fmt.Errorf("metadata: %w", err))
	}
	if len(resp.Topics) == 1 {
		rep.MissingErr = resp.Topics[0].ErrorCode
	}
	cl.Close() // ends the consumer's waiting fetch: not completed
	hook.mu.Lock()
	rep.Completed, rep.Failed, rep.Ports = hook.completed, hook.failed, hook.ports
	hook.mu.Unlock()
	if err := json.NewEncoder(os.Stdout).Encode(rep); err != nil {
		fail(err)
	}
}

// nodeTimes records broker 0's connection port and the end-to-end times
// of its Metadata requests, in order.
type nodeTimes struct {
	mu   sync.Mutex
	port int
	lat  []int64
}

func (h *nodeTimes) OnBrokerConnect(m kgo.BrokerMetadata, _ time.Duration, c net.Conn, err error) {
	if err != nil || m.NodeID != 0 {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.port = c.LocalAddr().(*net.TCPAddr).Port
}

func (h *nodeTimes) OnBrokerE2E(m kgo.BrokerMetadata, key int16, e kgo.BrokerE2E) {
	if m.NodeID != 0 || key != 3 || e.Err() != nil {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.lat = append(h.lat, e.DurationE2E().Nanoseconds())
}

func timed(addr string, n int) {
	h := &nodeTimes{}
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ClientID("pixie-test"), kgo.WithHooks(h))
	if err != nil {
		fail(err)
	}
	defer cl.Close()
	in := bufio.NewReader(os.Stdin)
	in.ReadString('\n')
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// The seed broker's answer names broker 0.
	if _, err := kmsg.NewPtrMetadataRequest().RequestWith(ctx, cl); err != nil {
		fail(fmt.Errorf("metadata: %w", err))
	}
	b := cl.Broker(0)
	for range n {
		if _, err := b.Request(ctx, kmsg.NewPtrMetadataRequest()); err != nil {
			fail(fmt.Errorf("metadata: %w", err))
		}
	}
	h.mu.Lock()
	out, _ := json.Marshal(map[string]any{"port": h.port, "lat": h.lat})
	h.mu.Unlock()
	fmt.Println(string(out))
	io.Copy(io.Discard, in)
}
