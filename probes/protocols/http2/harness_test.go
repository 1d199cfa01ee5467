package http2

import (
	"bytes"
	"net/netip"
	"testing"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/kubectl-pixie/kubectl-pixie/probes/api"
	"github.com/kubectl-pixie/kubectl-pixie/probes/conn"
	"github.com/kubectl-pixie/kubectl-pixie/probes/protocols/internal/prototest"
)

// harness drives a conn.Tracker with the HTTP/2 protocol through
// events, the way the socket tracer does (probes/protocols/internal/prototest).
type harness = prototest.Harness[*api.HTTPEvent]

const (
	tStep = prototest.Step
	tCall = prototest.Call
)

// newHarness builds a harness whose records keep everything captured
// (full data access) unless opts asks for a mode: parsing tests compare
// paths, headers and bodies; the redaction tests name their mode.
func newHarness(tb testing.TB, opts conn.Options) *harness {
	if opts.Access == "" {
		opts.Access = api.DataAccessFull
	}
	return prototest.New[*api.HTTPEvent](tb, opts, Protocol{}, netip.MustParseAddrPort("127.0.0.1:8080"))
}

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
