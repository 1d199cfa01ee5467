package http2_test

import (
	"bytes"
	"net/netip"
	"testing"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/kubectl-pixie/kubectl-pixie/probes/api"
	"github.com/kubectl-pixie/kubectl-pixie/probes/conn"
	"github.com/kubectl-pixie/kubectl-pixie/probes/protocols"
	h2 "github.com/kubectl-pixie/kubectl-pixie/probes/protocols/http2"
)

// h2c builds one GET on a fresh connection; settingsFirst puts the
// server's SETTINGS before the client's preface (Go's server writes it
// before reading).
func h2c(path string) (req, resp []byte) {
	var rb, sb, hb bytes.Buffer
	rb.WriteString(h2.Preface)
	cf, sf := http2.NewFramer(&rb, nil), http2.NewFramer(&sb, nil)
	enc := hpack.NewEncoder(&hb)
	for _, kv := range [][2]string{{":method", "GET"}, {":scheme", "http"}, {":path", path}, {":authority", "x"}} {
		enc.WriteField(hpack.HeaderField{Name: kv[0], Value: kv[1]})
	}
	cf.WriteSettings()
	cf.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: bytes.Clone(hb.Bytes()), EndStream: true, EndHeaders: true})
	hb.Reset()
	enc.WriteField(hpack.HeaderField{Name: ":status", Value: "200"})
	sf.WriteSettings()
	sf.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: bytes.Clone(hb.Bytes()), EndHeaders: true})
	sf.WriteData(1, true, []byte("ok"))
	return rb.Bytes(), sb.Bytes()
}

// TestRegistry: with every protocol registered as the agent does, HTTP/1
// stays HTTP/1 and h2c (with the preface first, or the server's SETTINGS
// first) is HTTP/2, for a server and for a client.
func TestRegistry(t *testing.T) {
	req2, resp2 := h2c("/two")
	sets := []struct {
		name         string
		calls        [][]byte // alternately request, response
		settingsOnly []byte   // written by the server before anything
		major        int
		path         string
	}{
		{"http1", [][]byte{[]byte("GET /one HTTP/1.1\r\nHost: x\r\n\r\n"), []byte("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")}, nil, 1, "/one"},
		{"h2c preface", [][]byte{req2, resp2}, nil, 2, "/two"},
		{"h2c settings first", [][]byte{req2, resp2[:9]}, resp2[9:], 2, "/two"},
	}
	for _, s := range sets {
		for _, role := range []conn.Role{conn.RoleServer, conn.RoleClient} {
			var recs []*api.HTTPEvent
			tr := conn.NewTracker(conn.Options{Protocols: protocols.All()}, func(_ conn.Protocol, r api.Record) {
				if ev, ok := r.(*api.HTTPEvent); ok {
					recs = append(recs, ev)
				}
			})
			id := conn.ID{TGID: 1, FD: 3, Gen: 1}
			now := uint64(1000)
			pos := map[conn.Dir]uint64{}
			a, b := netip.MustParseAddrPort("127.0.0.1:1"), netip.MustParseAddrPort("127.0.0.1:2")
			tr.Handle(&conn.Event{Kind: conn.KindOpen, ID: id, Role: role, Transport: conn.TransportTCP, Local: a, Remote: b, StartNs: now, EndNs: now + 1})
			send := func(dir conn.Dir, data []byte) {
				now += 100
				tr.Handle(&conn.Event{Kind: conn.KindData, ID: id, Dir: dir, Pos: pos[dir], Size: uint32(len(data)), Data: data, StartNs: now, EndNs: now + 1})
				pos[dir] += uint64(len(data))
			}
			reqDir, respDir := conn.Ingress, conn.Egress
			if role == conn.RoleClient {
				reqDir, respDir = conn.Egress, conn.Ingress
			}
			calls := s.calls
			if s.settingsOnly != nil {
				send(respDir, calls[1]) // the server's SETTINGS alone
				calls = [][]byte{calls[0], s.settingsOnly}
			}
			send(reqDir, calls[0])
			send(respDir, calls[1])
			if len(recs) != 1 || recs[0].MajorVersion != s.major || recs[0].ReqPath != s.path || recs[0].RespStatus != 200 {
				t.Fatalf("%s as %v: records %+v", s.name, role, recs)
			}
			if want := map[conn.Role]string{conn.RoleServer: "server", conn.RoleClient: "client"}[role]; recs[0].TraceRole != want {
				t.Fatalf("%s: role %q, want %q", s.name, recs[0].TraceRole, want)
			}
		}
	}
}
