package conn

import (
	"net/netip"
	"time"

	"github.com/kubectl-pixie/kubectl-pixie/probes/api"
	"github.com/kubectl-pixie/kubectl-pixie/probes/api/vocab"
)

// Defaults for Options fields left zero.
const (
	DefaultMaxConns         = 4096
	DefaultMaxBufferedBytes = 64 << 10
	DefaultBodyLimit        = api.DefaultBodyLimit
	DefaultIdleTimeout      = 5 * time.Minute
	// DefaultMemoryBudget leaves the probe pod (256 MiB limit) room for
	// the Go heap's headroom, the ring buffer copy and the aggregates.
	DefaultMemoryBudget = 64 << 20

	// connOverhead is what a tracked connection costs besides its
	// buffers and parser state (structs, map entries, address strings).
	connOverhead = 1024

	// inferMaxBytes bounds the bytes kept while a protocol asks for more
	// (a message start split over calls).
	inferMaxBytes = 4096
	// lowConfidenceTries: weak (Low) inferences are accepted only on the
	// first calls of a direction; later only High ones, because the
	// longer a connection runs unrecognised, the likelier it is that a
	// short binary prefix matches by chance.
	lowConfidenceTries = 4
	// reorderWaitNs is how long (in event time) a call waits for the other
	// direction's call its offsets say came first (see park).
	reorderWaitNs = 20_000_000
	// maxParked bounds the calls waiting per connection, and their bytes.
	maxParked      = 8
	maxParkedBytes = 64 << 10
	// sweepEvery is how many events pass between idle sweeps.
	sweepEvery = 256
)

// Options configure a Tracker. Zero fields take the defaults above.
type Options struct {
	// Protocols the Tracker may recognise, in order of preference when
	// two are equally confident. protocols.All() lists every one.
	Protocols []Protocol
	// MaxConns bounds tracked connections; past it the least recently
	// active one is evicted (Stats.EvictedConns).
	MaxConns int
	// MaxBufferedBytes bounds the bytes buffered per connection direction.
	MaxBufferedBytes int
	// BodyLimit is how many body bytes a record keeps (negative: none).
	BodyLimit int
	// Access is what records keep (see api.DataAccess); empty: restricted.
	Access api.DataAccess
	// FullData is the older spelling of Access: full.
	FullData bool
	// NoHeaders: the sink needs no header columns (aggregates only).
	NoHeaders bool
	// MemoryBudget bounds the bytes all connections hold together (their
	// parsers' tables and pending messages, reassembly and reorder
	// buffers); past it the least recently active connections are
	// evicted (Stats.BudgetConns). Per-connection bounds alone times
	// MaxConns exceed a probe pod's memory.
	MemoryBudget int
	// IdleTimeout drops connections without events for that long
	// (monotonic event time); negative disables it.
	IdleTimeout time.Duration
	// Summaries is the protocol whose parser (a Summarizer) takes the
	// exchanges the tracer summarized in the kernel (KindHTTP1 events);
	// nil drops them (Stats.DroppedSummaries).
	Summaries Protocol
	// Wall time = monotonic time + WallOffsetNs, unless WallClock is set.
	WallOffsetNs int64
	WallClock    func(monoNs uint64) int64
}

// Sink receives every parsed record, with its connection columns filled,
// and the protocol that parsed it (which knows how to aggregate it).
// Records are not reused by the Tracker.
type Sink func(p Protocol, rec api.Record)

// Tracker turns socket-tracer events into protocol records. It keeps
// per-connection state in bounded memory, reassembles each direction into
// a stream with gaps, infers the protocol of each connection from its
// first bytes and drives one parser per connection.
//
// A Tracker is not safe for concurrent use: feed it from one goroutine.
// It does not keep Event.Data after Handle returns.
type Tracker struct {
	opts  Options
	sink  Sink
	conns map[ID]*tracked
	root  tracked // sentinel of the LRU list: root.next is the most recent
	last  *tracked
	stats Stats
	now   uint64 // latest monotonic time seen
	tick  uint32
	idle  uint64
	// chunk is reused for every call to a parser: passed by pointer
	// through an interface it would otherwise be allocated each time.
	chunk Chunk
	// parking: connections with parked calls, for the reorder timeout.
	parking []*tracked
	// held: bytes charged to all connections (see charge).
	held int
}

