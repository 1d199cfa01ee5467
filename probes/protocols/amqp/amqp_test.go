package amqp

import (
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/kubectl-pixie/kubectl-pixie/probes/api"
	"github.com/kubectl-pixie/kubectl-pixie/probes/api/vocab"
	"github.com/kubectl-pixie/kubectl-pixie/probes/conn"
)

// msg is one write of a peer: fromClient or not.
type msg struct {
	client bool
	data   string
}

const secret = "hunter2"

// session is a whole client connection as amqp091-go and RabbitMQ speak
// it: handshake, declares, publish, get (with content and empty), a
// consumer's deliveries and acks, a refused declare and the closes.
var session = []msg{
	{true, string(protocolHeader)},
	{false, meth(0, 10, 10, []byte{0, 9}, table(), u32(5), []byte("PLAIN"), u32(5), []byte("en_US"))},
	{true, meth(0, 10, 11, table(), sstr("PLAIN"), u32(15), []byte("\x00guest\x00"+secret+"xx"), sstr("en_US"))},
	{false, meth(0, 10, 30, u16(2047), u32(131072), u16(60))},
	{true, meth(0, 10, 31, u16(2047), u32(131072), u16(60)) + meth(0, 10, 40, sstr("/"), sstr(""), bits(0))},
	{false, meth(0, 10, 41, sstr(""))},
	{true, meth(1, 20, 10, sstr(""))},
	{false, meth(1, 20, 11, u32(0))},
	{true, queueDeclare(1, "jobs", false)},
	{false, queueDeclareOk(1, "jobs")},
	{true, publish(1, "", "jobs") + contentHeader(1, 5) + body(1, "hello")},
	{true, publish(1, "ex", "a.b") + contentHeader(1, 0)},
	{true, getReq(1, "jobs")},
	{false, getOk(1, "", "jobs") + contentHeader(1, 5) + body(1, "hello")},
	{true, getReq(1, "jobs")},
	{false, getEmpty(1)},
	{true, meth(1, 60, 20, u16(0), sstr("jobs"), sstr(""), bits(0), table())},
	{false, meth(1, 60, 21, sstr("ctag"))},
	{false, deliver(1, "", "jobs", 1) + contentHeader(1, 3) + body(1, "abc") + frame(frameHeartbeat, 0, nil)},
	{true, ack(1, 1)},
	{true, meth(1, 50, 10, u16(0), sstr("jobs"), bits(2), u32(12), []byte("\x05x-max\x49\x00\x00\x00\x01"))},
	{false, closeCh(1, 406, "PRECONDITION_FAILED - inequivalent arg", 50, 10)},
	{true, meth(1, 20, 41)},
	{true, closeConn(200, "bye")},
	{false, meth(0, 10, 51)},
}

type row struct {
	Method, Resp string
	Ch, Code     int
	Ex, Key, Q   string
	Body         int64
	Lat          bool // latency > 0
}

var sessionRows = []row{
	{Method: "connection.start", Resp: "connection.start-ok", Lat: true},
	{Method: "connection.tune", Resp: "connection.tune-ok", Lat: true},
	{Method: "connection.open", Resp: "connection.open-ok", Lat: true},
	{Method: "channel.open", Resp: "channel.open-ok", Ch: 1, Lat: true},
	{Method: "queue.declare", Resp: "queue.declare-ok", Ch: 1, Q: "jobs", Lat: true},
	{Method: "basic.publish", Ch: 1, Key: "jobs", Body: 5},
	{Method: "basic.publish", Ch: 1, Ex: "ex", Key: "a.b"},
	{Method: "basic.get", Resp: "basic.get-ok", Ch: 1, Q: "jobs", Key: "jobs", Body: 5, Lat: true},
	{Method: "basic.get", Resp: "basic.get-empty", Ch: 1, Q: "jobs", Lat: true},
	{Method: "basic.consume", Resp: "basic.consume-ok", Ch: 1, Q: "jobs", Lat: true},
	{Method: "basic.deliver", Ch: 1, Key: "jobs", Body: 3},
	{Method: "basic.ack", Ch: 1},
	{Method: "queue.declare", Resp: "channel.close", Ch: 1, Q: "jobs", Code: 406, Lat: true},
	{Method: "channel.close", Resp: "channel.close-ok", Ch: 1, Code: 406, Lat: true},
	{Method: "connection.close", Resp: "connection.close-ok", Code: 200, Lat: true},
}

