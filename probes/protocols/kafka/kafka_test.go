package kafka

import (
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/kubectl-pixie/kubectl-pixie/probes/api"
	"github.com/kubectl-pixie/kubectl-pixie/probes/api/vocab"
	"github.com/kubectl-pixie/kubectl-pixie/probes/conn"
)

func fl() *enc { return &enc{flex: true} }
func cl() *enc { return &enc{} }

func apiVersionsReq(corr int) string {
	return req(apiApiVersions, 3, corr, "kgo", fl().str("kgo").str("1.22").tags())
}

func apiVersionsResp(corr, code int) string {
	return resp(apiApiVersions, 3, corr, fl().i16(code).arr(1).i16(0).i16(0).i16(11).tags().i32(0).tags())
}

func metadataReq(corr int, topic string) string {
	return req(apiMetadata, 12, corr, "kgo", fl().arr(1).raw(make([]byte, 16)).str(topic).tags().i8(1).i8(0).tags())
}

// metadataResp: one broker, one topic with topicErr and two partitions,
// the second with partErr.
func metadataResp(corr int, topic string, topicErr, partErr int) string {
	e := fl().i32(0).arr(1).i32(1).str("127.0.0.1").i32(9092).null().tags().str("cluster").i32(1)
	e.arr(1).i16(topicErr).str(topic).raw(make([]byte, 16)).i8(0).arr(2)
	for i, code := range []int{0, partErr} {
		e.i16(code).i32(i).i32(1).i32(0).arr(1).i32(1).arr(1).i32(1).arr(0).tags()
	}
	return resp(apiMetadata, 12, corr, e.i32(0).tags().tags())
}

func produceReq(corr, ver int, topic string, acks int, records []byte) string {
	if ver >= 9 {
		return req(apiProduce, ver, corr, "kgo", fl().null().i16(acks).i32(1000).arr(1).str(topic).
			arr(1).i32(0).uvarint(len(records)+1).raw(records).tags().tags().tags())
	}
	return req(apiProduce, ver, corr, "kgo", cl().null().i16(acks).i32(1000).arr(1).str(topic).
		arr(1).i32(0).i32(len(records)).raw(records))
}

// produceResp: one topic, partitions with the given error codes.
func produceResp(corr, ver int, topic string, codes ...int) string {
	if ver >= 9 {
		e := fl().arr(1).str(topic).arr(len(codes))
		for i, c := range codes {
			e.i32(i).i16(c).i64(5).i64(-1).i64(0).arr(0).null().tags()
		}
		return resp(apiProduce, ver, corr, e.tags().i32(0).tags())
	}
	e := cl().arr(1).str(topic).arr(len(codes))
	for i, c := range codes {
		e.i32(i).i16(c).i64(5).i64(-1).i64(0)
	}
	return resp(apiProduce, ver, corr, e.i32(0))
}

func fetchReq(corr, ver int, topic string) string {
	if ver >= 12 {
		return req(apiFetch, ver, corr, "kgo", fl().i32(-1).i32(500).i32(1).i32(1<<20).i8(0).i32(0).i32(-1).
			arr(1).str(topic).arr(1).i32(0).i32(-1).i64(0).i32(-1).i64(-1).i32(1<<20).tags().tags().arr(0).str("").tags())
	}
	return req(apiFetch, ver, corr, "kgo", cl().i32(-1).i32(500).i32(1).i32(1<<20).i8(0).i32(0).i32(-1).
		arr(1).str(topic).arr(1).i32(0).i32(-1).i64(0).i64(-1).i32(1<<20).arr(0).str(""))
}

func fetchResp(corr, ver int, topic string, top, part int, records []byte) string {
	if ver >= 12 {
		return resp(apiFetch, ver, corr, fl().i32(0).i16(top).i32(0).arr(1).str(topic).arr(1).i32(0).i16(part).
			i64(10).i64(10).i64(0).arr(0).i32(-1).uvarint(len(records)+1).raw(records).tags().tags().tags())
	}
	return resp(apiFetch, ver, corr, cl().i32(0).i16(top).i32(0).arr(1).str(topic).arr(1).i32(0).i16(part).
		i64(10).i64(10).i64(0).arr(0).i32(-1).i32(len(records)).raw(records))
}

// msg is one write: of the client or of the broker.
type msg struct {
	client bool
	data   string
}

