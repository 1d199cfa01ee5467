package http2

import (
	"bytes"
	"testing"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/kubectl-pixie/kubectl-pixie/probes/conn"
)

// fuzzSeeds are real exchanges: a GET with a body, gRPC with trailers,
// CONTINUATION, padding and priority, RST_STREAM and GOAWAY.
func fuzzSeeds() [][2][]byte {
	var out [][2][]byte
	req, resp := simple()
	out = append(out, [2][]byte{req, resp})

	cl, srv := newPeer(), newPeer()
	cl.buf.WriteString(Preface)
	g := []string{"content-type", "application/grpc"}
	cl.headers(1, false, reqKV("POST", "/p.S/M", g...)...).data(1, true, "\x00\x00\x00\x00\x01x")
	cl.headers(3, true, reqKV("POST", "/p.S/M", g...)...)
	srv.headers(1, false, ":status", "200", "content-type", "application/grpc").data(1, false, "\x00\x00\x00\x00\x01y")
	srv.headers(1, true, "grpc-status", "0")
	srv.headers(3, true, ":status", "200", "content-type", "application/grpc", "grpc-status", "14")
	out = append(out, [2][]byte{cl.take(), srv.take()})

	cl, srv = newPeer(), newPeer()
	cl.buf.WriteString(Preface)
	blk := cl.block(reqKV("GET", "/c", "x-a", "aaaaaaaaaaaaaaaaaaaa")...)
	must(cl.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: blk[:5], EndStream: true, PadLength: 2,
		Priority: http2.PriorityParam{Weight: 9}}))
	must(cl.fr.WriteContinuation(1, true, blk[5:]))
	cl.headers(3, true, reqKV("GET", "/r")...)
	must(srv.fr.WriteDataPadded(1, false, nil, nil))
	rb := srv.block(":status", "200")
	must(srv.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: rb, EndHeaders: true, PadLength: 1}))
	must(srv.fr.WriteDataPadded(1, true, []byte("ok"), []byte{0, 0, 0}))
	must(srv.fr.WriteRSTStream(3, http2.ErrCodeCancel))
	must(srv.fr.WriteGoAway(3, http2.ErrCodeNo, []byte("bye")))
	out = append(out, [2][]byte{cl.take(), srv.take()})
	return out
}

// FuzzParser cuts a client stream and a server stream into calls chosen
// by seed and feeds them through the Tracker. flags: bit 0 client (else
// server), bit 1 seen from the open, bit 2 lose bytes, bit 3 truncate
// captures, bit 4 full data. The parser must not panic, must emit no more
// records than the client stream has HEADERS frames, and keep its output
// bounded.
func FuzzParser(f *testing.F) {
	for i, s := range fuzzSeeds() {
		f.Add(s[0], s[1], uint64(i+1), uint8(3))
		f.Add(s[0], s[1], uint64(i+7), uint8(0x1f))
		f.Add(s[0][len(Preface):], s[1], uint64(i+3), uint8(1))
	}
	f.Fuzz(func(t *testing.T, req, resp []byte, seed uint64, flags uint8) {
		h := newHarness(t, conn.Options{BodyLimit: 64, MaxBufferedBytes: 256, FullData: flags&16 != 0})
		role := conn.RoleServer
		reqDir, respDir := conn.Ingress, conn.Egress
		if flags&1 != 0 {
			role, reqDir, respDir = conn.RoleClient, conn.Egress, conn.Ingress
		}
		if flags&2 != 0 {
			h.Open(role)
		}
		rnd := seed | 1
		next := func(n int) int {
			rnd ^= rnd >> 12
			rnd ^= rnd << 25
			rnd ^= rnd >> 27
			return int((rnd*2685821657736338717)>>33) % max(n, 1)
		}
		streams := [2][]byte{req, resp}
		dirs := [2]conn.Dir{reqDir, respDir}
		for len(streams[0])+len(streams[1]) > 0 {
			i := next(2)
			if len(streams[i]) == 0 {
				i = 1 - i
			}
			b := streams[i]
			n := 1 + next(min(len(b), 64))
			data, size, skip := b[:n], n, 0
			if flags&8 != 0 && next(4) == 0 {
				data = data[:next(n)]
			}
			if flags&4 != 0 && next(8) == 0 {
				skip = 1 + next(16)
			}
			h.CallBytes(dirs[i], data, size, skip)
			streams[i] = b[n:]
		}
		h.Close()
		// Every record needs a HEADERS frame in the request stream (type
		// byte 1 somewhere): a loose upper bound on records.
		if limit := bytes.Count(req, []byte{frameHeaders}); len(h.Recs) > limit {
			t.Fatalf("%d records from at most %d requests", len(h.Recs), limit)
		}
		for _, r := range h.Recs {
			if len(r.ReqBody) > 64 || len(r.RespBody) > 64 || r.Latency < 0 || r.MajorVersion != 2 {
				t.Fatalf("unbounded or bad record %+v", r)
			}
			if r.ReqMethod == "" {
				t.Fatalf("record without a method %+v", r)
			}
		}
	})
}

