package conn

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/kubectl-pixie/kubectl-pixie/probes/api"
)

// fakeProto recognises messages starting with "REQ" (High) or "lo" (Low)
// and records what its parsers are fed, as text.
type fakeProto struct{ log *[]string }

func (fakeProto) Name() string { return "fake" }

func (fakeProto) Infer(b []byte, dir Dir, _ uint8) Inference {
	s := string(b)
	switch {
	case strings.HasPrefix(s, "REQ"):
		role := RoleServer
		if dir == Egress {
			role = RoleClient
		}
		return Inference{Conf: High, Role: role}
	case strings.HasPrefix("REQ", s):
		return Inference{Conf: NeedMore}
	case strings.HasPrefix(s, "lo"):
		return Inference{Conf: Low}
	}
	return Inference{}
}

func (f fakeProto) NewParser(env *Env) Parser {
	*f.log = append(*f.log, fmt.Sprintf("new role=%s fresh=%v", env.Role, env.Fresh))
	return &fakeParser{f: f, env: env}
}

type fakeParser struct {
	f   fakeProto
	env *Env
}

func (p *fakeParser) Feed(c *Chunk) {
	cut := ""
	if c.Cut {
		cut = " cut"
	}
	s := fmt.Sprintf("%s %q gap=%d%s t=%d-%d", c.Dir, c.Data, c.Gap, cut, c.StartNs, c.EndNs)
	if c.Datagram {
		s += " dgram peer=" + c.Peer.String()
	}
	*p.f.log = append(*p.f.log, s)
	if strings.HasPrefix(string(c.Data), "REQ") {
		p.env.Out.Emit(&api.HTTPEvent{ReqPath: string(c.Data)}, c.WireNs(), c.EndNs+5)
	}
}

func (p *fakeParser) End(ns uint64, why EndReason) {
	*p.f.log = append(*p.f.log, fmt.Sprintf("end %d", why))
}

type tharness struct {
	tr   *Tracker
	log  []string
	recs []any
	now  uint64
}

func newT(opts Options) *tharness {
	h := &tharness{now: 100}
	opts.Protocols = []Protocol{fakeProto{log: &h.log}}
	h.tr = NewTracker(opts, func(_ Protocol, r api.Record) { h.recs = append(h.recs, r) })
	return h
}

var (
	la = netip.MustParseAddrPort("[::ffff:10.0.0.1]:80")
	ra = netip.MustParseAddrPort("10.0.0.2:5555")
)

func (h *tharness) open(fd int32, role Role) {
	h.tr.Handle(&Event{Kind: KindOpen, ID: ID{TGID: 1, FD: fd}, Role: role, Transport: TransportTCP, Local: la, Remote: ra, StartNs: h.now, EndNs: h.now + 1})
	h.now += 10
}

func (h *tharness) data(fd int32, dir Dir, pos uint64, size int, data string) {
	h.tr.Handle(&Event{Kind: KindData, ID: ID{TGID: 1, FD: fd}, Comm: "c", Dir: dir, Pos: pos, Size: uint32(size), Data: []byte(data), StartNs: h.now, EndNs: h.now + 1})
	h.now += 10
}

