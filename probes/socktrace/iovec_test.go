//go:build linux

package socktrace

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"runtime"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/kubectl-pixie/kubectl-pixie/probes/conn"
)

// manyIovecs is how many pieces the vecpair helper gathers and scatters:
// more than the bounded exits' 16, as gRPC's C core and librdkafka do.
const manyIovecs = 40

// vecPiece is the i-th gathered piece: sizes 1..13, so pieces are told
// apart by where they land.
func vecPiece(i int, tag byte) []byte {
	return bytes.Repeat([]byte{tag + byte(i%26)}, 1+i%13)
}

// helperVecPair connects to itself on 127.0.0.1 and, once released, sends
// a request of manyIovecs pieces with writev, reads it with readv into
// manyIovecs 8-byte buffers, answers with one sendmsg of manyIovecs pieces
// and reads the answer with recvmsg into manyIovecs 8-byte buffers.
func helperVecPair(string) error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	fmt.Println(ln.Addr().String())
	if _, err := bufio.NewReader(os.Stdin).ReadString('\n'); err != nil {
		return err
	}
	cl, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		return err
	}
	srv, err := ln.Accept()
	if err != nil {
		return err
	}
	var req, resp net.Buffers
	for i := range manyIovecs {
		req = append(req, vecPiece(i, 'a'))
		resp = append(resp, vecPiece(i, 'A'))
	}
	want := bytes.Join(req, nil)
	if _, err := req.WriteTo(cl); err != nil {
		return err
	}
	if err := vecRead(srv, len(want), unix.Readv); err != nil {
		return err
	}
	if err := vecSend(srv, resp); err != nil {
		return err
	}
	recv := func(fd int, bufs [][]byte) (int, error) {
		n, _, _, _, err := unix.RecvmsgBuffers(fd, bufs, nil, 0)
		return n, err
	}
	if err := vecRead(cl, len(bytes.Join(resp, nil)), recv); err != nil {
		return err
	}
	cl.Close()
	srv.Close()
	return nil
}

// vecRead reads n bytes from c with read, manyIovecs buffers of 8 bytes a call.
func vecRead(c net.Conn, n int, read func(int, [][]byte) (int, error)) error {
	raw, err := c.(*net.TCPConn).SyscallConn()
	if err != nil {
		return err
	}
	for n > 0 {
		bufs := make([][]byte, manyIovecs)
		for i := range bufs {
			bufs[i] = make([]byte, 8)
		}
		var got int
		var rerr error
		if err := raw.Read(func(fd uintptr) bool {
			got, rerr = read(int(fd), bufs)
			return !errors.Is(rerr, unix.EAGAIN)
		}); err != nil {
			return err
		}
		if rerr != nil || got == 0 {
			return fmt.Errorf("vector read: %d bytes: %w", got, rerr)
		}
		n -= got
	}
	return nil
}

func vecSend(c net.Conn, bufs net.Buffers) error {
	raw, err := c.(*net.TCPConn).SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := raw.Write(func(fd uintptr) bool {
		_, serr = unix.SendmsgBuffers(int(fd), bufs, nil, nil, 0)
		return !errors.Is(serr, unix.EAGAIN)
	}); err != nil {
		return err
	}
	return serr
}

// TestManyIovecs: writev, readv, sendmsg and recvmsg of 40 iovecs. With
// bpf_loop every iovec is copied: each direction's captured bytes are the
// bytes sent. With the bounded exits (kernels < 5.17, forced here) the
// first 16 are, and every call cut so is counted in iov_cut.
func TestManyIovecs(t *testing.T) {
	var req, resp []byte
	for i := range manyIovecs {
		req = append(req, vecPiece(i, 'a')...)
		resp = append(resp, vecPiece(i, 'A')...)
	}
	for _, bounded := range []bool{false, true} {
		t.Run(fmt.Sprintf("bounded=%v", bounded), func(t *testing.T) {
			forceIOVFallback = bounded
			defer func() { forceIOVFallback = false }()
			h := startHelper(t, "vecpair", "")
			c := startTracer(t, Config{PIDs: []uint32{h.pid()}})
			_, hasBounded := c.tr.coll.Programs["px_eb_writev"]
			require.Equal(t, bounded, hasBounded)
			h.release(t)
			h.rest(t)
			evs := c.waitFor(t, "both closes", h.pid(), func(evs []conn.Event) bool {
				n := 0
				for _, e := range evs {
					if e.Kind == conn.KindClose {
						n++
					}
				}
				return n == 2
			})
			ss := streams(t, evs, 0)
			require.Len(t, ss, 2, "connections")
			calls := map[string]int{}
			cut := 0
			for _, s := range ss {
				for _, d := range []conn.Dir{conn.Egress, conn.Ingress} {
					var got []byte
					for _, e := range s[d].events {
						calls[e.Syscall]++
						got = append(got, e.Data...)
						if e.Truncated() {
							cut++
						}
					}
					want := req
					if s[d].events[0].Syscall == "sendmsg" || s[d].events[0].Syscall == "recvmsg" {
						want = resp
					}
					if !bounded {
						require.Equal(t, string(want), string(got), "%s bytes", s[d].events[0].Syscall)
					} else {
						require.Equal(t, string(want[:len(got)]), string(got), "%s bytes", s[d].events[0].Syscall)
					}
				}
			}
			require.Equal(t, 1, calls["writev"])
			require.Equal(t, 1, calls["sendmsg"])
			require.NotZero(t, calls["readv"])
			require.NotZero(t, calls["recvmsg"])
			st := c.tr.Stats()
			require.Zero(t, st.LostBy[LostTruncated], "a capture of 4 KiB holds every call")
			if !bounded {
				require.Zero(t, cut)
				require.Zero(t, st.LostBy[LostIOVCut])
				return
			}
			// writev and sendmsg are cut; each read of 40x8 bytes past 16 iovecs too.
			require.GreaterOrEqual(t, cut, 4)
			require.Equal(t, uint64(cut), st.LostBy[LostIOVCut])
		})
	}
}