type row struct {
	Cmd, Topic, Err string
	Ver             int
	Lat             bool
}

func rows(recs []*api.KafkaEvent) []row {
	var out []row
	for _, r := range recs {
		out = append(out, row{Cmd: r.ReqCmd, Topic: r.Topic, Err: r.ErrorName, Ver: r.APIVersion, Lat: r.Latency > 0})
	}
	return out
}

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

var records = []byte(strings.Repeat("r", 3000)) // past what is read of a message

var session = []msg{
	{true, apiVersionsReq(1)},
	{false, apiVersionsResp(1, 0)},
	{true, metadataReq(2, "orders")},
	{false, metadataResp(2, "orders", 0, 0)},
	{true, metadataReq(3, "nope")},
	{false, metadataResp(3, "nope", 3, 0)},
	{true, metadataReq(4, "orders")},
	{false, metadataResp(4, "orders", 0, 5)}, // a partition without leader
	{true, produceReq(5, 9, "orders", 1, records)},
	{false, produceResp(5, 9, "orders", 0)},
	{true, produceReq(6, 9, "orders", 0, []byte("x"))}, // acks=0: no response
	{true, produceReq(7, 7, "orders", -1, []byte("y"))},
	{false, produceResp(7, 7, "orders", 0, 6)},
	{true, fetchReq(8, 12, "orders")},
	{false, fetchResp(8, 12, "orders", 0, 0, records)},
	{true, fetchReq(9, 11, "orders")},
	{false, fetchResp(9, 11, "orders", 0, 1, nil)},
	{true, apiVersionsReq(10)},
	{false, apiVersionsResp(10, 35)},
}

var sessionRows = []row{
	{Cmd: "ApiVersions", Ver: 3, Lat: true},
	{Cmd: "Metadata", Ver: 12, Lat: true},
	{Cmd: "Metadata", Ver: 12, Err: "UNKNOWN_TOPIC_OR_PARTITION", Lat: true},
	{Cmd: "Metadata", Ver: 12, Err: "LEADER_NOT_AVAILABLE", Lat: true},
	{Cmd: "Produce", Ver: 9, Topic: "orders", Lat: true},
	{Cmd: "Produce", Ver: 9, Topic: "orders"},
	{Cmd: "Produce", Ver: 7, Topic: "orders", Err: "NOT_LEADER_OR_FOLLOWER", Lat: true},
	{Cmd: "Fetch", Ver: 12, Topic: "orders", Lat: true},
	{Cmd: "Fetch", Ver: 11, Topic: "orders", Err: "OFFSET_OUT_OF_RANGE", Lat: true},
	{Cmd: "ApiVersions", Ver: 3, Err: "UNSUPPORTED_VERSION", Lat: true},
}

func check(t *testing.T, h *harness, want []row) {
	t.Helper()
	if diff := cmp.Diff(want, rows(h.Recs)); diff != "" {
		t.Fatalf("records (-want +got):\n%s", diff)
	}
	for _, r := range h.Recs {
		if r.Table != api.TableKafkaEvents || r.ClientID != "kgo" || h.Opened && r.LocalAddr != "127.0.0.1" || !strings.HasPrefix(r.ReqBody, `{"api_version":`) {
			t.Fatalf("record columns %+v", r)
		}
	}
}

func TestSession(t *testing.T) {
	for _, role := range []conn.Role{conn.RoleClient, conn.RoleServer} {
		for _, split := range []int{0, 1, 4, 5, 13, 100} {
			t.Run(fmt.Sprintf("role%d/split%d", role, split), func(t *testing.T) {
				h := newHarness(t, conn.Options{})
				h.Open(role)
				play(h, role, session, split)
				h.Close()
				check(t, h, sessionRows)
				if s := h.Stats(); s.UnmatchedRequests != 0 || s.UnmatchedResponses != 0 || s.ParseErrors != 0 || s.DroppedBytes != 0 {
					t.Fatalf("stats %+v", s)
				}
				if h.Recs[0].Resp != `{"error_code":0}` || h.Recs[4].ReqBody != `{"api_version":9,"topic":"orders","acks":1}` {
					t.Fatalf("bodies %q %q", h.Recs[0].Resp, h.Recs[4].ReqBody)
				}
			})
		}
	}
}

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
		check(t, h, sessionRows)
	}
}