// tracked is one connection's state.
type tracked struct {
	t          *Tracker
	id         ID
	prev, next *tracked

	openRole  Role // from the open event
	fresh     bool // seen from connect/accept: streams start at a message boundary
	opened    bool // the open event was seen: the tracer counts Pos from 0 there
	transport uint8
	local     netip.AddrPort
	remote    netip.AddrPort
	comm      string
	localStr  string // cached address strings for records
	remoteStr string

	source  Source
	dirs    [2]stream
	parser  Parser
	proto   Protocol // the parser's
	env     Env
	hadData bool
	// skipped: bytes went by (lost, or not recognised) before the parser
	// started, so its streams may not start at message boundaries.
	skipped bool
	lastNs  uint64

	// parked: calls of parkedDir held back because the other direction's
	// offset was ahead of what it reported (see park), oldest first.
	parked      []parkedCall
	parkedDir   Dir
	parkedSince uint64
	// held: bytes charged to the Tracker's budget for this connection.
	held int
}

type parkedCall struct {
	e     Event
	bytes int
}

// side is dir's reassembly state.
func (c *tracked) side(dir Dir) *stream { return &c.dirs[dir-1] }

// stream is one direction's reassembly state.
type stream struct {
	known   bool
	next    uint64 // next expected Pos
	lastEnd uint64 // EndNs of the last call
	tries   uint32 // inference attempts that failed
	infer   []byte // a message start split over calls, while a protocol needs more
	inferAt uint64 // StartNs of the first call in infer
	// held: infer holds the first bytes of a fresh connection that no
	// protocol recognised, kept in case they answer a question the other
	// direction has not reported yet (see hold).
	held    bool
	heldEnd uint64 // EndNs of the last call in infer while held
}

// NewTracker returns a Tracker that sends records to sink.
func NewTracker(opts Options, sink Sink) *Tracker {
	if opts.MaxConns <= 0 {
		opts.MaxConns = DefaultMaxConns
	}
	if opts.MaxBufferedBytes <= 0 {
		opts.MaxBufferedBytes = DefaultMaxBufferedBytes
	}
	switch {
	case opts.BodyLimit == 0:
		opts.BodyLimit = DefaultBodyLimit
	case opts.BodyLimit < 0:
		opts.BodyLimit = 0
	}
	if opts.FullData {
		opts.Access = api.DataAccessFull
	}
	if opts.Access == "" {
		opts.Access = api.DataAccessRestricted
	}
	if opts.IdleTimeout == 0 {
		opts.IdleTimeout = DefaultIdleTimeout
	}
	if opts.MemoryBudget <= 0 {
		opts.MemoryBudget = DefaultMemoryBudget
	}
	if sink == nil {
		sink = func(Protocol, api.Record) {}
	}
	t := &Tracker{opts: opts, sink: sink, conns: make(map[ID]*tracked)}
	t.root.next, t.root.prev = &t.root, &t.root
	if opts.IdleTimeout > 0 {
		t.idle = uint64(opts.IdleTimeout)
	}
	return t
}

// Stats returns a copy of the counters.
func (t *Tracker) Stats() Stats { return t.stats }

// Conns returns how many connections are tracked.
func (t *Tracker) Conns() int { return len(t.conns) }

// Protocol returns the name of the protocol recognised on connection id
// and the role it implies; "" and RoleUnknown when there is none (yet), or
// the connection is not tracked.
func (t *Tracker) Protocol(id ID) (string, Role) {
	c := t.conns[id]
	if c == nil || c.proto == nil {
		return "", RoleUnknown
	}
	return c.proto.Name(), c.env.Role
}

// HeldBytes returns the bytes charged to the memory budget.
func (t *Tracker) HeldBytes() int { return t.held }

// Wall converts a monotonic timestamp to ns since the Unix epoch.
func (t *Tracker) Wall(monoNs uint64) int64 {
	if t.opts.WallClock != nil {
		return t.opts.WallClock(monoNs)
	}
	return int64(monoNs) + t.opts.WallOffsetNs
}