// manyMsgs is how many datagrams the mmsg helper moves per call: more than
// the bounded exits' 8.
const manyMsgs = 20

// mmsghdr is struct mmsghdr.
type mmsghdr struct {
	hdr unix.Msghdr
	len uint32
	_   [4]byte
}

// mmsgCall runs sendmmsg or recvmmsg (trap) on fd over bufs, one
// single-iovec message each; it returns how many messages moved.
func mmsgCall(trap uintptr, fd int, bufs [][]byte) (int, error) {
	iovs := make([]unix.Iovec, len(bufs))
	msgs := make([]mmsghdr, len(bufs))
	for i, b := range bufs {
		iovs[i].Base = &b[0]
		iovs[i].SetLen(len(b))
		msgs[i].hdr.Iov = &iovs[i]
		msgs[i].hdr.SetIovlen(1)
	}
	n, _, errno := unix.Syscall6(trap, uintptr(fd), uintptr(unsafe.Pointer(&msgs[0])), uintptr(len(msgs)), 0, 0, 0)
	runtime.KeepAlive(iovs)
	if errno != 0 {
		return int(n), errno
	}
	return int(n), nil
}

// helperMMsg sends manyMsgs datagrams with one sendmmsg on a connected UDP
// socket, once released, receives them with one recvmmsg and prints how
// many each call moved.
func helperMMsg(string) error {
	rx, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM, 0)
	if err != nil {
		return err
	}
	lo := &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}
	if err := unix.Bind(rx, lo); err != nil {
		return err
	}
	rxAddr, err := unix.Getsockname(rx)
	if err != nil {
		return err
	}
	tx, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM, 0)
	if err != nil {
		return err
	}
	if err := unix.Connect(tx, rxAddr); err != nil {
		return err
	}
	fmt.Println("ready")
	if _, err := bufio.NewReader(os.Stdin).ReadString('\n'); err != nil {
		return err
	}
	out, in := make([][]byte, manyMsgs), make([][]byte, manyMsgs)
	for i := range out {
		out[i] = []byte(fmt.Sprintf("datagram %02d", i))
		in[i] = make([]byte, 64)
	}
	sent, err := mmsgCall(unix.SYS_SENDMMSG, tx, out)
	if err != nil {
		return err
	}
	got, err := mmsgCall(unix.SYS_RECVMMSG, rx, in)
	if err != nil {
		return err
	}
	fmt.Println(sent, got)
	unix.Close(tx)
	unix.Close(rx)
	return nil
}

// TestManyMessages: one sendmmsg and one recvmmsg of 20 datagrams. With
// bpf_loop each message is one event with its bytes; with the bounded
// exits (forced) the first 8 are, and the other 12 of each call are
// counted in mmsg_cut.
func TestManyMessages(t *testing.T) {
	for _, bounded := range []bool{false, true} {
		t.Run(fmt.Sprintf("bounded=%v", bounded), func(t *testing.T) {
			forceIOVFallback = bounded
			defer func() { forceIOVFallback = false }()
			h := startHelper(t, "mmsg", "")
			c := startTracer(t, Config{PIDs: []uint32{h.pid()}})
			h.release(t)
			require.Equal(t, fmt.Sprintf("%d %d\n", manyMsgs, manyMsgs), h.rest(t))
			want := manyMsgs
			if bounded {
				want = 8
			}
			evs := c.waitFor(t, "both calls' messages", h.pid(), func(evs []conn.Event) bool {
				n := 0
				for _, e := range evs {
					if e.Kind == conn.KindData {
						n++
					}
				}
				return n >= 2*want
			})
			seen := map[string][]string{}
			for _, e := range evs {
				if e.Kind == conn.KindData {
					seen[e.Syscall] = append(seen[e.Syscall], string(e.Data))
				}
			}
			for _, call := range []string{"sendmmsg", "recvmmsg"} {
				require.Len(t, seen[call], want, call)
				for i, d := range seen[call] {
					require.Equal(t, fmt.Sprintf("datagram %02d", i), d, call)
				}
			}
			cut := c.tr.Stats().LostBy[LostMMsgCut]
			require.Equal(t, uint64(2*(manyMsgs-want)), cut)
		})
	}
}
