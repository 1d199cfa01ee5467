package dns

import (
	"encoding/json"
	"testing"

	"golang.org/x/net/dns/dnsmessage"

	"github.com/kubectl-pixie/kubectl-pixie/probes/conn"
)

// FuzzParser feeds a query and a response datagram (each possibly cut by
// the capture limit: cut bytes) through the Tracker, on a client or a
// server socket (flags bit 0), and decodes names at every offset. Nothing
// may panic, loop, or produce invalid JSON or more records than queries.
func FuzzParser(f *testing.F) {
	f.Add(build(f, 1, false, 0, "example.test.", dnsmessage.TypeA), build(f, 1, true, 0, "example.test.", dnsmessage.TypeA, [4]byte{10, 1, 2, 3}), uint8(0), uint8(0))
	f.Add(build(f, 9, false, 0, "nx.test.", dnsmessage.TypeAAAA), build(f, 9, true, dnsmessage.RCodeNameError, "nx.test.", dnsmessage.TypeAAAA), uint8(1), uint8(5))
	f.Add([]byte{0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 12, 0, 1, 0, 1}, []byte{0x12, 0x34, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0, 1, 'a', 0xc0, 12, 0, 1, 0, 1}, uint8(0), uint8(0))
	f.Fuzz(func(t *testing.T, q, r []byte, flags, cut uint8) {
		for off := 0; off < len(r) && off < 64; off++ {
			if name, _, err := readName(r, off); err == nil && len(name) > 4*maxNameLen {
				t.Fatalf("name of %d bytes", len(name))
			}
		}
		local, remote := clientAddr, serverAddr
		reqDir, respDir := conn.Egress, conn.Ingress
		if flags&1 != 0 {
			local, remote = serverAddr, clientAddr
			reqDir, respDir = conn.Ingress, conn.Egress
		}
		h := newHarness(t, conn.Options{}, local, remote)
		size := len(r)
		if int(cut) < len(r) && flags&2 != 0 {
			r = r[:cut]
		}
		h.dgram(reqDir, remote, q, 0)
		h.dgram(respDir, remote, r, size)
		h.dgram(reqDir, remote, q, 0)
		h.tr.Flush()
		if len(h.recs) > 2 {
			t.Fatalf("%d records from 2 queries", len(h.recs))
		}
		for _, e := range h.recs {
			for _, s := range []string{e.ReqHeader, e.ReqBody, e.RespHeader, e.RespBody} {
				if !json.Valid([]byte(s)) {
					t.Fatalf("invalid JSON %q", s)
				}
			}
		}
	})
}

// FuzzTCP feeds a client's DNS-over-TCP connection: out is what it writes,
// in what it reads, each cut into calls at split. Nothing may panic or
// produce invalid JSON, and no more records come than queries written.
func FuzzTCP(f *testing.F) {
	q := append([]byte{0, 30}, build(f, 1, false, 0, "example.test.", dnsmessage.TypeA)...)
	r := build(f, 1, true, 0, "example.test.", dnsmessage.TypeA, [4]byte{10, 1, 2, 3})
	f.Add(append(q, q...), append([]byte{0, byte(len(r))}, r...), uint8(3))
	f.Add(q, []byte{0, 12, 0, 1, 0x81, 0x80, 0, 1, 0, 0, 0, 0, 0, 0}, uint8(1))
	f.Fuzz(func(t *testing.T, out, in []byte, split uint8) {
		h := newHarness(t, conn.Options{}, clientAddr, serverAddr)
		h.tr.Handle(&conn.Event{Kind: conn.KindOpen, ID: conn.ID{TGID: 9, FD: 4, Gen: 1}, Role: conn.RoleClient, Transport: conn.TransportTCP,
			Local: clientAddr, Remote: serverAddr, StartNs: h.now, EndNs: h.now + 1})
		feed := func(dir conn.Dir, b []byte) {
			k := min(int(split), len(b))
			h.stream(dir, 0, b[:k])
			h.stream(dir, uint64(k), b[k:])
		}
		feed(conn.Egress, out)
		feed(conn.Ingress, in)
		h.tr.Flush()
		if len(h.recs) > len(out)/14 {
			t.Fatalf("%d records from %d bytes of queries", len(h.recs), len(out))
		}
		for _, e := range h.recs {
			for _, s := range []string{e.ReqHeader, e.ReqBody, e.RespHeader, e.RespBody} {
				if !json.Valid([]byte(s)) {
					t.Fatalf("invalid JSON %q", s)
				}
			}
		}
	})
}
