package http1

import (
	"bytes"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/kubectl-pixie/kubectl-pixie/probes/api"
	"github.com/kubectl-pixie/kubectl-pixie/probes/conn"
)

// Fuzz inputs: a request stream, a response stream, a seed that cuts and
// interleaves them into calls, and flags: bit 0 client (else server),
// bit 1 connection seen from its open, bit 2 lose bytes, bit 3 truncate
// captures, bit 4 close at the end.

// script turns a fuzz input into calls; the same input always gives the
// same calls.
type script struct {
	rnd uint64
}

func (s *script) next(n int) int {
	// xorshift64*: deterministic, no allocation.
	s.rnd ^= s.rnd >> 12
	s.rnd ^= s.rnd << 25
	s.rnd ^= s.rnd >> 27
	v := s.rnd * 2685821657736338717
	if n <= 0 {
		return 0
	}
	return int(v>>33) % n
}

type fuzzCall struct {
	dir   conn.Dir
	data  []byte
	size  int // moved (>= len(data))
	skip  int // lost before
	close bool
}

func makeCalls(req, resp []byte, seed uint64, flags uint8) []fuzzCall {
	s := &script{rnd: seed | 1}
	reqDir, respDir := conn.Ingress, conn.Egress
	if flags&1 != 0 {
		reqDir, respDir = conn.Egress, conn.Ingress
	}
	var calls []fuzzCall
	streams := [2][]byte{req, resp}
	dirs := [2]conn.Dir{reqDir, respDir}
	for len(streams[0])+len(streams[1]) > 0 {
		i := s.next(2)
		if len(streams[i]) == 0 {
			i = 1 - i
		}
		b := streams[i]
		n := 1 + s.next(min(len(b), 1+s.next(200)))
		c := fuzzCall{dir: dirs[i], data: b[:n], size: n}
		if flags&4 != 0 && s.next(8) == 0 {
			// Lose this call's bytes entirely: the next call reports them.
			lostN := n
			streams[i] = b[n:]
			if len(streams[i]) == 0 {
				break
			}
			b = streams[i]
			n = 1 + s.next(len(b))
			c = fuzzCall{dir: dirs[i], data: b[:n], size: n, skip: lostN}
		}
		if flags&8 != 0 && s.next(6) == 0 {
			c.data = c.data[:s.next(len(c.data)+1)]
		}
		calls = append(calls, c)
		streams[i] = b[n:]
	}
	if flags&16 != 0 {
		calls = append(calls, fuzzCall{close: true})
	}
	return calls
}

// countLines counts the positions where a complete start line begins: an
// upper bound on the messages any parser may report.
func countLines(b []byte, resp bool) int {
	n := 0
	for i := range b {
		var r lineResult
		if resp {
			r, _ = statusLine(b[i:])
		} else {
			r, _ = requestLine(b[i:])
		}
		if r == lineOK {
			n++
		}
	}
	return n
}

func checkRecords(t *testing.T, recs []*api.HTTPEvent, req, resp []byte, bodyLimit int) {
	t.Helper()
	if len(recs) == 0 {
		return
	}
	if nreq, nresp := countLines(req, false), countLines(resp, true); len(recs) > nreq || len(recs) > nresp {
		t.Fatalf("%d records from %d request lines and %d status lines", len(recs), nreq, nresp)
	}
	for _, r := range recs {
		line := fmt.Sprintf("%s %s HTTP/1.%d", r.ReqMethod, r.ReqPath, r.MinorVersion)
		if !bytes.Contains(req, []byte(line)) {
			t.Fatalf("invented request %q", line)
		}
		if !bytes.Contains(resp, []byte(fmt.Sprintf(" %03d", r.RespStatus))) {
			t.Fatalf("invented status %d", r.RespStatus)
		}
		if len(r.ReqBody) > bodyLimit || len(r.RespBody) > bodyLimit {
			t.Fatalf("body over the limit: %d, %d > %d", len(r.ReqBody), len(r.RespBody), bodyLimit)
		}
		if r.ReqBodySize < 0 || r.RespBodySize < 0 || r.Latency < 0 {
			t.Fatalf("negative size or latency: %+v", r)
		}
	}
}