// TestPipelined: several requests in one write, their responses in one
// read; pairing follows correlation ids in order.
func TestPipelined(t *testing.T) {
	for _, split := range []int{0, 7, 30} {
		h := newHarness(t, conn.Options{})
		h.Open(conn.RoleClient)
		play(h, conn.RoleClient, []msg{
			{true, produceReq(1, 9, "a", 1, []byte("1")) + produceReq(2, 9, "b", 1, []byte("2")) + fetchReq(3, 12, "c")},
			{false, produceResp(1, 9, "a", 0) + produceResp(2, 9, "b", 3)},
			{true, metadataReq(4, "d")},
			{false, fetchResp(3, 12, "c", 0, 0, []byte("abc")) + metadataResp(4, "d", 0, 0)},
		}, split)
		h.Close()
		check(t, h, []row{
			{Cmd: "Produce", Ver: 9, Topic: "a", Lat: true},
			{Cmd: "Produce", Ver: 9, Topic: "b", Err: "UNKNOWN_TOPIC_OR_PARTITION", Lat: true},
			{Cmd: "Fetch", Ver: 12, Topic: "c", Lat: true},
			{Cmd: "Metadata", Ver: 12, Lat: true},
		})
	}
}

// TestLostResponse: a response lost in a gap: the next response pairs by
// its correlation id, the request without one is counted, nothing is
// paired on a guess.
func TestLostResponse(t *testing.T) {
	h := newHarness(t, conn.Options{})
	h.Open(conn.RoleClient)
	h.Call(conn.Egress, metadataReq(1, "a")+metadataReq(2, "b"), 0, 0)
	r1 := metadataResp(1, "a", 3, 0)
	h.Call(conn.Ingress, "", len(r1), 0) // not captured at all
	h.Call(conn.Ingress, metadataResp(2, "b", 0, 0)[:20], 0, 0)
	h.Call(conn.Ingress, "", 0, 10) // lost inside the response
	h.Call(conn.Egress, apiVersionsReq(3), 0, 0)
	h.Call(conn.Ingress, apiVersionsResp(99, 0), 0, 0) // nothing waits for 99: skipped
	h.Call(conn.Ingress, apiVersionsResp(3, 0), 0, 0)
	h.Close()
	check(t, h, []row{{Cmd: "ApiVersions", Ver: 3, Lat: true}})
	if s := h.Stats(); s.UnmatchedRequests != 2 || s.Resyncs != 2 {
		t.Fatalf("stats %+v", s)
	}
}

// TestGapInRecords: bytes lost inside record batches, past what is read,
// do not disturb the framing.
func TestGapInRecords(t *testing.T) {
	h := newHarness(t, conn.Options{})
	h.Open(conn.RoleClient)
	p := produceReq(1, 9, "a", 1, records)
	h.Call(conn.Egress, p[:2500], len(p)-100, 0) // truncated capture
	h.Call(conn.Egress, p[len(p)-100:], 0, 0)
	h.Call(conn.Ingress, produceResp(1, 9, "a", 0), 0, 0)
	h.Close()
	check(t, h, []row{{Cmd: "Produce", Ver: 9, Topic: "a", Lat: true}})
	if s := h.Stats(); s.Uncaptured == 0 || s.UnmatchedRequests != 0 {
		t.Fatalf("stats %+v", s)
	}
}

// TestMidStream: seen mid-connection, a response whose request was not
// seen is never paired; the first whole request starts pairing.
func TestMidStream(t *testing.T) {
	h := newHarness(t, conn.Options{})
	m := metadataReq(7, "x")
	h.Call(conn.Egress, m[6:], 0, 0) // the middle of a request: not inferable
	h.Call(conn.Egress, m, 0, 0)
	h.Call(conn.Ingress, metadataResp(6, "w", 0, 0), 0, 0) // answers nothing seen
	h.Call(conn.Ingress, metadataResp(7, "x", 0, 0), 0, 0)
	h.Close()
	check(t, h, []row{{Cmd: "Metadata", Ver: 12, Lat: true}})
	if h.Recs[0].TraceRole != vocab.RoleClient {
		t.Fatalf("role %s", h.Recs[0].TraceRole)
	}
}