func rows(recs []*api.AMQPEvent) []row {
	var out []row
	for _, r := range recs {
		out = append(out, row{Method: r.Method, Resp: r.RespMethod, Ch: r.Channel, Code: r.ReplyCode,
			Ex: r.Exchange, Key: r.RoutingKey, Q: r.QueueName, Body: r.BodySize, Lat: r.Latency > 0})
	}
	return out
}

// play sends msgs as calls of the traced process with role; split cuts
// each message into calls of at most split bytes (0: whole).
func play(h *harness, role conn.Role, msgs []msg, split int) {
	for _, m := range msgs {
		dir := conn.Ingress
		if m.client == (role == conn.RoleClient) {
			dir = conn.Egress
		}
		d := m.data
		for len(d) > 0 {
			n := len(d)
			if split > 0 {
				n = min(n, split)
			}
			h.Call(dir, d[:n], 0, 0)
			d = d[n:]
		}
	}
}

func checkRecords(t *testing.T, h *harness, want []row) {
	t.Helper()
	if diff := cmp.Diff(want, rows(h.Recs)); diff != "" {
		t.Fatalf("records (-want +got):\n%s", diff)
	}
	for _, r := range h.Recs {
		if r.Table != api.TableAMQPEvents || h.Opened && r.LocalAddr != "127.0.0.1" || r.ClassID == 0 && r.Method != "" || r.FrameType != 1 {
			t.Fatalf("record columns %+v", r)
		}
		if strings.Contains(fmt.Sprintf("%+v", r), secret) {
			t.Fatalf("credentials in %+v", r)
		}
	}
}

func TestSession(t *testing.T) {
	for _, role := range []conn.Role{conn.RoleClient, conn.RoleServer} {
		for _, split := range []int{0, 1, 3, 7, 8, 11} {
			t.Run(fmt.Sprintf("role%d/split%d", role, split), func(t *testing.T) {
				h := newHarness(t, conn.Options{})
				h.Open(role)
				play(h, role, session, split)
				h.Close()
				checkRecords(t, h, sessionRows)
				if s := h.Stats(); s.UnmatchedRequests != 0 || s.UnmatchedResponses != 0 || s.ParseErrors != 0 || s.DroppedBytes != 0 {
					t.Fatalf("stats %+v", s)
				}
				if role == conn.RoleServer && h.Recs[0].TraceRole != vocab.RoleServer || role == conn.RoleClient && h.Recs[0].TraceRole != vocab.RoleClient {
					t.Fatalf("role %s", h.Recs[0].TraceRole)
				}
			})
		}
	}
}

// TestEverySplitPoint cuts every message at every offset into two calls.
func TestEverySplitPoint(t *testing.T) {
	longest := 0
	for _, m := range session {
		longest = max(longest, len(m.data))
	}
	for k := 1; k < longest; k++ {
		var msgs []msg
		for _, m := range session {
			if k < len(m.data) {
				msgs = append(msgs, msg{m.client, m.data[:k]}, msg{m.client, m.data[k:]})
			} else {
				msgs = append(msgs, m)
			}
		}
		h := newHarness(t, conn.Options{})
		h.Open(conn.RoleClient)
		play(h, conn.RoleClient, msgs, 0)
		h.Close()
		checkRecords(t, h, sessionRows)
	}
}

// TestInterleavedChannels: channels' frames interleave, in one call or
// several; each channel pairs its own.
func TestInterleavedChannels(t *testing.T) {
	h := newHarness(t, conn.Options{})
	h.Open(conn.RoleClient)
	play(h, conn.RoleClient, []msg{
		{true, string(protocolHeader)},
		{true, queueDeclare(1, "a", false) + queueDeclare(2, "b", false) + publish(3, "x", "k3")},
		{false, queueDeclareOk(2, "b")},
		{true, publish(1, "x", "k1") + publish(2, "y", "k2") + contentHeader(2, 20) + contentHeader(3, 30)},
		{false, queueDeclareOk(1, "a")},
		{true, contentHeader(1, 10) + body(1, "0123456789")},
		// An -ok on a channel with nothing waiting is never paired.
		{false, queueDeclareOk(5, "z")},
	}, 0)
	h.Close()
	checkRecords(t, h, []row{
		{Method: "queue.declare", Resp: "queue.declare-ok", Ch: 2, Q: "b", Lat: true},
		{Method: "basic.publish", Ch: 2, Ex: "y", Key: "k2", Body: 20},
		{Method: "basic.publish", Ch: 3, Ex: "x", Key: "k3", Body: 30},
		{Method: "queue.declare", Resp: "queue.declare-ok", Ch: 1, Q: "a", Lat: true},
		{Method: "basic.publish", Ch: 1, Ex: "x", Key: "k1", Body: 10},
	})
	if s := h.Stats(); s.UnmatchedResponses != 1 {
		t.Fatalf("stats %+v", s)
	}
}