func addSeeds(f *testing.F) {
	pairs := [][2]string{
		{get1 + post + get2, ok5 + chunk + ok3},
		{get1 + get2 + get3, "HTTP/1.1 100 Continue\r\n\r\n" + ok5 + nf + noBody},
		{"HEAD / HTTP/1.1\r\n\r\n" + get1, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n" + ok3},
		{"GET / HTTP/1.0\r\n\r\n", "HTTP/1.0 200 OK\r\n\r\nuntil close"},
		{"PUT /u HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3;a=b\r\nabc\r\n0\r\nT: x\r\n\r\n", chunk},
		{"GET /ws HTTP/1.1\r\nUpgrade: websocket\r\n\r\n", "HTTP/1.1 101 Switching Protocols\r\n\r\n\x81\x00"},
		{"tail of a body\r\n" + get1, "body\r\nHTTP/1.1 200 OK\r\n" + ok5},
		{"\x00\x01\x02", "\xff\xfe"},
		{"GET /a HTTP/1.1\r\nX: " + string(bytes.Repeat([]byte{'y'}, 3000)) + "\r\n\r\n" + get2, ok3 + nf},
	}
	for _, p := range pairs {
		for _, fl := range []uint8{0, 1, 3, 7, 15, 31} {
			f.Add([]byte(p[0]), []byte(p[1]), uint64(len(p[0])*7+int(fl)), fl)
		}
	}
	for _, rs := range recordedStreams(f) {
		if len(rs.req)+len(rs.resp) > 16<<10 {
			continue // keep fuzzing fast
		}
		f.Add(rs.req, rs.resp, uint64(len(rs.req)), uint8(3))
		f.Add(rs.req, rs.resp, uint64(len(rs.resp)), uint8(31))
	}
}

// FuzzParser drives a Parser directly and checks its memory bounds after
// every call.
func FuzzParser(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, req, resp []byte, seed uint64, flags uint8) {
		const maxBuf, bodyLimit = 1024, 64
		var st conn.Stats
		var recs []*api.HTTPEvent
		role := conn.RoleServer
		if flags&1 != 0 {
			role = conn.RoleClient
		}
		out := emitFunc(func(r api.Record, s, e uint64) {
			if e < s {
				t.Fatalf("record ends before it starts: %d < %d", e, s)
			}
			recs = append(recs, r.(*api.HTTPEvent))
		})
		env := &conn.Env{Role: role, Fresh: flags&2 != 0, BodyLimit: bodyLimit, Access: api.DataAccessFull, MaxBufferedBytes: maxBuf, Stats: &st, Out: out}
		p := NewParser(env)
		now := uint64(1000)
		for _, c := range makeCalls(req, resp, seed, flags) {
			if c.close {
				p.End(now, conn.EndClose)
				break
			}
			if c.skip > 0 {
				p.Feed(&conn.Chunk{Dir: c.dir, Gap: uint64(c.skip), StartNs: now - 90, EndNs: now})
			}
			if len(c.data) > 0 {
				p.Feed(&conn.Chunk{Dir: c.dir, Data: c.data, StartNs: now, EndNs: now + 10})
			}
			if c.size > len(c.data) {
				p.Feed(&conn.Chunk{Dir: c.dir, Gap: uint64(c.size - len(c.data)), StartNs: now, EndNs: now + 10})
			}
			now += 100
			for i := range p.halves {
				h := &p.halves[i]
				if len(h.hbuf) > maxBuf || len(h.lbuf) > maxChunkLine {
					t.Fatalf("buffers over their bounds: %d, %d", len(h.hbuf), len(h.lbuf))
				}
				if h.msg != nil && len(h.msg.body) > bodyLimit {
					t.Fatalf("body kept over the limit: %d", len(h.msg.body))
				}
			}
			if len(p.pending) > maxPending {
				t.Fatalf("%d pending requests", len(p.pending))
			}
		}
		p.End(now, conn.EndFlush)
		checkRecords(t, recs, req, resp, bodyLimit)
		if st.Records != 0 {
			t.Fatalf("parser counted records itself")
		}
	})
}

// FuzzTracker drives the whole path, inference included, through events.
func FuzzTracker(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, req, resp []byte, seed uint64, flags uint8) {
		const bodyLimit = 128
		h := newHarness(t, conn.Options{BodyLimit: bodyLimit, MaxBufferedBytes: 2048, MaxConns: 2})
		h.NoOtherPos = flags&32 != 0
		role := conn.RoleServer
		if flags&1 != 0 {
			role = conn.RoleClient
		}
		if flags&2 != 0 {
			h.Open(role)
		}
		for _, c := range makeCalls(req, resp, seed, flags) {
			if c.close {
				h.Close()
				break
			}
			h.Call(c.dir, string(c.data), c.size, c.skip)
		}
		h.Tr.Flush()
		checkRecords(t, h.Recs, req, resp, bodyLimit)
		if st := h.Stats(); st.Records != uint64(len(h.Recs)) || h.Tr.Conns() != 0 {
			t.Fatalf("records %d counted %d, conns %d", len(h.Recs), st.Records, h.Tr.Conns())
		}
	})
}

