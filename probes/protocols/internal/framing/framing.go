// Package framing splits one direction of a length-prefixed stream (MySQL
// packets, PostgreSQL messages, AMQP frames, Kafka messages) into
// messages, with one set of rules for loss shared by those protocols:
//
//   - A message's first bytes (up to what its header says to keep) are
//     kept; the rest of its body is skipped, so it may be lost.
//   - Bytes lost inside a body are skipped (the message still comes, Cut)
//     when they lie past the kept prefix or end the body (a capture
//     shorter than the call). A hole in the prefix with more of it to
//     come would leave its fields at wrong offsets: like bytes lost
//     anywhere else (a header, between messages, a required end byte),
//     it loses the framing: one resync is counted, the protocol is
//     told (Lost) and the stream waits for a call the protocol accepts
//     as a message start (Resync); bytes of the calls it refuses are
//     counted as dropped.
//   - A header the protocol refuses is a parse error, then handled as a
//     loss.
package framing

import (
	"github.com/kubectl-pixie/kubectl-pixie/probes/conn"
)

// maxHeader bounds the headers Rules may ask for.
const maxHeader = 16

// Head is what a header says of its message.
type Head struct {
	// Len is the header's length: more than the bytes given to Rules.Head
	// means read on and ask again.
	Len int
	// Size is the body's length, after the header.
	Size int
	// Keep is how many of the body's first bytes to keep (at most Size).
	Keep int
	// End must follow the body (AMQP's frame end); a mismatch breaks the
	// framing.
	End []byte
}

// Message is one whole message.
type Message struct {
	Start  uint64 // arrival of its first byte
	Header []byte
	Size   int    // body length
	Body   []byte // its first bytes, up to Keep or the first lost byte
	Cut    bool   // Body is not the whole body
}

// Rules are one protocol's, for a connection.
type Rules interface {
	// Head reads a header of direction dir from its first bytes (one or
	// more, as many as its last answer's Len); ok false: not a header of
	// this protocol.
	Head(dir conn.Dir, hdr []byte) (h Head, ok bool)
	// Message takes a whole message that ended in call c. Its slices are
	// valid only during the call. false stops reading c: the parser gave
	// up the connection.
	Message(m *Message, c *conn.Chunk) bool
	// Resync tells whether a stream that lost its framing (or was first
	// seen mid-connection) can start at call c.
	Resync(c *conn.Chunk) bool
	// Lost says dir's framing was lost: bytes missing outside a body, or
	// broken (a header refused, a wrong end byte). The Framer has already
	// counted the resync and waits for Resync.
	Lost(dir conn.Dir, broken bool)
}

// Framer is one direction's reassembly state.
type Framer struct {
	stats  *conn.Stats
	dir    conn.Dir
	synced bool
	hdr    [maxHeader]byte
	n      int // header bytes read
	head   Head
	inBody bool
	got    int // body and end bytes read or skipped
	body   []byte
	cut    bool
	start  uint64
}

// New returns a Framer of direction dir counting in stats; synced: the
// stream is seen from its start.
func New(stats *conn.Stats, dir conn.Dir, synced bool) Framer {
	return Framer{stats: stats, dir: dir, synced: synced}
}

// Duplex frames both directions of a connection by the same Rules.
type Duplex struct {
	dirs  [2]Framer
	rules Rules
}

// NewDuplex returns the framers of a connection seen from its start
// (synced) or not.
func NewDuplex(stats *conn.Stats, synced bool, r Rules) Duplex {
	return Duplex{dirs: [2]Framer{New(stats, conn.Egress, synced), New(stats, conn.Ingress, synced)}, rules: r}
}

// Feed hands c to its direction's Framer (see Framer.Feed).
func (d *Duplex) Feed(c *conn.Chunk) (taken bool) {
	if c.Dir != conn.Egress && c.Dir != conn.Ingress {
		return false
	}
	return d.dirs[c.Dir-1].Feed(c, d.rules)
}

// Dir is the Framer of direction dir (Egress or Ingress).
func (d *Duplex) Dir(dir conn.Dir) *Framer { return &d.dirs[dir-1] }