// TestNoWait: a no-wait declare expects no answer: it is one-way and the
// next declare's -ok pairs with the next declare.
func TestNoWait(t *testing.T) {
	h := newHarness(t, conn.Options{})
	h.Open(conn.RoleClient)
	play(h, conn.RoleClient, []msg{
		{true, string(protocolHeader) + queueDeclare(1, "a", true)},
		{true, queueDeclare(1, "b", false)},
		{false, queueDeclareOk(1, "b")},
	}, 0)
	h.Close()
	checkRecords(t, h, []row{
		{Method: "queue.declare", Ch: 1, Q: "a"},
		{Method: "queue.declare", Resp: "queue.declare-ok", Ch: 1, Q: "b", Lat: true},
	})
}

// TestServerNamedQueue: the queue name of a declare with "" comes from
// its -ok.
func TestServerNamedQueue(t *testing.T) {
	h := newHarness(t, conn.Options{})
	h.Open(conn.RoleClient)
	play(h, conn.RoleClient, []msg{{true, queueDeclare(1, "", false)}, {false, queueDeclareOk(1, "amq.gen-X")}}, 0)
	h.Close()
	checkRecords(t, h, []row{{Method: "queue.declare", Resp: "queue.declare-ok", Ch: 1, Q: "amq.gen-X", Lat: true}})
}

// TestMidStream: a connection seen after it started: bytes before a
// frame start are skipped, an answer to a request not seen is counted
// and never paired.
func TestMidStream(t *testing.T) {
	h := newHarness(t, conn.Options{})
	// No open event: the tracer started after the connection.
	full := getOk(1, "", "q") + contentHeader(1, 4) + body(1, "abcd")
	h.Call(conn.Ingress, full[5:], 0, 0)                           // the middle of a frame: not inferable
	h.Call(conn.Egress, queueDeclare(1, "q", false)[3:], 0, 0)     // nor this
	h.Call(conn.Ingress, queueDeclareOk(1, "old")+ack(1, 3), 0, 0) // answers nothing seen; the ack is one-way
	h.Call(conn.Egress, getReq(2, "q"), 0, 0)
	h.Call(conn.Ingress, getOk(2, "", "q")+contentHeader(2, 4), 0, 0)
	h.Call(conn.Ingress, body(2, "abcd"), 0, 0)
	h.Close()
	checkRecords(t, h, []row{
		{Method: "basic.ack", Ch: 1},
		{Method: "basic.get", Resp: "basic.get-ok", Ch: 2, Q: "q", Key: "q", Body: 4, Lat: true},
	})
	if s := h.Stats(); s.UnmatchedResponses != 1 {
		t.Fatalf("stats %+v", s)
	}
	if h.Recs[0].TraceRole != vocab.RoleClient {
		t.Fatalf("inferred role %s", h.Recs[0].TraceRole)
	}
}

// TestGaps: bytes lost inside a body are skipped; lost inside a method
// frame, every waiting request is given up and the stream resumes at the
// next call that starts a frame, pairing only what it sees after.
func TestGaps(t *testing.T) {
	h := newHarness(t, conn.Options{})
	h.Open(conn.RoleClient)
	big := strings.Repeat("x", 100)
	pub := publish(1, "", "q") + contentHeader(1, 100) + body(1, big)
	h.Call(conn.Egress, string(protocolHeader), 0, 0)
	h.Call(conn.Egress, pub[:len(pub)-60], len(pub)-10, 0) // 50 body bytes not captured
	h.Call(conn.Egress, pub[len(pub)-10:], 0, 0)
	h.Call(conn.Egress, publish(1, "", "r")+contentHeader(1, 10)+body(1, "0123456789")[:7], 0, 0)
	h.Call(conn.Egress, "", 10, 0) // the whole body payload lost, not its frame end
	h.Call(conn.Egress, "\xce", 0, 0)
	h.Call(conn.Egress, queueDeclare(1, "a", false), 0, 0)
	d := queueDeclareOk(1, "a")
	h.Call(conn.Ingress, d[:4], 0, 0)
	h.Call(conn.Ingress, d[9:], 0, 5) // lost inside the -ok
	h.Call(conn.Egress, queueDeclare(1, "b", false), 0, 0)
	h.Call(conn.Ingress, d[3:], 0, 0) // not a frame start: skipped
	h.Call(conn.Ingress, queueDeclareOk(1, "b"), 0, 0)
	h.Close()
	checkRecords(t, h, []row{
		{Method: "basic.publish", Ch: 1, Key: "q", Body: 100},
		{Method: "basic.publish", Ch: 1, Key: "r", Body: 10},
		{Method: "queue.declare", Resp: "queue.declare-ok", Ch: 1, Q: "b", Lat: true},
	})
	if s := h.Stats(); s.UnmatchedRequests != 1 || s.Resyncs != 1 {
		t.Fatalf("stats %+v", s)
	}
}