// Handle processes one event.
func (t *Tracker) Handle(e *Event) {
	t.stats.Events++
	if e.EndNs > t.now {
		t.now = e.EndNs
	}
	switch e.Kind {
	case KindOpen:
		c := t.lookup(e.ID)
		if c == nil {
			c = t.create(e)
		}
		if e.Role != RoleUnknown {
			c.openRole = e.Role
			c.fresh = !c.hadData
		}
		c.opened = c.opened || !c.hadData
		for i := range c.dirs {
			if !c.dirs[i].known {
				c.dirs[i].lastEnd = e.EndNs // bytes lost before the first call came after this
			}
		}
		c.setMeta(e)
		t.touch(c, e.EndNs)
		t.charge(c)
	case KindData:
		t.stats.DataEvents++
		c := t.lookup(e.ID)
		if c == nil {
			c = t.create(e)
			c.setMeta(e)
		} else if e.Comm != "" {
			c.comm = e.Comm
		}
		t.touch(c, e.EndNs)
		t.data(c, e)
		t.charge(c)
	case KindHTTP1, KindHTTP1Handoff:
		c := t.lookup(e.ID)
		if c == nil {
			c = t.create(e)
			c.setMeta(e)
		}
		t.touch(c, e.EndNs)
		t.summary(c, e)
		t.charge(c)
	case KindClose:
		if c := t.lookup(e.ID); c != nil {
			t.stats.ConnsClosed++
			t.remove(c, e.EndNs, EndClose)
		}
	}
	if t.idle > 0 {
		t.tick++
		if t.tick%sweepEvery == 0 {
			t.sweep()
		}
	}
	if len(t.parking) > 0 {
		t.expireParked()
	}
}

// Flush ends every connection (tracing stopped): parsers count what is
// left unmatched. The Tracker is empty afterwards and may be reused.
func (t *Tracker) Flush() {
	for t.root.prev != &t.root {
		t.remove(t.root.prev, t.now, EndFlush)
	}
}

func (t *Tracker) lookup(id ID) *tracked {
	if c := t.last; c != nil && c.id == id {
		return c
	}
	c := t.conns[id]
	if c != nil {
		t.last = c
	}
	return c
}

func (t *Tracker) create(e *Event) *tracked {
	for len(t.conns) >= t.opts.MaxConns && t.root.prev != &t.root {
		t.stats.EvictedConns++
		t.remove(t.root.prev, t.now, EndEvict)
	}
	c := &tracked{t: t, id: e.ID}
	c.env = Env{
		BodyLimit:        t.opts.BodyLimit,
		Access:           t.opts.Access,
		FullData:         t.opts.Access == api.DataAccessFull,
		NoHeaders:        t.opts.NoHeaders,
		MaxBufferedBytes: t.opts.MaxBufferedBytes,
		Stats:            &t.stats,
		Out:              c,
	}
	t.conns[e.ID] = c
	t.stats.ConnsOpened++
	c.prev, c.next = &t.root, t.root.next
	t.root.next.prev = c
	t.root.next = c
	t.last = c
	return c
}

// touch marks c as the most recently active connection.
func (t *Tracker) touch(c *tracked, ns uint64) {
	if ns > c.lastNs {
		c.lastNs = ns
	}
	if t.root.next == c {
		return
	}
	c.prev.next, c.next.prev = c.next, c.prev
	c.prev, c.next = &t.root, t.root.next
	t.root.next.prev = c
	t.root.next = c
}

func (t *Tracker) remove(c *tracked, ns uint64, why EndReason) {
	t.releaseParked(c, true)
	if c.parser != nil {
		c.parser.End(ns, why)
		c.parser = nil
	} else if c.hadData {
		t.stats.UnknownConns++
	}
	c.prev.next, c.next.prev = c.next, c.prev
	c.prev, c.next = nil, nil
	t.held -= c.held
	c.held = 0
	delete(t.conns, c.id)
	if t.last == c {
		t.last = nil
	}
}

// charge updates what c holds and evicts the least recently active other
// connections while all of them together exceed the budget. c itself is
// kept: its parser's own bounds cap it far below the budget.
func (t *Tracker) charge(c *tracked) {
	n := connOverhead + cap(c.dirs[0].infer) + cap(c.dirs[1].infer)
	for _, p := range c.parked {
		n += p.bytes
	}
	if s, ok := c.parser.(Sizer); ok {
		n += s.HeldBytes()
	}
	t.held += n - c.held
	c.held = n
	for t.held > t.opts.MemoryBudget && t.root.prev != c && t.root.prev != &t.root {
		t.stats.BudgetConns++
		t.remove(t.root.prev, t.now, EndEvict)
	}
}

