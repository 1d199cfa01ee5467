package conn

import (
	"net/netip"

	"github.com/kubectl-pixie/kubectl-pixie/probes/api"
)

// Confidence is how sure a protocol is that bytes belong to it.
type Confidence uint8

const (
	NoMatch  Confidence = 0 // not this protocol
	NeedMore Confidence = 1 // a valid prefix; decide with more bytes
	Low      Confidence = 2 // plausible (e.g. a short binary header)
	High     Confidence = 3 // unambiguous (e.g. an HTTP request line)
)

// Inference is a protocol's verdict on the first bytes of a message.
type Inference struct {
	Conf Confidence
	// Role of the traced process implied by seeing this message in that
	// direction (a request sent means client), or RoleUnknown.
	Role Role
}

// Protocol is one application protocol the Tracker can recognise. Register
// it in Options.Protocols; the Tracker asks each protocol to Infer from the
// first bytes of a direction (never from ports) and builds one Parser per
// connection for the winner.
type Protocol interface {
	Name() string
	// Infer looks at the bytes at the start of a call (data is the captured
	// prefix, possibly short). It must be cheap: it runs on every call of
	// connections whose protocol is not yet known.
	Infer(data []byte, dir Dir, transport uint8) Inference
	NewParser(env *Env) Parser
}

// Env is what a Parser gets from the Tracker. It stays valid for the life
// of the parser.
type Env struct {
	// Role of the traced process (resolved from the open event or inferred).
	Role      Role
	Transport uint8
	// Fresh: the connection was seen from its connect/accept, so both
	// streams start at a message boundary. Otherwise parsers must
	// resynchronise and never take the first bytes for a message start.
	Fresh bool
	// BodyLimit is how many body bytes a record keeps (0: none).
	BodyLimit int
	// Access is what records keep (read it with Mode); FullData is the
	// older spelling of full.
	Access   api.DataAccess
	FullData bool
	// NoHeaders: records need no header columns (only aggregates are
	// sent), so parsers may skip building them.
	NoHeaders bool
	// MaxBufferedBytes bounds what a parser may buffer per direction (for
	// instance an incomplete header block); past it the parser drops the
	// bytes, counts them in Stats.DroppedBytes and resynchronises.
	MaxBufferedBytes int
	// Stats is shared by all parsers of a Tracker (single goroutine).
	Stats *Stats
	// Out receives the parser's records.
	Out Emitter
}

// Mode is the data-access mode records follow: restricted unless set.
func (e *Env) Mode() api.DataAccess {
	switch {
	case e.FullData:
		return api.DataAccessFull
	case e.Access == "":
		return api.DataAccessRestricted
	}
	return e.Access
}

// Emitter takes a parsed record. startNs is the monotonic time of the
// request's first byte and endNs of the response's last byte; the Tracker
// fills the connection columns (pid, comm, addresses, role, time, latency).
type Emitter interface {
	Emit(rec api.Record, startNs, endNs uint64)
}

// Chunk is a piece of one direction's stream handed to a Parser: either
// captured bytes (Data) or a run of Gap bytes known to exist but not seen
// (lost events, capture truncation, sendfile).
type Chunk struct {
	Dir  Dir
	Data []byte // valid only during the call
	Gap  uint64 // when non-zero, Data is empty
	// Cut marks a Gap that is the middle of one call longer than the
	// capture: the call's last bytes (Event.Tail) come next, so a parser
	// may find there where a message ends.
	Cut bool
	// StartNs and EndNs are the monotonic times of the call that moved the
	// bytes. For lost events, StartNs is the end of the last call seen and
	// EndNs the start of the next one.
	StartNs, EndNs uint64
	// Datagram marks one whole message (UDP): parsers of datagram protocols
	// get one Chunk per datagram, Peer is its address (or the connection's
	// remote address), and Gap tells how many bytes were not captured.
	Datagram bool
	Peer     netip.AddrPort
	// EOF: the direction's stream ended (a read returned 0); no Data.
	EOF bool
}

// WireNs is a moment the chunk's bytes were surely in flight, used both
// where a message starts and where it ends: the start of a write, or the
// return of a read. A blocking read may start long before data arrives, and
// a write may return after the peer already read the bytes (on loopback the
// writer can be descheduled inside write(2)), so neither of those bounds a
// latency without inflating it.
func (c *Chunk) WireNs() uint64 {
	if c.Dir == Ingress {
		return c.EndNs
	}
	return c.StartNs
}

// EndReason says why a parser is ended.
type EndReason uint8

const (
	EndClose EndReason = 1 // the connection was closed: EOF in both directions
	EndFlush EndReason = 2 // tracing stopped
	EndEvict EndReason = 3 // the Tracker dropped the connection (limits, idle)
)

// Sizer is implemented by parsers that hold memory beyond a few fixed
// fields (decoder tables, pending messages, kept bodies). HeldBytes says
// how much they hold now and must be cheap (a running count): the Tracker
// asks after every call it feeds and charges it to the connection against
// Options.MemoryBudget, the one budget all connections share.
type Sizer interface {
	HeldBytes() int
}

// Parser turns one connection's chunks into records. Chunks of both
// directions arrive in the order of the calls. A parser must never panic
// and must bound its memory (Env.MaxBufferedBytes, BodyLimit).
type Parser interface {
	Feed(c *Chunk)
	// End is the last call: finish messages delimited by EOF (EndClose)
	// and count what is left unmatched.
	End(endNs uint64, why EndReason)
}

// Summarizer is a Parser that also takes exchanges the tracer summarized
// in the kernel (Options.Summaries). After a summary both streams stand at
// a message start; after a hand-off (Handoff), at the positions it names,
// with the exchange in progress resumed from it.
type Summarizer interface {
	Summary(s *HTTP1Summary)
}