// TestLostRequest: a request lost in a gap leaves its answer unpaired.
func TestLostRequest(t *testing.T) {
	h := newHarness(t, conn.Options{})
	h.Open(conn.RoleClient)
	h.Call(conn.Egress, string(protocolHeader), 0, 0)
	h.Call(conn.Egress, "", 40, 0) // a whole queue.declare not captured
	h.Call(conn.Ingress, queueDeclareOk(1, "a"), 0, 0)
	h.Close()
	if len(h.Recs) != 0 || h.Stats().UnmatchedResponses != 1 {
		t.Fatalf("records %v stats %+v", rows(h.Recs), h.Stats())
	}
}

func TestMalformed(t *testing.T) {
	h := newHarness(t, conn.Options{})
	h.Open(conn.RoleClient)
	bad := queueDeclare(1, "a", false)
	bad = bad[:len(bad)-1] + "\x00" // wrong frame end
	h.Call(conn.Egress, string(protocolHeader)+bad, 0, 0)
	h.Call(conn.Ingress, queueDeclareOk(1, "a"), 0, 0)
	h.Close()
	if len(h.Recs) != 0 || h.Stats().ParseErrors != 1 || h.Stats().UnmatchedResponses != 1 {
		t.Fatalf("records %v stats %+v", rows(h.Recs), h.Stats())
	}
}

func TestConnectionCloseRefusesAll(t *testing.T) {
	h := newHarness(t, conn.Options{})
	h.Open(conn.RoleClient)
	play(h, conn.RoleClient, []msg{
		{true, string(protocolHeader) + meth(0, 10, 40, sstr("/nope"), sstr(""), bits(0))},
		{false, closeConn(530, "NOT_ALLOWED")},
		{true, meth(0, 10, 51)},
	}, 0)
	h.Close()
	checkRecords(t, h, []row{
		{Method: "connection.open", Resp: "connection.close", Code: 530, Lat: true},
		{Method: "connection.close", Resp: "connection.close-ok", Code: 530, Lat: true},
	})
}

func TestInfer(t *testing.T) {
	for _, tc := range []struct {
		data string
		dir  conn.Dir
		conf conn.Confidence
		role conn.Role
	}{
		{string(protocolHeader), conn.Egress, conn.High, conn.RoleClient},
		{string(protocolHeader), conn.Ingress, conn.High, conn.RoleServer},
		{"AMQP", conn.Egress, conn.NeedMore, 0},
		{"AMQP\x00\x00\x09\x00", conn.Egress, conn.NoMatch, 0},
		{"AB", conn.Egress, conn.NoMatch, 0},
		{publish(1, "", "q"), conn.Egress, conn.High, conn.RoleClient},
		{deliver(1, "", "q", 1), conn.Egress, conn.High, conn.RoleServer},
		{publish(1, "", "q")[:6], conn.Egress, conn.NeedMore, 0},
		{publish(1, "", "q")[:12], conn.Egress, conn.NeedMore, 0},
		{closeCh(1, 200, "", 0, 0), conn.Egress, conn.High, conn.RoleUnknown},
		{meth(1, 60, 99), conn.Egress, conn.NoMatch, 0},
		{"\x01\x00\x01\x00\x00\x00\x04\x00\x3c\x00\x28\x00", conn.Egress, conn.NoMatch, 0}, // bad frame end
		{"GET / HTTP/1.1\r\n", conn.Egress, conn.NoMatch, 0},
	} {
		got := Protocol{}.Infer([]byte(tc.data), tc.dir, conn.TransportTCP)
		if got.Conf != tc.conf || got.Conf == conn.High && got.Role != tc.role {
			t.Errorf("Infer(%q, %v) = %+v, want %v %v", tc.data, tc.dir, got, tc.conf, tc.role)
		}
	}
}