type emitFunc func(rec api.Record, startNs, endNs uint64)

func (f emitFunc) Emit(rec api.Record, startNs, endNs uint64) { f(rec, startNs, endNs) }

// FuzzExchanges builds well-formed exchanges from the input, so the
// expected records are known exactly, and feeds them cut at random points,
// on either side: every exchange must come out, in order, with the right
// sizes, and nothing else.
func FuzzExchanges(f *testing.F) {
	f.Add([]byte{0, 0, 0, 0}, uint64(1), uint8(1))
	f.Add([]byte{1, 10, 1, 20, 2, 200, 6, 3, 3, 0, 0, 50, 4, 0, 2, 0}, uint64(7), uint8(3))
	f.Add([]byte{0x81, 30, 0x45, 0x90, 1, 5, 5, 255}, uint64(99), uint8(2))
	f.Fuzz(func(t *testing.T, in []byte, seed uint64, flags uint8) {
		methods := []string{"GET", "POST", "PUT", "HEAD", "DELETE"}
		statuses := []int{200, 201, 204, 304, 404, 500, 200}
		var req, resp bytes.Buffer
		var want []string
		var reqEnds, respEnds []int // where each exchange's messages end
		s := &script{rnd: seed | 1}
		body := func(n int, chunked bool, dst *bytes.Buffer) {
			b := bytes.Repeat([]byte{'b'}, n)
			if !chunked {
				dst.Write(b)
				return
			}
			for len(b) > 0 {
				k := 1 + s.next(len(b))
				fmt.Fprintf(dst, "%x", k)
				if s.next(2) == 0 {
					dst.WriteString(";ext=v")
				}
				dst.WriteString("\r\n")
				dst.Write(b[:k])
				dst.WriteString("\r\n")
				b = b[k:]
			}
			dst.WriteString("0\r\n")
			if s.next(2) == 0 {
				dst.WriteString("Trailer-X: 1\r\n")
			}
			dst.WriteString("\r\n")
		}
		for i := 0; i+4 <= len(in) && i < 64; i += 4 {
			method := methods[int(in[i]&0x7f)%len(methods)]
			reqLen := int(in[i+1])
			if method == "GET" || method == "HEAD" {
				reqLen = 0
			}
			reqChunked := in[i]&0x80 != 0 && reqLen > 0
			status := statuses[int(in[i+2]&0x0f)%len(statuses)]
			cont := int(in[i+2]&0x0f)%len(statuses) == 6
			respChunked := in[i+2]&0x40 != 0
			respLen := int(in[i+3]) * 3
			fmt.Fprintf(&req, "%s /e%d HTTP/1.1\r\nHost: h\r\n", method, i/4)
			switch {
			case reqChunked:
				req.WriteString("Transfer-Encoding: chunked\r\n\r\n")
			case reqLen > 0:
				fmt.Fprintf(&req, "Content-Length: %d\r\n\r\n", reqLen)
			default:
				req.WriteString("\r\n")
			}
			body(reqLen, reqChunked, &req)
			if cont {
				resp.WriteString("HTTP/1.1 100 Continue\r\n\r\n")
			}
			fmt.Fprintf(&resp, "HTTP/1.1 %d S\r\n", status)
			noBody := method == "HEAD" || status == 204 || status == 304
			switch {
			case status == 204 || status == 304:
				resp.WriteString("\r\n")
			case respChunked:
				resp.WriteString("Transfer-Encoding: chunked\r\n\r\n")
			default:
				fmt.Fprintf(&resp, "Content-Length: %d\r\n\r\n", respLen)
			}
			if noBody {
				respLen = 0
			} else {
				body(respLen, respChunked, &resp)
			}
			want = append(want, fmt.Sprintf("%s /e%d %d %d %d", method, i/4, status, reqLen, respLen))
			reqEnds, respEnds = append(reqEnds, req.Len()), append(respEnds, resp.Len())
		}
		if flags&32 != 0 {
			// A last response delimited by the close.
			n := len(want)
			fmt.Fprintf(&req, "GET /last%d HTTP/1.0\r\n\r\n", n)
			resp.WriteString("HTTP/1.0 200 OK\r\nServer: s\r\n\r\n")
			body(int(seed%700), false, &resp)
			want = append(want, fmt.Sprintf("GET /last%d 200 0 %d", n, seed%700))
			reqEnds, respEnds = append(reqEnds, req.Len()), append(respEnds, resp.Len())
		}
		role := conn.RoleServer
		if flags&1 != 0 {
			role = conn.RoleClient
		}
		// With flags&16 the tracer starts mid-stream: the first calls
		// are not seen (the open event is, with an unknown role). Not with
		// pipelining: answers to requests sent before tracing started
		// cannot be told from answers to the requests seen (a known
		// limit, as with any tracer that sees only part of a stream).
		midStream := flags&16 != 0 && flags&4 == 0
		h := newHarness(t, conn.Options{})
		// Without the other direction's offset, a loss in one direction
		// is known only at its next call, too late to pair safely after
		// losses in both: that case is covered by the lossless runs.
		h.NoOtherPos = flags&64 != 0 && flags&8 == 0 && !midStream
		if flags&2 != 0 && !midStream {
			h.Open(role)
		} else {
			h.Open(conn.RoleUnknown)
		}
		// Exchanges in order (request, then its response), each stream
		// cut at random points; with flags&4 all requests go first
		// (pipelining).
		calls := interleave(req.Bytes(), resp.Bytes(), reqEnds, respEnds, s, role, flags&4 != 0)
		// With flags&8 (and answers awaited), calls are lost or captured
		// only in part: then records may be missing, but those that come
		// out must be exactly right and correctly paired.
		if midStream && len(calls) > 0 {
			calls = calls[s.next(len(calls)):]
		}
		lossy := flags&8 != 0 && flags&4 == 0 || midStream
		trace := os.Getenv("HTTP1_FUZZ_TRACE") != "" // print the calls of a failing input
		for _, c := range calls {
			if trace {
				t.Logf("call %s %q", c.dir, c.data)
			}
			if lossy {
				switch s.next(6) {
				case 0:
					if trace {
						t.Logf("  lost")
					}
					h.Lose(c.dir, len(c.data))
					continue
				case 1:
					k := s.next(len(c.data) + 1)
					if trace {
						t.Logf("  captured %d", k)
					}
					h.Call(c.dir, string(c.data[:k]), len(c.data), 0)
					continue
				}
			}
			h.Call(c.dir, string(c.data), 0, 0)
		}
		h.Close()
		var got []string
		for _, r := range h.Recs {
			got = append(got, fmt.Sprintf("%s %s %d %d %d", r.ReqMethod, r.ReqPath, r.RespStatus, r.ReqBodySize, r.RespBodySize))
		}
		if lossy {
			// got must be a subsequence of want. A chunked request body
			// whose framing was lost, and a body delimited by the close
			// whose last calls were lost (nothing reports them), are
			// reported with the bytes seen, a lower bound; everything else
			// must be exact.
			same := func(g, w string) bool {
				var gm, gp, wm, wp string
				var gs, ws, gq, wq, gr, wr int
				fmt.Sscanf(g, "%s %s %d %d %d", &gm, &gp, &gs, &gq, &gr)
				fmt.Sscanf(w, "%s %s %d %d %d", &wm, &wp, &ws, &wq, &wr)
				return gm == wm && gp == wp && gs == ws && gq <= wq &&
					(gr == wr || gr < wr && strings.HasPrefix(gp, "/last"))
			}
			j := 0
			for _, g := range got {
				for j < len(want) && !same(g, want[j]) {
					j++
				}
				if j == len(want) {
					t.Fatalf("record %q is not one of the exchanges in order; got:\n%s\nwant:\n%s", g, strings.Join(got, "\n"), strings.Join(want, "\n"))
				}
				j++
			}
			return
		}
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Fatalf("records:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	})
}

// interleave cuts the streams into calls so that each response comes after
// its request, as from a client that waits for answers (or, pipelined, all
// requests first).
func interleave(req, resp []byte, reqEnds, respEnds []int, s *script, role conn.Role, pipelined bool) []fuzzCall {
	reqDir, respDir := conn.Ingress, conn.Egress
	if role == conn.RoleClient {
		reqDir, respDir = conn.Egress, conn.Ingress
	}
	var calls []fuzzCall
	cut := func(dir conn.Dir, b []byte) {
		for len(b) > 0 {
			n := 1 + s.next(min(len(b), 1+s.next(300)))
			calls = append(calls, fuzzCall{dir: dir, data: b[:n], size: n})
			b = b[n:]
		}
	}
	if pipelined {
		cut(reqDir, req)
		cut(respDir, resp)
		return calls
	}
	r0, p0 := 0, 0
	for i := range reqEnds {
		cut(reqDir, req[r0:reqEnds[i]])
		cut(respDir, resp[p0:respEnds[i]])
		r0, p0 = reqEnds[i], respEnds[i]
	}
	return calls
}