func TestInfer(t *testing.T) {
	for _, tc := range []struct {
		data string
		conf conn.Confidence
	}{
		{apiVersionsReq(1), conn.High},
		{metadataReq(1, "t"), conn.High},
		{metadataReq(1, "t")[:20], conn.Low},
		{metadataReq(1, "t")[:15], conn.NeedMore}, // the client id cut
		{req(3, 12, 1, "", cl()), conn.NoMatch},
		{metadataReq(1, "t") + metadataReq(2, "u"), conn.Low},
		{apiVersionsReq(1)[:9], conn.NeedMore},
		{req(200, 0, 1, "x", cl()), conn.NoMatch},
		{req(3, 99, 1, "x", cl()), conn.NoMatch},
		{req(3, 1, 1, "a\x01b", cl()), conn.NoMatch},
		{"\x00\x00\x00\x08\x00\x03\x00\x00user\x00postgres\x00", conn.NoMatch}, // a PostgreSQL startup
		{"GET / HTTP/1.1\r\n\r\n", conn.NoMatch},
		{"*1\r\n$4\r\nPING\r\n", conn.NoMatch},
	} {
		got := Protocol{}.Infer([]byte(tc.data), conn.Egress, conn.TransportTCP)
		if got.Conf != tc.conf || got.Conf >= conn.Low && got.Role != conn.RoleClient {
			t.Errorf("Infer(%q) = %+v, want %v", tc.data, got, tc.conf)
		}
	}
}

// TestByIDVersions: Fetch v13+ names topics by id: no topic, framing
// and errors still right.
func TestByIDVersions(t *testing.T) {
	h := newHarness(t, conn.Options{})
	h.Open(conn.RoleClient)
	body := fl().i32(500).i32(1).i32(1 << 20).i8(0).i32(0).i32(-1).arr(1).raw(make([]byte, 16)).arr(0).tags().arr(0).str("").tags()
	h.Call(conn.Egress, req(apiFetch, 16, 1, "kgo", body), 0, 0)
	h.Call(conn.Ingress, resp(apiFetch, 16, 1, fl().i32(0).i16(0).i32(0).arr(1).raw(make([]byte, 16)).arr(1).i32(0).i16(100).tags().tags().tags()), 0, 0)
	h.Close()
	check(t, h, []row{{Cmd: "Fetch", Ver: 16, Err: "UNKNOWN_TOPIC_ID", Lat: true}})
}

// TestResponseReportedFirst: a client's writer thread may return from
// write(2) after its reader got the answer, so the response comes first:
// it pairs with the request that follows with its correlation id and
// started before it ended, and with no other.
func TestResponseReportedFirst(t *testing.T) {
	h := newHarness(t, conn.Options{})
	h.Open(conn.RoleClient)
	h.Call(conn.Egress, apiVersionsReq(1), 0, 0)
	h.Call(conn.Ingress, apiVersionsResp(1, 0), 0, 0)
	h.Call(conn.Ingress, metadataResp(2, "t", 3, 0), 0, 0)
	h.Now -= 3 * tStep // the write started before the read returned
	h.Call(conn.Egress, metadataReq(2, "t"), 0, 0)
	h.Now += 3 * tStep
	// A response cannot answer a request that started after it ended.
	h.Call(conn.Ingress, metadataResp(3, "u", 0, 0), 0, 0)
	h.Call(conn.Egress, metadataReq(3, "u"), 0, 0)
	h.Close()
	check(t, h, []row{
		{Cmd: "ApiVersions", Ver: 3, Lat: true},
		{Cmd: "Metadata", Ver: 12, Err: "UNKNOWN_TOPIC_OR_PARTITION", Lat: true},
	})
	if s := h.Stats(); s.UnmatchedRequests != 1 || s.UnmatchedResponses != 1 {
		t.Fatalf("stats %+v", s)
	}
}

// TestNoneAccess: with none data access a record keeps its summary
// columns (API, topic, error) and no client id or body summaries.
func TestNoneAccess(t *testing.T) {
	h := newHarness(t, conn.Options{Access: api.DataAccessNone})
	h.Open(conn.RoleClient)
	play(h, conn.RoleClient, session, 0)
	h.Close()
	if len(h.Recs) != len(sessionRows) {
		t.Fatalf("%d records, want %d", len(h.Recs), len(sessionRows))
	}
	for _, r := range h.Recs {
		if r.ClientID != "" || r.ReqBody != "" || r.Resp != "" || r.ReqCmd == "" {
			t.Errorf("record %+v", r)
		}
	}
	if h.Recs[4].Topic != "orders" {
		t.Errorf("topic %q", h.Recs[4].Topic)
	}
}
