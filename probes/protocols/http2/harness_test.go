package http2

import (
	"bytes"
	"net/netip"
	"testing"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/kubectl-pixie/kubectl-pixie/probes/api"
	"github.com/kubectl-pixie/kubectl-pixie/probes/conn"
)

// harness drives a conn.Tracker with the HTTP/2 protocol through events,
// the way the socket tracer does.
type harness struct {
	tb   testing.TB
	tr   *conn.Tracker
	recs []*api.HTTPEvent
	pos  [3]uint64
	now  uint64
	id   conn.ID
}

var (
	clientAddr = netip.MustParseAddrPort("127.0.0.1:40000")
	serverAddr = netip.MustParseAddrPort("127.0.0.1:8080")
)

const (
	tStart = 1_000_000
	tStep  = 1000
	tCall  = 10
)

func newHarness(tb testing.TB, opts conn.Options) *harness {
	if opts.Protocols == nil {
		opts.Protocols = []conn.Protocol{Protocol{}}
	}
	h := &harness{tb: tb, now: tStart, id: conn.ID{TGID: 42, FD: 7, Gen: 1}}
	h.tr = conn.NewTracker(opts, func(r any) {
		ev, ok := r.(*api.HTTPEvent)
		if !ok {
			tb.Fatalf("record of type %T", r)
		}
		h.recs = append(h.recs, ev)
	})
	return h
}

func (h *harness) open(role conn.Role) {
	local, remote := clientAddr, serverAddr
	if role == conn.RoleServer {
		local, remote = serverAddr, clientAddr
	}
	h.tr.Handle(&conn.Event{Kind: conn.KindOpen, ID: h.id, PID: 42, Comm: "test", StartNs: h.now, EndNs: h.now + tCall,
		Role: role, Transport: conn.TransportTCP, Local: local, Remote: remote})
	h.now += tStep
}

// call reports one syscall that moved size bytes of which data were
// captured, after skip bytes were lost.
func (h *harness) call(dir conn.Dir, data []byte, size, skip int) {
	if size < len(data) {
		size = len(data)
	}
	h.pos[dir] += uint64(skip)
	other := conn.Egress
	if dir == conn.Egress {
		other = conn.Ingress
	}
	h.tr.Handle(&conn.Event{Kind: conn.KindData, ID: h.id, PID: 43, Comm: "test", StartNs: h.now, EndNs: h.now + tCall,
		Dir: dir, Pos: h.pos[dir], Size: uint32(size), Data: data,
		OtherPos: h.pos[other], HasOtherPos: true, Transport: conn.TransportTCP, Local: serverAddr, Remote: clientAddr})
	h.pos[dir] += uint64(size)
	h.now += tStep
}

func (h *harness) send(dir conn.Dir, b []byte) { h.call(dir, b, 0, 0) }

func (h *harness) close() {
	h.tr.Handle(&conn.Event{Kind: conn.KindClose, ID: h.id, StartNs: h.now, EndNs: h.now + tCall})
	h.now += tStep
}

func (h *harness) stats() conn.Stats { return h.tr.Stats() }

// peer writes one side's frames, with its own HPACK encoder (so the
// dynamic table carries over between blocks, as on a real connection).
type peer struct {
	buf bytes.Buffer
	fr  *http2.Framer
	enc *hpack.Encoder
	hb  bytes.Buffer
}

func newPeer() *peer {
	p := &peer{}
	p.fr = http2.NewFramer(&p.buf, nil)
	p.fr.AllowIllegalWrites = true
	p.enc = hpack.NewEncoder(&p.hb)
	return p
}

// block encodes name, value pairs.
func (p *peer) block(kv ...string) []byte {
	p.hb.Reset()
	for i := 0; i+1 < len(kv); i += 2 {
		f := hpack.HeaderField{Name: kv[i], Value: kv[i+1]}
		if f.Name == "authorization" {
			f.Sensitive = true
		}
		if err := p.enc.WriteField(f); err != nil {
			panic(err)
		}
	}
	return bytes.Clone(p.hb.Bytes())
}

func (p *peer) headers(id uint32, end bool, kv ...string) *peer {
	must(p.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: p.block(kv...), EndStream: end, EndHeaders: true}))
	return p
}

func (p *peer) data(id uint32, end bool, s string) *peer {
	must(p.fr.WriteData(id, end, []byte(s)))
	return p
}

func (p *peer) settings() *peer {
	must(p.fr.WriteSettings(http2.Setting{ID: http2.SettingMaxConcurrentStreams, Val: 100}))
	return p
}

func (p *peer) take() []byte {
	b := bytes.Clone(p.buf.Bytes())
	p.buf.Reset()
	return b
}

func must(err error) {
	if err != nil {
		panic(err)
	}
}

// reqKV is a GET's header list.
func reqKV(method, path string, extra ...string) []string {
	return append([]string{":method", method, ":scheme", "http", ":path", path, ":authority", "localhost:8080"}, extra...)
}