// FuzzHPACK feeds arbitrary header block fragments, split over HEADERS and
// CONTINUATION frames, on a fresh connection: table indexes out of range,
// size updates, truncated strings and Huffman garbage must be counted,
// never panic, and never produce a record with an invented request line.
func FuzzHPACK(f *testing.F) {
	p := newPeer()
	f.Add(p.block(reqKV("GET", "/a", "x-k", "v")...), p.block(reqKV("GET", "/a", "x-k", "v")...), p.block(":status", "200"), uint8(3))
	f.Add([]byte{0xbe}, []byte{0x82, 0x84}, []byte{0x88}, uint8(0))
	f.Add([]byte{0x3f, 0xe1, 0x1f, 0x82}, []byte{0x40, 0x81, 0xff, 0x01, 0x61}, []byte{0x88, 0xc0}, uint8(1))
	f.Fuzz(func(t *testing.T, b1, b2, resp []byte, split uint8) {
		cl := newPeer()
		cl.buf.WriteString(Preface)
		for i, blk := range [][]byte{b1, b2} {
			id := uint32(2*i + 1)
			k := min(int(split), len(blk))
			must(cl.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: blk[:k], EndStream: true, EndHeaders: k == len(blk)}))
			if k < len(blk) {
				must(cl.fr.WriteContinuation(id, true, blk[k:]))
			}
		}
		srv := newPeer()
		for _, id := range []uint32{1, 3} {
			must(srv.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: resp, EndStream: true, EndHeaders: true}))
		}
		h := newHarness(t, conn.Options{MaxBufferedBytes: 512})
		h.Open(conn.RoleServer)
		h.Send(conn.Ingress, cl.take())
		h.Send(conn.Egress, srv.take())
		h.Close()
		if len(h.Recs) > 2 {
			t.Fatalf("%d records from 2 requests", len(h.Recs))
		}
		for _, r := range h.Recs {
			if r.ReqMethod == "" || r.RespStatus < 0 {
				t.Fatalf("record %+v", r)
			}
		}
	})
}

// FuzzTableDecoder: on blocks that x/net's decoder accepts (from an empty
// table, two blocks in a row so the second may use the first's
// insertions), the tolerant decoder yields the same fields, all known;
// on any block it must not panic.
func FuzzTableDecoder(f *testing.F) {
	p := newPeer()
	f.Add(p.block(reqKV("GET", "/a", "x-k", "v")...), p.block(reqKV("GET", "/a", "x-k", "w")...))
	f.Add([]byte{0x3f, 0xe1, 0x1f, 0x82}, []byte{0x40, 0x81, 0xff, 0x01, 0x61})
	f.Add([]byte{0x40, 0x01, 'a', 0x01, 'b'}, []byte{0xbe, 0xbf})
	f.Fuzz(func(t *testing.T, b1, b2 []byte) {
		ref := hpack.NewDecoder(4096, nil)
		ref.SetMaxStringLength(256)
		mine := &tableDecoder{maxLen: 256}
		for _, b := range [][]byte{b1, b2} {
			want, err := ref.DecodeFull(b)
			var got []hpack.HeaderField
			allKnown := true
			mineErr := mine.decode(b, func(n, v string, known bool) {
				got = append(got, hpack.HeaderField{Name: n, Value: v})
				allKnown = allKnown && known
			})
			if err != nil {
				return // the reference's table may now differ from ours
			}
			if mineErr != nil || !allKnown || len(got) != len(want) {
				t.Fatalf("block %x: got %v (err %v, all known %v), want %v", b, got, mineErr, allKnown, want)
			}
			for i := range got {
				if got[i].Name != want[i].Name || got[i].Value != want[i].Value {
					t.Fatalf("block %x field %d: %v, want %v", b, i, got[i], want[i])
				}
			}
		}
	})
}