// sweep drops connections idle for longer than IdleTimeout, oldest first.
func (t *Tracker) sweep() {
	for c := t.root.prev; c != &t.root && t.now > c.lastNs && t.now-c.lastNs > t.idle; c = t.root.prev {
		t.stats.IdleConns++
		t.remove(c, t.now, EndEvict)
	}
}

func (c *tracked) setMeta(e *Event) {
	if e.Transport != 0 {
		c.transport = e.Transport
	}
	if e.Comm != "" {
		c.comm = e.Comm
	}
	if e.Local.IsValid() && e.Local != c.local {
		c.local, c.localStr = e.Local, ""
	}
	if e.Remote.IsValid() && e.Remote != c.remote {
		c.remote, c.remoteStr = e.Remote, ""
	}
}

func (t *Tracker) data(c *tracked, e *Event) {
	if e.Dir != Egress && e.Dir != Ingress {
		return
	}
	if e.Source != c.source || c.transport == TransportUDP || e.Size == 0 {
		t.releaseParked(c, true)
		t.dataNow(c, e)
		return
	}
	if len(c.parked) > 0 {
		if e.Dir == c.parkedDir {
			if t.park(c, e) {
				return // behind the calls already waiting
			}
			t.releaseParked(c, true)
		} else {
			// Calls waiting for bytes this call starts at or after: those
			// bytes are seen or lost now, so the waiting calls come first.
			for len(c.parked) > 0 && e.Pos >= c.parked[0].e.OtherPos {
				t.releaseOne(c)
			}
		}
	} else if t.lags(c, e) && t.park(c, e) {
		return
	}
	if len(c.parked) > 0 && e.Dir != c.parkedDir {
		// Its offset for the parked direction counts the parked calls:
		// they are not lost, and their own offsets will show what is.
		ev := *e
		ev.HasOtherPos = false
		t.dataNow(c, &ev)
		t.releaseParked(c, false)
		return
	}
	t.dataNow(c, e)
}

// summary feeds an exchange the tracer summarized in the kernel to the
// Summaries protocol's parser, started for a connection seen from its
// open (the kernel summarizes no other), and moves both streams to the
// offsets it names: the calls it stands for were not reported.
func (t *Tracker) summary(c *tracked, e *Event) {
	s := e.HTTP1
	if s == nil || t.opts.Summaries == nil || c.source != SourceSocket {
		t.stats.DroppedSummaries++
		return
	}
	t.releaseParked(c, true)
	if c.parser == nil {
		c.fresh, c.skipped = true, false
		c.startParser(t.opts.Summaries, Inference{Role: e.Role})
	}
	sp, ok := c.parser.(Summarizer)
	if !ok || c.proto != t.opts.Summaries {
		t.stats.DroppedSummaries++
		return
	}
	c.hadData = true
	for i := range c.dirs {
		d := &c.dirs[i]
		d.known, d.next, d.lastEnd = true, s.Pos[i], e.EndNs
		d.infer, d.held = nil, false
	}
	t.stats.Summaries++
	sp.Summary(s)
}

// lags: e says the other direction has moved past what it reported. The
// bytes may be lost, or in a call not reported yet: events arrive in the
// order calls end, and a reader can return from read() with the answer
// before the writer returns from write() with the question. Feeding e now
// would declare the question lost and drop it when it arrives.
func (t *Tracker) lags(c *tracked, e *Event) bool {
	if !e.HasOtherPos {
		return false
	}
	o := c.side(e.Dir.Other())
	return o.known && e.OtherPos > o.next
}

// park holds e back (its data copied) until the other direction catches
// up, reorderWaitNs pass, or the bounds are reached (then it returns false).
func (t *Tracker) park(c *tracked, e *Event) bool {
	n := len(e.Data)
	total := n
	for _, p := range c.parked {
		total += p.bytes
	}
	if len(c.parked) >= maxParked || total > maxParkedBytes {
		return false
	}
	if len(c.parked) == 0 {
		c.parkedDir, c.parkedSince = e.Dir, t.now
		t.parking = append(t.parking, c)
	}
	p := parkedCall{e: *e, bytes: n}
	// The event's bytes are the ring buffer's: copy them.
	p.e.Data = append([]byte(nil), e.Data...)
	if len(e.Tail) > 0 {
		p.e.Tail = append([]byte(nil), e.Tail...)
		p.bytes += len(e.Tail)
	}
	if len(e.Pieces) > 0 {
		p.e.Pieces = make([]Piece, len(e.Pieces))
		for i, pc := range e.Pieces {
			p.e.Pieces[i] = Piece{Off: pc.Off, Data: append([]byte(nil), pc.Data...)}
			p.bytes += len(pc.Data)
		}
	}
	c.parked = append(c.parked, p)
	return true
}