func TestTrackerStreams(t *testing.T) {
	h := newT(Options{})
	h.open(3, RoleClient)
	h.data(3, Ingress, 0, 3, "xyz")  // before the protocol is known: ignored
	h.data(3, Egress, 0, 2, "RE")    // a valid prefix: kept
	h.data(3, Egress, 2, 5, "Q1x")   // completes it; 2 bytes not captured
	h.data(3, Egress, 9, 4, "more")  // 2 bytes lost before
	h.data(3, Egress, 11, 4, "remo") // overlaps by 2: only "mo" is new
	h.data(3, Egress, 13, 2, "mo")   // nothing new
	h.data(3, Ingress, 3, 4, "resp") // contiguous
	h.data(3, Egress, 15, 100, "")   // sendfile
	h.tr.Handle(&Event{Kind: KindClose, ID: ID{TGID: 1, FD: 3}, EndNs: h.now})
	want := []string{
		"new role=client fresh=false", // "xyz" went by unparsed
		`egress "REQ1x" gap=0 t=120-131`,
		`egress "" gap=2 t=130-131`,
		`egress "" gap=2 t=131-140`,
		`egress "more" gap=0 t=140-141`,
		`egress "mo" gap=0 t=150-151`,
		`ingress "resp" gap=0 t=170-171`,
		`egress "" gap=100 t=180-181`,
		"end 1",
	}
	if d := cmp.Diff(want, h.log); d != "" {
		t.Errorf("parser log (-want +got):\n%s", d)
	}
	st := h.tr.Stats()
	if st.Gaps != 1 || st.GapBytes != 2 || st.Uncaptured != 102 || st.DroppedBytes != 4 || st.ConnsClosed != 1 || h.tr.Conns() != 0 {
		t.Errorf("stats %+v conns %d", st, h.tr.Conns())
	}
	if len(h.recs) != 1 {
		t.Fatalf("records %d", len(h.recs))
	}
	r := h.recs[0].(*api.HTTPEvent)
	if r.LocalAddr != "10.0.0.1" || r.LocalPort != 80 || r.RemoteAddr != "10.0.0.2" || r.RemotePort != 5555 ||
		r.PID != 1 || r.Comm != "c" || r.TraceRole != "client" || r.Time != 120 || r.Latency != 131+5-120 {
		t.Errorf("record %+v", r)
	}
}

func TestTrackerRoleAndMidStream(t *testing.T) {
	h := newT(Options{WallClock: func(m uint64) int64 { return int64(m) * 2 }})
	h.open(3, RoleUnknown)
	h.data(3, Ingress, 1000, 4, "REQx") // unknown role, a request read: server
	h.data(4, Egress, 50, 4, "REQy")    // no open event at all: client
	h.data(5, Egress, 0, 3, "lo!")      // Low: accepted on a first call
	want := []string{"new role=server fresh=false", `ingress "REQx" gap=0 t=110-111`,
		"new role=client fresh=false", `egress "REQy" gap=0 t=120-121`,
		"new role=unknown fresh=false", `egress "lo!" gap=0 t=130-131`}
	if d := cmp.Diff(want, h.log); d != "" {
		t.Errorf("parser log (-want +got):\n%s", d)
	}
	if r := h.recs[0].(*api.HTTPEvent); r.Time != 2*111 || r.TraceRole != "server" {
		t.Errorf("wall clock or role: %+v", r)
	}
	// Low confidence is not enough once a direction has failed a few times.
	h.log = nil
	for i := range lowConfidenceTries {
		h.data(6, Egress, uint64(i), 1, "?")
	}
	h.data(6, Egress, lowConfidenceTries, 2, "lo")
	if len(h.log) != 0 {
		t.Errorf("late Low inference accepted: %v", h.log)
	}
	h.tr.Flush()
	if st := h.tr.Stats(); st.UnknownConns != 1 || h.tr.Conns() != 0 {
		t.Errorf("after flush: %+v conns %d", st, h.tr.Conns())
	}
}

func TestTrackerLimits(t *testing.T) {
	h := newT(Options{MaxConns: 3, IdleTimeout: time.Microsecond})
	for fd := int32(1); fd <= 4; fd++ {
		h.open(fd, RoleClient)
		h.data(fd, Egress, 0, 3, "REQ")
	}
	if st := h.tr.Stats(); st.EvictedConns != 1 || h.tr.Conns() != 3 || h.log[len(h.log)-3] != "end 3" {
		t.Errorf("eviction: %+v conns %d log %v", st, h.tr.Conns(), h.log)
	}
	// fd 1 was the least recently active, so it went; touching fd 2 keeps
	// it over fd 3 next time.
	h.data(2, Egress, 3, 3, "abc")
	h.open(5, RoleClient)
	if _, ok := h.tr.conns[ID{TGID: 1, FD: 2}]; !ok {
		t.Errorf("recently active connection evicted")
	}
	if _, ok := h.tr.conns[ID{TGID: 1, FD: 3}]; ok {
		t.Errorf("least recently active connection kept")
	}
	// Idle: the sweep runs every sweepEvery events.
	h.now += 10_000
	for i := range sweepEvery {
		h.data(5, Egress, uint64(i), 1, "x")
	}
	if st := h.tr.Stats(); st.IdleConns != 2 || h.tr.Conns() != 1 {
		t.Errorf("idle: %+v conns %d", st, h.tr.Conns())
	}
}

