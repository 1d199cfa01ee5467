package http1

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/kubectl-pixie/kubectl-pixie/probes/api"
	"github.com/kubectl-pixie/kubectl-pixie/probes/conn"
	"github.com/kubectl-pixie/kubectl-pixie/probes/protocols/internal/prototest"
)

// summarize reports what the kernel sends for a whole exchange on h's
// server connection whose request call was [reqStart, reqStart+Call] and
// whose response's last call started at respStart: one KindHTTP1 event
// standing for calls that moved reqN and respN bytes.
func summarize(h *harness, s conn.HTTP1Summary, reqN, respN int, kind conn.Kind) {
	h.Pos[conn.Ingress] += uint64(reqN)
	h.Pos[conn.Egress] += uint64(respN)
	s.Pos = [2]uint64{h.Pos[conn.Egress], h.Pos[conn.Ingress]}
	s.Handoff = kind == conn.KindHTTP1Handoff
	h.Tr.Handle(&conn.Event{Kind: kind, ID: h.ID, PID: 43, StartNs: s.StartNs, EndNs: s.EndNs,
		Role: conn.RoleServer, Transport: conn.TransportTCP, HTTP1: &s})
}

// newSummaryHarness is a tracker as the agent builds it for the aggregated
// view: no headers, no bodies, summaries to HTTP/1.
func newSummaryHarness(t *testing.T, access api.DataAccess) *harness {
	return prototest.New[*api.HTTPEvent](t, conn.Options{Access: access, NoHeaders: true, BodyLimit: -1, Summaries: Protocol{}}, Protocol{}, serverAddr)
}

// TestSummaryMatchesParsed: an exchange summarized in the kernel makes the
// record the parser makes of the same calls (method, templated and
// redacted path, status, sizes, time, latency), in each access mode.
func TestSummaryMatchesParsed(t *testing.T) {
	const (
		req  = "POST /users/42/orders?token=s3cret HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"
		resp = "HTTP/1.1 201 Created\r\nContent-Length: 11\r\n\r\n"
		body = "hello world"
	)
	for _, access := range []api.DataAccess{api.DataAccessRestricted, api.DataAccessNone, api.DataAccessFull} {
		t.Run(string(access), func(t *testing.T) {
			parsed := newSummaryHarness(t, access)
			parsed.Open(conn.RoleServer)
			kernel := newSummaryHarness(t, access)
			kernel.Open(conn.RoleServer)
			var times [][2]uint64
			for range 3 {
				reqAt := parsed.Now
				parsed.In(req)
				parsed.Out(resp)
				respAt := parsed.Now
				parsed.Out(body)
				// The parser's times: a read's return, a write's start.
				times = append(times, [2]uint64{reqAt + prototest.Call, respAt})
			}
			for _, tm := range times {
				summarize(kernel, conn.HTTP1Summary{Method: "POST", Target: []byte("/users/42/orders?token=s3cret"), Minor: 1,
					Status: 201, ReqBody: 5, RespBody: 11, StartNs: tm[0], EndNs: tm[1]}, len(req), len(resp)+len(body), conn.KindHTTP1)
			}
			require.Len(t, parsed.Recs, 3)
			require.Len(t, kernel.Recs, 3)
			for i, p := range parsed.Recs {
				k := kernel.Recs[i]
				require.Equal(t, p.ReqMethod, k.ReqMethod)
				require.Equal(t, p.ReqPath, k.ReqPath)
				require.Equal(t, p.RespStatus, k.RespStatus)
				require.Equal(t, p.ReqBodySize, k.ReqBodySize)
				require.Equal(t, p.RespBodySize, k.RespBodySize)
				require.Equal(t, p.Latency, k.Latency, "record %d", i)
				require.Equal(t, p.Time, k.Time)
				require.Equal(t, p.TraceRole, k.TraceRole)
				require.Equal(t, p.ReqBody, k.ReqBody) // the body marker of the mode
			}
			ks := kernel.Stats()
			require.EqualValues(t, 3, ks.Summaries)
			require.Zero(t, ks.DroppedSummaries+ks.UnmatchedRequests+ks.UnmatchedResponses+ks.Gaps+ks.ParseErrors)
		})
	}
}

