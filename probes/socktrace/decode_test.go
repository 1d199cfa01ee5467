//go:build linux

package socktrace

import (
	"encoding/binary"
	"net/netip"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/kubectl-pixie/kubectl-pixie/probes/conn"
)

func record(h socktracePxEvent, data string) []byte {
	h.DataLen = uint32(len(data))
	b := append([]byte(nil), unsafe.Slice((*byte)(unsafe.Pointer(&h)), unsafe.Sizeof(h))...)
	return append(b, data...)
}

func pxAddr(s string) socktracePxAddr {
	ap := netip.MustParseAddrPort(s)
	a := socktracePxAddr{Port: ap.Port(), Family: unix.AF_INET6, Addr: ap.Addr().As16()}
	if ap.Addr().Is4() {
		a.Family = unix.AF_INET
		a.Addr = [16]byte{}
		v4 := ap.Addr().As4()
		copy(a.Addr[:], v4[:])
	}
	return a
}

func comm(s string) (c [16]int8) {
	for i := range len(s) {
		c[i] = int8(s[i])
	}
	return c
}

func TestDecode(t *testing.T) {
	var d decoder
	var ev conn.Event

	h := socktracePxEvent{
		StartNs: 10, EndNs: 20, Pos: 100, OtherPos: 42, Tgid: 7, Pid: 8, Fd: 5, Gen: 3, Size: 9,
		Kind: 2, Role: 2, Dir: 2, Transport: 1, Syscall: 6, HasPeer: 1,
		Comm:   comm("nginx"),
		Local:  pxAddr("[::ffff:127.0.0.1]:80"), // v4-mapped: unmapped
		Remote: pxAddr("10.0.0.2:5555"),
		Peer:   pxAddr("10.0.0.2:5555"), // same as remote: not reported
	}
	require.NoError(t, d.decode(record(h, "GET / HTTP"), &ev))
	want := conn.Event{
		Kind: conn.KindData, ID: conn.ID{TGID: 7, FD: 5, Gen: 3}, PID: 8, Comm: "nginx",
		StartNs: 10, EndNs: 20, Role: conn.RoleServer, Transport: conn.TransportTCP,
		Local:  netip.MustParseAddrPort("127.0.0.1:80"),
		Remote: netip.MustParseAddrPort("10.0.0.2:5555"),
		Dir:    conn.Ingress, Pos: 100, Size: 9, Data: []byte("GET / HTTP"), Syscall: "recvfrom",
		OtherPos: 42, HasOtherPos: true,
	}
	require.Equal(t, want, ev)

	h.Peer = pxAddr("[2001:db8::1]:53")
	h.Syscall = 11
	require.NoError(t, d.decode(record(h, ""), &ev))
	require.Equal(t, netip.MustParseAddrPort("[2001:db8::1]:53"), ev.Peer)
	require.Equal(t, "sendfile64", ev.Syscall)
	require.Empty(t, ev.Data)

	h.HasPeer = 0
	h.Local = socktracePxAddr{}
	require.NoError(t, d.decode(record(h, ""), &ev))
	require.False(t, ev.Peer.IsValid())
	require.False(t, ev.Local.IsValid())

	// TLS plaintext: its source, and the probed function as the call.
	for sys, name := range map[uint8]string{
		17: "SSL_write", 18: "SSL_read", 19: "SSL_write_ex", 20: "SSL_read_ex",
		21: "tls.(*Conn).Write", 22: "tls.(*Conn).Read",
	} {
		h.Syscall, h.Source = sys, 1
		require.NoError(t, d.decode(record(h, "GET / HTTP"), &ev))
		require.Equal(t, conn.SourceTLS, ev.Source)
		require.Equal(t, name, ev.Syscall)
	}
	h.Source = 0
	require.NoError(t, d.decode(record(h, ""), &ev))
	require.Equal(t, conn.SourceSocket, ev.Source)

	require.Error(t, d.decode(make([]byte, 10), &ev), "short record")
	bad := record(h, "abc")
	bad = bad[:len(bad)-1]
	require.Error(t, d.decode(bad, &ev), "data_len past the record")
}

func TestConfigNormalize(t *testing.T) {
	c := Config{}
	require.NoError(t, c.normalize())
	require.Equal(t, Config{MaxPayload: 4096, RingBytes: 8 << 20, WakeupBytes: 256 << 10}, c)
	for _, bad := range []Config{{MaxPayload: 3000}, {MaxPayload: 32768}, {RingBytes: 3 << 20}, {WakeupBytes: -1}} {
		require.Error(t, bad.normalize(), "%+v", bad)
	}
}

// TestDecodeTail: the last tail_len bytes of the data are the call's tail;
// a tail longer than the data is refused.
func TestDecodeTail(t *testing.T) {
	var d decoder
	h := socktracePxEvent{Kind: uint8(conn.KindData), Dir: uint8(conn.Egress), Size: 100, TailLen: 3}
	var ev conn.Event
	require.NoError(t, d.decode(record(h, "headend"), &ev))
	require.Equal(t, "head", string(ev.Data))
	require.Equal(t, "end", string(ev.Tail))
	require.True(t, ev.Truncated())
	h.TailLen = 8
	require.Error(t, d.decode(record(h, "headend"), &ev))
}

// piece encodes one px_piece and its bytes.
func piece(off uint32, b string) string {
	var hdr [8]byte
	binary.LittleEndian.PutUint32(hdr[:], off)
	binary.LittleEndian.PutUint32(hdr[4:], uint32(len(b)))
	return string(hdr[:]) + b
}

// TestDecodePieces: pieces_len bytes after the data are pieces of the
// call's middle, in order between the head and the tail; pieces out of
// order, past the middle or past the record are refused.
func TestDecodePieces(t *testing.T) {
	var d decoder
	var ev conn.Event
	h := socktracePxEvent{Kind: uint8(conn.KindData), Dir: uint8(conn.Egress), Size: 100, TailLen: 3}
	withPieces := func(ps ...string) []byte {
		var all string
		for _, p := range ps {
			all += p
		}
		h.PiecesLen = uint32(len(all))
		return append(record(h, "headend"), all...)
	}
	require.NoError(t, d.decode(withPieces(piece(10, "frame"), piece(40, "x")), &ev))
	require.Equal(t, "head", string(ev.Data))
	require.Equal(t, "end", string(ev.Tail))
	require.Equal(t, []conn.Piece{{Off: 10, Data: []byte("frame")}, {Off: 40, Data: []byte("x")}}, ev.Pieces)
	require.True(t, ev.Truncated())

	for name, ps := range map[string][]string{
		"inside the head":   {piece(2, "ab")},
		"in the tail":       {piece(96, "ab")},
		"out of order":      {piece(40, "ab"), piece(10, "ab")},
		"overlapping":       {piece(10, "abcd"), piece(12, "ab")},
		"empty":             {piece(10, "")},
		"short header":      {piece(10, "ab")[:5]},
		"longer than bytes": {piece(10, "ab")[:9]},
	} {
		require.Error(t, d.decode(withPieces(ps...), &ev), name)
	}
	h.PiecesLen = 100
	require.Error(t, d.decode(record(h, "headend"), &ev), "pieces_len past the record")
}