// TestChannelsFreed: a closed channel's state goes, so long connections
// that open and close channels keep none.
func TestChannelsFreed(t *testing.T) {
	var n int
	env := &conn.Env{Role: conn.RoleClient, Fresh: true, Stats: &conn.Stats{}, Out: emitFunc(func(api.Record, uint64, uint64) { n++ })}
	p := NewParser(env)
	feed := func(dir conn.Dir, data string) {
		p.Feed(&conn.Chunk{Dir: dir, Data: []byte(data), StartNs: 1, EndNs: 2})
	}
	for i := range 3 {
		ch := uint16(100 + i)
		feed(conn.Egress, meth(ch, 20, 10, sstr("")))
		feed(conn.Ingress, meth(ch, 20, 11, u32(0)))
		feed(conn.Egress, closeCh(ch, 200, "", 0, 0))
		feed(conn.Ingress, meth(ch, 20, 41))
	}
	if n != 6 || len(p.chans) != 0 {
		t.Fatalf("%d records, %d channels kept", n, len(p.chans))
	}
}

type emitFunc func(rec api.Record, start, end uint64)

func (f emitFunc) Emit(rec api.Record, start, end uint64) { f(rec, start, end) }

// TestAnswerReportedFirst: traced on the client, whose writer thread may
// return from write(2) after its reader got the answer, the -ok comes
// first; it pairs with the request that follows on its channel if that
// started before the -ok ended, and never otherwise.
func TestAnswerReportedFirst(t *testing.T) {
	h := newHarness(t, conn.Options{})
	h.Open(conn.RoleClient)
	h.Call(conn.Egress, string(protocolHeader), 0, 0)
	h.Call(conn.Ingress, queueDeclareOk(1, "a"), 0, 0)
	h.Now -= 3 * tStep // the write started before the read returned
	h.Call(conn.Egress, queueDeclare(1, "a", false), 0, 0)
	h.Now += 3 * tStep
	h.Call(conn.Ingress, queueDeclareOk(1, "b"), 0, 0)
	h.Call(conn.Egress, queueDeclare(1, "b", false), 0, 0) // started after: not its answer
	h.Close()
	checkRecords(t, h, []row{{Method: "queue.declare", Resp: "queue.declare-ok", Ch: 1, Q: "a", Lat: true}})
	if s := h.Stats(); s.UnmatchedRequests != 1 || s.UnmatchedResponses != 1 {
		t.Fatalf("stats %+v", s)
	}
}

// TestGetOkReportedFirst: a get-ok and its content read before the
// basic.get's write is reported pair with it, body size included.
func TestGetOkReportedFirst(t *testing.T) {
	h := newHarness(t, conn.Options{})
	h.Open(conn.RoleClient)
	h.Call(conn.Egress, string(protocolHeader), 0, 0)
	h.Call(conn.Ingress, getOk(1, "ex", "k")+contentHeader(1, 7)+body(1, "1234567"), 0, 0)
	h.Now -= 3 * tStep
	h.Call(conn.Egress, getReq(1, "q"), 0, 0)
	h.Now += 3 * tStep
	h.Call(conn.Egress, getReq(1, "q"), 0, 0)
	h.Call(conn.Ingress, getEmpty(1), 0, 0)
	h.Close()
	checkRecords(t, h, []row{
		{Method: "basic.get", Resp: "basic.get-ok", Ch: 1, Ex: "ex", Key: "k", Q: "q", Body: 7, Lat: true},
		{Method: "basic.get", Resp: "basic.get-empty", Ch: 1, Q: "q", Lat: true},
	})
	if s := h.Stats(); s.UnmatchedRequests != 0 || s.UnmatchedResponses != 0 {
		t.Fatalf("stats %+v", s)
	}
}

// TestCloseReportedFirst: the broker's refusing close read before the
// declare's write is reported still answers the declare.
func TestCloseReportedFirst(t *testing.T) {
	h := newHarness(t, conn.Options{})
	h.Open(conn.RoleClient)
	h.Call(conn.Egress, string(protocolHeader), 0, 0)
	h.Call(conn.Ingress, closeCh(1, 406, "PRECONDITION_FAILED", 50, 10), 0, 0)
	h.Now -= 3 * tStep
	h.Call(conn.Egress, queueDeclare(1, "q", false), 0, 0)
	h.Now += 3 * tStep
	h.Call(conn.Egress, meth(1, 20, 41), 0, 0)
	h.Close()
	checkRecords(t, h, []row{
		{Method: "queue.declare", Resp: "channel.close", Ch: 1, Code: 406, Q: "q", Lat: true},
		{Method: "channel.close", Resp: "channel.close-ok", Ch: 1, Code: 406, Lat: true},
	})
	if s := h.Stats(); s.UnmatchedRequests != 0 || s.UnmatchedResponses != 0 {
		t.Fatalf("stats %+v", s)
	}
}