// TestSummaryHandoff: after summaries, the kernel hands the exchange in
// progress to the parser in each state, and the calls that follow as data
// finish it: every request is recorded once, with its kernel-side start.
func TestSummaryHandoff(t *testing.T) {
	for _, tc := range []struct {
		name  string
		state conn.HTTP1State
		sum   conn.HTTP1Summary
		// bytes the kernel consumed of the exchange before the hand-off
		reqN, respN int
		// the calls after it, as data
		in, out []string
		status  int
		resp    int64
	}{
		{name: "request body", state: conn.HTTP1ReqBody, reqN: 60, in: []string{"world"},
			out: []string{"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"}, status: 200, resp: 2},
		{name: "waiting", state: conn.HTTP1Wait, reqN: 65,
			out: []string{"HTTP/1.1 100 Continue\r\n\r\n", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n"}, status: 200, resp: 2},
		{name: "response body", state: conn.HTTP1RespBody, reqN: 65, respN: 40, out: []string{"12345"}, status: 404, resp: 10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newSummaryHarness(t, api.DataAccessFull)
			h.Open(conn.RoleServer)
			start := h.Now
			summarize(h, conn.HTTP1Summary{Method: "GET", Target: []byte("/first"), Minor: 1, Status: 200, StartNs: start, EndNs: start + 500},
				30, 50, conn.KindHTTP1)
			h.Now += 1000
			reqAt := h.Now
			s := conn.HTTP1Summary{Method: "PUT", Target: []byte("/second"), Minor: 1, ReqBody: 10, StartNs: reqAt, EndNs: reqAt, State: tc.state}
			switch tc.state {
			case conn.HTTP1ReqBody:
				s.Remain = 5
			case conn.HTTP1RespBody:
				s.Status, s.RespBody, s.Remain, s.EndNs = 404, 10, 5, reqAt+100
			}
			summarize(h, s, tc.reqN, tc.respN, conn.KindHTTP1Handoff)
			h.Now += 1000
			for _, b := range tc.in {
				h.In(b)
			}
			var lastOut uint64
			for _, b := range tc.out {
				lastOut = h.Now
				h.Out(b)
			}
			// A pipelined pair after it, all as data.
			h.In("GET /third HTTP/1.1\r\n\r\nGET /fourth HTTP/1.1\r\n\r\n")
			h.Out("HTTP/1.1 204 No Content\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n")
			h.Close()
			require.Len(t, h.Recs, 4)
			second := h.Recs[1]
			require.Equal(t, "PUT", second.ReqMethod)
			require.Equal(t, "/second", second.ReqPath)
			require.Equal(t, tc.status, second.RespStatus)
			require.EqualValues(t, 10, second.ReqBodySize)
			require.Equal(t, tc.resp, second.RespBodySize)
			require.EqualValues(t, lastOut-reqAt, second.Latency)
			require.Equal(t, "/third", h.Recs[2].ReqPath)
			require.Equal(t, "/fourth", h.Recs[3].ReqPath)
			st := h.Stats()
			require.Zero(t, st.Gaps+st.ParseErrors+st.UnmatchedRequests+st.UnmatchedResponses+st.DroppedSummaries, "%+v", st)
		})
	}
}

// TestSummaryHandoffAtClose: a request the kernel saw whole whose answer
// never came is handed off at the close and counted unmatched, as parsed.
func TestSummaryHandoffAtClose(t *testing.T) {
	h := newSummaryHarness(t, api.DataAccessRestricted)
	h.Open(conn.RoleServer)
	summarize(h, conn.HTTP1Summary{Method: "GET", Target: []byte("/slow"), Minor: 1, StartNs: h.Now, EndNs: h.Now, State: conn.HTTP1Wait},
		40, 0, conn.KindHTTP1Handoff)
	h.Close()
	require.Empty(t, h.Recs)
	require.EqualValues(t, 1, h.Stats().UnmatchedRequests)
}

// TestSummaryWithoutProtocol: a tracker not told which parser takes
// summaries counts them dropped instead of inventing records.
func TestSummaryWithoutProtocol(t *testing.T) {
	h := newHarness(t, conn.Options{})
	h.Open(conn.RoleServer)
	summarize(h, conn.HTTP1Summary{Method: "GET", Target: []byte("/"), Status: 200}, 20, 20, conn.KindHTTP1)
	require.Empty(t, h.Recs)
	require.EqualValues(t, 1, h.Stats().DroppedSummaries)
}

// TestSummaryAllocs: a summarized keep-alive exchange allocates at most
// the record, as a parsed one does (TestAllocsAggregated).
func TestSummaryAllocs(t *testing.T) {
	h := newSummaryHarness(t, api.DataAccessRestricted)
	h.Open(conn.RoleServer)
	s := conn.HTTP1Summary{Method: "GET", Target: []byte("/users/7"), Minor: 1, Status: 200, RespBody: 100}
	ev := conn.Event{Kind: conn.KindHTTP1, ID: h.ID, Role: conn.RoleServer, Transport: conn.TransportTCP, HTTP1: &s}
	h.Tr.Handle(&ev)
	allocs := testing.AllocsPerRun(200, func() {
		s.Pos[0] += 150
		s.Pos[1] += 40
		s.StartNs += 1000
		s.EndNs = s.StartNs + 100
		h.Tr.Handle(&ev)
	})
	require.LessOrEqual(t, allocs, 1.0)
}