// releaseParked feeds the parked calls whose wait is over: all of them
// with force (the lagging bytes are declared lost), else those the other
// direction has caught up with.
func (t *Tracker) releaseParked(c *tracked, force bool) {
	for len(c.parked) > 0 {
		if !force && c.parked[0].e.OtherPos > c.side(c.parkedDir.Other()).next {
			return
		}
		t.releaseOne(c)
	}
}

func (t *Tracker) releaseOne(c *tracked) {
	p := c.parked[0]
	c.parked[0] = parkedCall{}
	c.parked = c.parked[1:]
	if len(c.parked) == 0 {
		c.parked = nil
		for i, pc := range t.parking {
			if pc == c {
				t.parking = append(t.parking[:i], t.parking[i+1:]...)
				break
			}
		}
	}
	t.dataNow(c, &p.e)
}

// expireParked releases, gaps declared, the calls that waited too long.
func (t *Tracker) expireParked() {
	for i := 0; i < len(t.parking); {
		c := t.parking[i]
		if t.now-c.parkedSince > reorderWaitNs {
			t.releaseParked(c, true) // removes c from t.parking
			continue
		}
		i++
	}
}

func (t *Tracker) dataNow(c *tracked, e *Event) {
	if e.Source != c.source {
		if e.Source < c.source {
			return // ciphertext of a connection read through TLS uprobes
		}
		t.switchSource(c, e.Source)
	}
	c.hadData = true
	data := e.Data
	size := uint64(e.Size)
	if uint64(len(data)) > size {
		data = data[:size]
	}
	if c.transport == TransportUDP {
		t.datagram(c, e, data, size)
		return
	}

	if size == 0 {
		if c.parser != nil {
			ch := &t.chunk
			*ch = Chunk{Dir: e.Dir, EOF: true, StartNs: e.StartNs, EndNs: e.EndNs}
			c.parser.Feed(ch)
		}
		return
	}
	if e.HasOtherPos {
		t.otherPos(c, e)
	}
	d := &c.dirs[e.Dir-1]
	if !d.known {
		d.known = true
		d.next = e.Pos
		if c.opened {
			d.next = 0 // events lost between the open and this one
		}
		if d.lastEnd == 0 {
			d.lastEnd = e.StartNs
		}
	}
	switch {
	case e.Pos > d.next:
		gap := e.Pos - d.next
		t.stats.Gaps++
		t.stats.GapBytes += gap
		t.gap(c, e.Dir, gap, d.lastEnd, e.StartNs, false)
	case e.Pos < d.next:
		// Overlap with what was already seen: keep only the new tail.
		over := d.next - e.Pos
		if over >= size {
			t.stats.DroppedBytes += uint64(len(data))
			return
		}
		if over >= uint64(len(data)) {
			t.stats.DroppedBytes += uint64(len(data))
			data = nil
		} else {
			t.stats.DroppedBytes += over
			data = data[over:]
		}
		size -= over
	}
	d.next = e.Pos + uint64(e.Size)
	if len(data) > 0 {
		t.bytes(c, e, data)
	}
	t.uncaptured(c, e, size, len(data), size == uint64(e.Size))
	d.lastEnd = e.EndNs
}

// uncaptured feeds the part of a call past its n captured bytes: gaps,
// with the pieces of the middle between them, then the call's last bytes
// (Tail), when a parser takes them (they never start a message, so
// inference must not see them) and the call was not cut by an overlap
// (whole).
func (t *Tracker) uncaptured(c *tracked, e *Event, size uint64, n int, whole bool) {
	tail, pieces := e.Tail, e.Pieces
	if c.parser == nil || !whole || uint64(n+len(tail)) > size {
		tail, pieces = nil, nil
	}
	end := size - uint64(len(tail))
	at := uint64(n)
	for _, p := range pieces {
		off := uint64(p.Off)
		if off < at || off+uint64(len(p.Data)) > end || len(p.Data) == 0 {
			break // the tracer checks this; a bad piece ends the pieces
		}
		t.miss(c, e, off-at, true)
		t.bytes(c, e, p.Data)
		at = off + uint64(len(p.Data))
	}
	t.miss(c, e, end-at, len(tail) > 0)
	if len(tail) > 0 {
		t.bytes(c, e, tail)
	}
}