func TestTrackerTLSAndUDP(t *testing.T) {
	h := newT(Options{})
	h.open(3, RoleClient)
	h.data(3, Egress, 0, 5, "\x16\x03\x01\x00\x05") // ciphertext
	h.tr.Handle(&Event{Kind: KindData, ID: ID{TGID: 1, FD: 3}, Dir: Egress, Pos: 0, Size: 4, Data: []byte("REQt"), Source: SourceTLS, StartNs: 200, EndNs: 201})
	h.data(3, Egress, 5, 5, "\x17\x03\x03\x00\x05") // ciphertext after TLS plaintext: ignored
	h.tr.Handle(&Event{Kind: KindData, ID: ID{TGID: 1, FD: 3}, Dir: Egress, Pos: 4, Size: 2, Data: []byte("ok"), Source: SourceTLS, StartNs: 300, EndNs: 301})

	peer := netip.MustParseAddrPort("10.0.0.53:53")
	h.tr.Handle(&Event{Kind: KindOpen, ID: ID{TGID: 1, FD: 9}, Transport: TransportUDP, Role: RoleClient, Local: la})
	h.tr.Handle(&Event{Kind: KindData, ID: ID{TGID: 1, FD: 9}, Dir: Egress, Pos: 0, Size: 6, Data: []byte("REQdns"), Peer: peer, StartNs: 400, EndNs: 401})
	h.tr.Handle(&Event{Kind: KindData, ID: ID{TGID: 1, FD: 9}, Dir: Ingress, Pos: 100, Size: 8, Data: []byte("answ"), Peer: peer, StartNs: 500, EndNs: 501})
	want := []string{
		"new role=client fresh=false", `egress "REQt" gap=0 t=200-201`, `egress "ok" gap=0 t=300-301`,
		"new role=client fresh=true", `egress "REQdns" gap=0 t=400-401 dgram peer=10.0.0.53:53`,
		`ingress "answ" gap=4 t=500-501 dgram peer=10.0.0.53:53`,
	}
	if d := cmp.Diff(want, h.log); d != "" {
		t.Errorf("parser log (-want +got):\n%s", d)
	}
}

// TestTrackerNoProtocols: with nothing registered, data is only counted.
func TestTrackerNoProtocols(t *testing.T) {
	tr := NewTracker(Options{}, nil)
	tr.Handle(&Event{Kind: KindData, ID: ID{FD: 1}, Dir: Egress, Size: 3, Data: []byte("GET")})
	tr.Handle(&Event{Kind: KindData, ID: ID{FD: 1}, Dir: 7, Size: 3, Data: []byte("GET")}) // bad direction
	tr.Handle(&Event{Kind: KindClose, ID: ID{FD: 1}})
	tr.Handle(&Event{Kind: KindClose, ID: ID{FD: 2}}) // never seen
	if st := tr.Stats(); st.UnknownConns != 1 || st.ConnsClosed != 1 || st.Events != 4 {
		t.Errorf("stats %+v", st)
	}
}

// TestTrackerOtherPos: the other direction's offset reports its losses at
// once, before this call's bytes.
func TestTrackerOtherPos(t *testing.T) {
	h := newT(Options{})
	h.open(3, RoleClient)
	h.data(3, Egress, 0, 4, "REQa")
	h.tr.Handle(&Event{Kind: KindData, ID: ID{TGID: 1, FD: 3}, Dir: Ingress, Pos: 0, Size: 2, Data: []byte("ok"),
		OtherPos: 10, HasOtherPos: true, StartNs: 200, EndNs: 201})
	h.data(3, Egress, 10, 4, "REQb") // no gap: already reported
	want := []string{
		"new role=client fresh=true", `egress "REQa" gap=0 t=110-111`,
		`egress "" gap=6 t=111-200`, `ingress "ok" gap=0 t=200-201`, `egress "REQb" gap=0 t=120-121`,
	}
	if d := cmp.Diff(want, h.log); d != "" {
		t.Errorf("parser log (-want +got):\n%s", d)
	}
	if st := h.tr.Stats(); st.Gaps != 1 || st.GapBytes != 6 {
		t.Errorf("stats %+v", st)
	}
}