// Synced tells whether the framing is known.
func (f *Framer) Synced() bool { return f.synced }

// Reset forgets the message being read and the framing.
func (f *Framer) Reset() {
	*f = Framer{stats: f.stats, dir: f.dir, body: f.body[:0]}
}

// Sync forgets the message being read and takes the next call as the
// start of a message (for Rules.Resync that found the end of one in a call
// it refuses).
func (f *Framer) Sync() {
	f.Reset()
	f.synced = true
}

// Feed reads call c (data, gap or end); taken is false when c was dropped
// waiting for a message start, or was an end or a gap.
func (f *Framer) Feed(c *conn.Chunk, r Rules) (taken bool) {
	if c.EOF {
		return false
	}
	if c.Gap > 0 {
		f.gap(c, r)
		return false
	}
	if !f.synced {
		if !r.Resync(c) {
			f.stats.DroppedBytes += uint64(len(c.Data))
			return false
		}
		f.Sync()
	}
	data := c.Data
	for len(data) > 0 && f.synced {
		var ok bool
		if !f.inBody {
			data, ok = f.header(data, c, r)
		} else {
			data, ok = f.read(data, c, r)
		}
		if !ok {
			return true
		}
	}
	return true
}

// gap skips bytes lost inside a body; anywhere else they lose the framing.
func (f *Framer) gap(c *conn.Chunk, r Rules) {
	if !f.synced {
		return
	}
	end := uint64(f.got) + c.Gap
	if !f.inBody || end > uint64(f.head.Size) || len(f.body) < f.head.Keep && end < uint64(f.head.Size) {
		f.lose(r, false)
		return
	}
	f.got += int(c.Gap)
	f.cut = true
	if f.got == f.head.Size && len(f.head.End) == 0 {
		f.deliver(c, r)
	}
}

// header reads header bytes, asking r how many it needs.
func (f *Framer) header(data []byte, c *conn.Chunk, r Rules) ([]byte, bool) {
	if f.n == 0 {
		f.start = c.WireNs()
	}
	want := max(f.head.Len, f.n+1)
	k := copy(f.hdr[f.n:want], data)
	f.n += k
	data = data[k:]
	if f.n < want {
		return data, true
	}
	h, ok := r.Head(f.dir, f.hdr[:f.n])
	if !ok || h.Len > maxHeader || h.Len < f.n || h.Size < 0 {
		f.stats.ParseErrors++
		f.lose(r, true)
		return nil, false
	}
	f.head = h
	if h.Len > f.n {
		return data, true
	}
	f.head.Keep = max(min(h.Keep, h.Size), 0)
	f.inBody, f.got, f.body, f.cut = true, 0, f.body[:0], f.head.Keep < h.Size
	if h.Size == 0 && len(h.End) == 0 {
		return data, f.deliver(c, r)
	}
	return data, true
}

// read reads body bytes (keeping the prefix) and the end bytes.
func (f *Framer) read(data []byte, c *conn.Chunk, r Rules) ([]byte, bool) {
	if f.got < f.head.Size {
		n := min(f.head.Size-f.got, len(data))
		k := max(min(f.head.Keep-len(f.body), n), 0)
		f.body = append(f.body, data[:k]...)
		f.got += n
		data = data[n:]
	} else {
		i := f.got - f.head.Size
		if data[0] != f.head.End[i] {
			f.stats.ParseErrors++
			f.lose(r, true)
			return nil, false
		}
		f.got++
		data = data[1:]
	}
	if f.got == f.head.Size+len(f.head.End) {
		return data, f.deliver(c, r)
	}
	return data, true
}

// deliver hands the whole message to r and starts the next one.
func (f *Framer) deliver(c *conn.Chunk, r Rules) bool {
	m := Message{Start: f.start, Header: f.hdr[:f.n], Size: f.head.Size, Body: f.body, Cut: f.cut}
	f.n, f.head, f.inBody, f.got, f.cut = 0, Head{}, false, 0, false
	more := r.Message(&m, c)
	f.body = f.body[:0]
	return more
}

func (f *Framer) lose(r Rules, broken bool) {
	f.stats.Resyncs++
	f.Reset()
	r.Lost(f.dir, broken)
}