// miss feeds n bytes of e's call not captured; cut: other bytes of the
// call come after them (Chunk.Cut).
func (t *Tracker) miss(c *tracked, e *Event, n uint64, cut bool) {
	if n > 0 {
		t.stats.Uncaptured += n
		t.gap(c, e.Dir, n, e.StartNs, e.EndNs, cut)
	}
}

// otherPos reports bytes lost in the other direction, known from the
// other direction's offset carried by this event.
func (t *Tracker) otherPos(c *tracked, e *Event) {
	dir := e.Dir.Other()
	o := c.side(dir)
	if !o.known {
		if !c.opened {
			return // no baseline: the other direction's first call sets it
		}
		if c.parser == nil && c.fresh {
			// Nothing seen that way yet on a fresh connection: its first
			// call is more likely still to come (events arrive in the
			// order calls end) than lost. Its own Pos will tell.
			return
		}
		o.known = true
	}
	if e.OtherPos > o.next {
		gap := e.OtherPos - o.next
		t.stats.Gaps++
		t.stats.GapBytes += gap
		t.gap(c, dir, gap, o.lastEnd, e.StartNs, false)
		o.next = e.OtherPos
		o.lastEnd = e.StartNs
	}
}

func (t *Tracker) switchSource(c *tracked, s Source) {
	if c.parser != nil {
		c.parser.End(t.now, EndEvict)
		c.parser = nil
	}
	c.source = s
	c.dirs = [2]stream{}
	c.fresh, c.skipped, c.opened = false, false, false
}

// gap feeds n bytes not seen; cut: they are the middle of one call whose
// last bytes come next (Chunk.Cut).
func (t *Tracker) gap(c *tracked, dir Dir, n, startNs, endNs uint64, cut bool) {
	if c.parser != nil {
		ch := &t.chunk
		*ch = Chunk{Dir: dir, Gap: n, Cut: cut, StartNs: startNs, EndNs: endNs}
		c.parser.Feed(ch)
		return
	}
	d := &c.dirs[dir-1]
	d.infer = d.infer[:0]
	c.skipped = true
}

func (t *Tracker) bytes(c *tracked, e *Event, data []byte) {
	ch := &t.chunk
	*ch = Chunk{Dir: e.Dir, Data: data, StartNs: e.StartNs, EndNs: e.EndNs}
	if c.parser != nil {
		c.parser.Feed(ch)
		return
	}
	d := &c.dirs[e.Dir-1]
	if len(d.infer) > 0 {
		if len(d.infer)+len(data) > inferMaxBytes {
			d.infer = d.infer[:0]
			c.skipped = true
		} else {
			d.infer = append(d.infer, data...)
			ch.Data, ch.StartNs = d.infer, d.inferAt
		}
	}
	p, inf := t.infer(c, ch.Data, e.Dir)
	switch {
	case p != nil:
		if o := c.side(e.Dir.Other()); o.held && o.heldEnd < e.StartNs {
			// Held bytes that ended before this question began cannot
			// answer it: unrecognised bytes went by, as before holding.
			o.infer, o.held = o.infer[:0], false
			c.skipped = true
		}
		c.startParser(p, inf)
		c.parser.Feed(ch)
		t.replayOther(c, e.Dir)
		c.dirs[0].infer, c.dirs[1].infer = nil, nil // inference is over
		c.dirs[0].held, c.dirs[1].held = false, false
	case inf.Conf == NeedMore && len(ch.Data) < inferMaxBytes:
		if len(d.infer) == 0 {
			d.infer = append(d.infer, data...)
			d.inferAt = e.StartNs
		}
	case t.holdable(c, e.Dir):
		if len(d.infer) == 0 {
			d.infer = append(d.infer, data...)
			d.inferAt = e.StartNs
		}
		d.held, d.heldEnd = true, e.EndNs
	default:
		d.infer = d.infer[:0]
		d.held = false
		d.tries++
		c.skipped = true
	}
}