// TestTrackerTail: a cut call's last bytes (Tail) follow the gap of the
// bytes not captured; inference never sees them, and an overlapping call
// drops them.
func TestTrackerTail(t *testing.T) {
	h := newT(Options{})
	h.open(3, RoleClient)
	tail := func(pos uint64, size int, data, tail string) {
		h.tr.Handle(&Event{Kind: KindData, ID: ID{TGID: 1, FD: 3}, Comm: "c", Dir: Egress, Pos: pos, Size: uint32(size),
			Data: []byte(data), Tail: []byte(tail), StartNs: h.now, EndNs: h.now + 1})
		h.now += 10
	}
	tail(0, 10, "xyz", "end") // no parser yet: the tail is part of the gap
	tail(10, 10, "REQ", "end")
	tail(18, 10, "ov", "end") // overlaps by 2: the captured bytes and the tail go
	tail(28, 5, "REQ", "toolong")
	want := []string{
		"new role=client fresh=false",
		`egress "REQ" gap=0 t=120-121`,
		`egress "" gap=4 cut t=120-121`,
		`egress "end" gap=0 t=120-121`,
		`egress "" gap=8 t=130-131`,
		`egress "REQ" gap=0 t=140-141`,
		`egress "" gap=2 t=140-141`,
	}
	if d := cmp.Diff(want, h.log); d != "" {
		t.Errorf("parser log (-want +got):\n%s", d)
	}
}

// TestTrackerPieces: the pieces of a cut call's middle are fed between
// gaps, in order, then the tail; the gaps say they are cut (Chunk.Cut).
// A parked call keeps copies of its tail and pieces, not the tracer's
// buffer.
func TestTrackerPieces(t *testing.T) {
	h := newT(Options{})
	h.open(3, RoleClient)
	buf := []byte("REQ...hdr...PAY...end")
	ev := &Event{Kind: KindData, ID: ID{TGID: 1, FD: 3}, Comm: "c", Dir: Egress, Pos: 0, Size: uint32(len(buf)),
		Data: buf[:3], Tail: buf[18:], Pieces: []Piece{{Off: 6, Data: buf[6:9]}, {Off: 12, Data: buf[12:15]}},
		StartNs: h.now, EndNs: h.now + 1, OtherPos: 0, HasOtherPos: true}
	h.tr.Handle(ev)
	// The same again, parked: its offset says an ingress call came first.
	h.data(3, Ingress, 0, 3, "abc")
	ev.Pos, ev.OtherPos, ev.StartNs, ev.EndNs = 21, 6, h.now, h.now+1
	h.tr.Handle(ev)
	copy(buf, strings.Repeat("#", len(buf))) // the tracer reuses its buffer
	h.data(3, Ingress, 3, 3, "def")
	want := []string{
		"new role=client fresh=true",
		`egress "REQ" gap=0 t=110-111`,
		`egress "" gap=3 cut t=110-111`,
		`egress "hdr" gap=0 t=110-111`,
		`egress "" gap=3 cut t=110-111`,
		`egress "PAY" gap=0 t=110-111`,
		`egress "" gap=3 cut t=110-111`,
		`egress "end" gap=0 t=110-111`,
		`ingress "abc" gap=0 t=110-111`,
		`ingress "def" gap=0 t=120-121`,
		`egress "REQ" gap=0 t=120-121`,
		`egress "" gap=3 cut t=120-121`,
		`egress "hdr" gap=0 t=120-121`,
		`egress "" gap=3 cut t=120-121`,
		`egress "PAY" gap=0 t=120-121`,
		`egress "" gap=3 cut t=120-121`,
		`egress "end" gap=0 t=120-121`,
	}
	if d := cmp.Diff(want, h.log); d != "" {
		t.Errorf("parser log (-want +got):\n%s", d)
	}
}
