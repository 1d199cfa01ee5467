// Package conn holds what the socket tracer reports about connections, and
// the per-connection tracking that turns those reports into byte streams
// for the protocol parsers. It is pure Go, so it builds and tests anywhere.
package conn

import "net/netip"

// ID names one connection of one process. File descriptors are reused, so
// Gen tells apart successive connections on the same (TGID, FD).
type ID struct {
	TGID uint32
	FD   int32
	Gen  uint32
}

// Dir is the direction of data, seen from the traced process.
type Dir uint8

const (
	Egress  Dir = 1 // the process sent it (write, send, sendfile, ...)
	Ingress Dir = 2 // the process received it (read, recv, ...)
)

// Other is the opposite direction (Egress for Ingress and back).
func (d Dir) Other() Dir {
	if d == Egress {
		return Ingress
	}
	return Egress
}

func (d Dir) String() string {
	switch d {
	case Egress:
		return "egress"
	case Ingress:
		return "ingress"
	}
	return "unknown"
}

// Role of the process on a connection.
type Role uint8

const (
	RoleUnknown Role = 0 // the connection was open before tracing started
	RoleClient  Role = 1 // the process called connect
	RoleServer  Role = 2 // the process called accept
)

func (r Role) String() string {
	switch r {
	case RoleClient:
		return "client"
	case RoleServer:
		return "server"
	}
	return "unknown"
}

// Kind of event.
type Kind uint8

const (
	KindOpen  Kind = 1 // connect or accept returned, or an already-open socket was first seen
	KindData  Kind = 2 // a syscall moved bytes
	KindClose Kind = 3 // close
	// KindFork: a targeted process forked; ID.TGID is the child, ID.FD the
	// parent's TGID. It comes before any event of the child's.
	KindFork Kind = 4
	// KindHTTP1: an HTTP/1 exchange the tracer summarized in the kernel
	// (Event.HTTP1) instead of reporting its calls' data.
	KindHTTP1 Kind = 5
	// KindHTTP1Handoff: the tracer stopped summarizing the connection;
	// Event.HTTP1 is the exchange in progress, and the connection's later
	// calls come as KindData from the offsets it carries.
	KindHTTP1Handoff Kind = 6
)

// Transport protocol of a socket.
const (
	TransportTCP uint8 = 1
	TransportUDP uint8 = 2
)

// Event is one report from the tracer. Timestamps are CLOCK_MONOTONIC in
// nanoseconds (bpf_ktime_get_ns); the consumer converts them to wall time.
type Event struct {
	Kind Kind
	ID   ID
	PID  uint32 // thread that made the call
	Comm string

	// StartNs is the syscall's entry time, EndNs its return time.
	StartNs uint64
	EndNs   uint64

	// Open (and repeated on Data for sockets first seen mid-stream).
	Role      Role
	Transport uint8
	Local     netip.AddrPort
	Remote    netip.AddrPort

	// Data.
	Dir Dir
	// Pos is the offset of the first byte of this call in the direction's
	// stream, counted in the kernel over every call on the connection, so a
	// consumer can tell when events were lost (Pos jumps ahead).
	Pos uint64
	// Size is how many bytes the call moved. Data holds the first bytes of
	// them and may be shorter (capture limit) or empty (sendfile). A read
	// that returned 0 may be reported with Size 0: end of the stream (the
	// peer shut down its side), which ends a body delimited by the close.
	Size uint32
	Data []byte
	// Tail, when a call was cut, is its last bytes (after the Size -
	// len(Data) - len(Tail) bytes not captured): where a chunked body or a
	// message ends. Empty for datagrams.
	Tail []byte
	// Pieces, when a call was cut, are bytes of its uncaptured middle the
	// tracer chose to report (HTTP/2 frame headers and non-DATA frames),
	// in order, between Data and Tail.
	Pieces []Piece
	// Peer is the datagram's address for sendto/recvfrom/sendmsg/recvmsg
	// with an address (UDP), when it differs from Remote.
	Peer netip.AddrPort
	// Syscall names the call, for diagnostics.
	Syscall string
	// Source says where Data comes from; each source has its own Pos.
	Source Source
	// OtherPos, when HasOtherPos, is the other direction's offset at this
	// call (what the kernel has counted there so far). With it, calls lost
	// in the other direction are known at once rather than at that
	// direction's next call, which may come too late (after the answer
	// to a lost request) or never. Optional: tracers that cannot fill it
	// leave HasOtherPos false.
	OtherPos    uint64
	HasOtherPos bool

	// Close: the socket bytes sent and received since tracking began,
	// counted in the kernel (conn_stats), 0 from tracers that cannot.
	SentBytes, RecvBytes uint64

	// HTTP1 is the exchange of a KindHTTP1 or KindHTTP1Handoff event.
	HTTP1 *HTTP1Summary
}

// HTTP1Summary is an HTTP/1 exchange read in the kernel: what the
// aggregated view needs of it. Its times are the parser's: the wire time
// (Chunk.WireNs) of the request's first call and of the response's last.
type HTTP1Summary struct {
	Method string
	// Target is the request target as sent, valid only during the call.
	Target            []byte
	Minor             int
	Status            int
	ReqBody, RespBody int64
	StartNs, EndNs    uint64
	// Pos is each direction's stream offset (Egress first) after the
	// exchange; for a hand-off, before the call that follows as data.
	Pos [2]uint64
	// Handoff: the exchange is not over. State says where it stands and
	// Remain how many body bytes of the message in progress are to come.
	Handoff bool
	State   HTTP1State
	Remain  int64
}

// HTTP1State is where a handed-off exchange stands.
type HTTP1State uint8

const (
	HTTP1Idle     HTTP1State = 0 // nothing in progress
	HTTP1ReqBody  HTTP1State = 1 // Remain request body bytes to come
	HTTP1Wait     HTTP1State = 2 // the request is complete, no response yet
	HTTP1RespBody HTTP1State = 3 // Remain response body bytes to come
)

// Piece is Data of a call at offset Off of the call.
type Piece struct {
	Off  uint32
	Data []byte
}

// Source of a data event's bytes.
type Source uint8

const (
	// SourceSocket: socket syscalls. On a TLS connection these bytes are
	// ciphertext, so the Tracker ignores them once it sees SourceTLS.
	SourceSocket Source = 0
	// SourceTLS: plaintext from uprobes on TLS libraries (SSL_write,
	// SSL_read, crypto/tls), reported on the socket's ID.
	SourceTLS Source = 1
)

// Truncated reports whether the call moved more bytes than were captured.
func (e *Event) Truncated() bool {
	n := len(e.Data) + len(e.Tail)
	for _, p := range e.Pieces {
		n += len(p.Data)
	}
	return int(e.Size) > n
}