// holdable: the first bytes of a connection seen from its open, in one
// direction, before anything in the other, and no protocol takes them.
// They may be the answer to a question whose call has not been reported
// yet: a client's reader thread can return from read() before its writer
// returns from write(), and events arrive in the order calls end. So they
// wait (bounded by inferMaxBytes) for the other direction to start a
// parser, instead of being dropped with the first exchange.
func (t *Tracker) holdable(c *tracked, dir Dir) bool {
	other := c.side(dir.Other())
	return c.parser == nil && c.fresh && c.dirs[dir-1].tries == 0 && !other.known
}

// replayOther hands a new parser what the other direction buffered before
// it started: a message start split over calls, or held first bytes that
// may answer the question that started it.
func (t *Tracker) replayOther(c *tracked, dir Dir) {
	od := dir.Other()
	o := c.side(od)
	if len(o.infer) == 0 {
		return
	}
	end := o.lastEnd
	if o.held {
		end = o.heldEnd
	}
	ch := &t.chunk
	*ch = Chunk{Dir: od, Data: o.infer, StartNs: o.inferAt, EndNs: end}
	c.parser.Feed(ch)
}

// infer asks every protocol and returns the most confident acceptable one.
func (t *Tracker) infer(c *tracked, data []byte, dir Dir) (Protocol, Inference) {
	var best Protocol
	var bestInf Inference
	for _, p := range t.opts.Protocols {
		inf := p.Infer(data, dir, c.transport)
		if inf.Conf > bestInf.Conf {
			best, bestInf = p, inf
		}
	}
	if bestInf.Conf == High || (bestInf.Conf == Low && c.dirs[dir-1].tries < lowConfidenceTries) {
		return best, bestInf
	}
	return nil, bestInf
}

func (c *tracked) startParser(p Protocol, inf Inference) {
	// What the data says wins over the open event: a process that
	// connected out may still serve (reverse tunnels).
	role := inf.Role
	if role == RoleUnknown {
		role = c.openRole
	}
	c.env.Role = role
	c.env.Transport = c.transport
	c.env.Fresh = c.fresh && !c.skipped
	c.parser, c.proto = p.NewParser(&c.env), p
}

// datagram feeds one UDP datagram: no stream, no gaps between calls.
func (t *Tracker) datagram(c *tracked, e *Event, data []byte, size uint64) {
	if c.parser == nil {
		p, inf := t.infer(c, data, e.Dir)
		if p == nil {
			c.dirs[e.Dir-1].tries++
			return
		}
		c.startParser(p, inf)
	}
	peer := e.Peer
	if !peer.IsValid() {
		peer = c.remote
	}
	miss := size - uint64(len(data))
	t.stats.Uncaptured += miss
	ch := &t.chunk
	*ch = Chunk{Dir: e.Dir, Data: data, Gap: miss, StartNs: e.StartNs, EndNs: e.EndNs, Datagram: true, Peer: peer}
	c.parser.Feed(ch)
}

// Emit implements Emitter: it fills the connection columns and passes the
// record to the sink. A remote address the parser set (a UDP datagram's
// peer) is kept.
func (c *tracked) Emit(rec api.Record, startNs, endNs uint64) {
	r := rec.Conn()
	r.Time = c.t.Wall(startNs)
	r.PID = c.id.TGID
	r.Comm = c.comm
	r.LocalAddr, r.LocalPort = c.localAddr(), c.local.Port()
	if r.RemoteAddr == "" {
		r.RemoteAddr, r.RemotePort = c.remoteAddr(), c.remote.Port()
	}
	r.TraceRole = roleName(c.env.Role)
	if endNs > startNs {
		r.Latency = int64(endNs - startNs)
	}
	c.t.stats.Records++
	c.t.sink(c.proto, rec)
}

func (c *tracked) localAddr() string {
	if c.localStr == "" && c.local.IsValid() {
		c.localStr = c.local.Addr().Unmap().String()
	}
	return c.localStr
}

func (c *tracked) remoteAddr() string {
	if c.remoteStr == "" && c.remote.IsValid() {
		c.remoteStr = c.remote.Addr().Unmap().String()
	}
	return c.remoteStr
}

func roleName(r Role) string {
	switch r {
	case RoleClient:
		return vocab.RoleClient
	case RoleServer:
		return vocab.RoleServer
	}
	return "unknown"
}
