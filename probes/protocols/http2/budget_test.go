package http2

import (
	"fmt"
	"runtime"
	"strings"
	"testing"

	"golang.org/x/net/http2"

	"github.com/kubectl-pixie/kubectl-pixie/probes/conn"
)

// A flood of 4096 HTTP/2 connections, each filling its HPACK table and
// leaving a request pending with its headers, stays within the Tracker's
// memory budget: the oldest connections are evicted and counted. Without
// the shared budget each connection keeps ~128 KiB (table and pending
// headers), 512 MiB in all: twice the probe pod's limit.
func TestFloodStaysWithinMemoryBudget(t *testing.T) {
	if testing.Short() {
		t.Skip("feeds 256 MiB of header blocks")
	}
	const conns = 4096
	h := newHarness(t, conn.Options{})
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)

	blk := fillingBlock()
	for i := range conns {
		h.ID = conn.ID{TGID: 42, FD: int32(100 + i), Gen: 1}
		h.Pos = [3]uint64{}
		h.Open(conn.RoleServer)
		c := newPeer()
		c.buf.WriteString(Preface)
		c.settings()
		must(c.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: blk, EndStream: true, EndHeaders: true}))
		h.In(string(c.take()))
		if held := h.Tr.HeldBytes(); held > conn.DefaultMemoryBudget {
			t.Fatalf("after %d connections %d bytes held, over the %d budget", i+1, held, conn.DefaultMemoryBudget)
		}
	}
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	grew := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	st := h.Stats()
	t.Logf("heap grew %d MiB; %d connections tracked, %d evicted for the budget, %d bytes held",
		grew>>20, h.Tr.Conns(), st.BudgetConns, h.Tr.HeldBytes())
	// The budget (64 MiB) plus what it does not see (Go's map and string
	// headers): far below the pod's 256 MiB even with the GC's headroom.
	if grew > 96<<20 {
		t.Fatalf("heap grew by %d MiB", grew>>20)
	}
	if st.BudgetConns == 0 || int(st.BudgetConns)+h.Tr.Conns() != conns {
		t.Fatalf("evicted %d, tracked %d, of %d connections", st.BudgetConns, h.Tr.Conns(), conns)
	}
	if got := st.Map()["budget_evicted_conns"]; got != st.BudgetConns {
		t.Fatalf("footer key budget_evicted_conns = %d, want %d", got, st.BudgetConns)
	}
	// Evicted connections' pending requests are counted as unmatched.
	if st.UnmatchedRequests < st.BudgetConns {
		t.Fatalf("unmatched requests %d < evicted connections %d", st.UnmatchedRequests, st.BudgetConns)
	}
	h.Tr.Flush()
	if held := h.Tr.HeldBytes(); held != 0 {
		t.Fatalf("%d bytes held after Flush", held)
	}
}

// fillingBlock is a request header block (within the 64 KiB a block may
// buffer) whose literal fields with incremental indexing fill the
// decoder's table.
func fillingBlock() []byte {
	b := []byte{0x82, 0x86, 0x84} // :method GET, :scheme http, :path /
	value := strings.Repeat("v", 4000)
	for i := 0; len(b)+4020 < conn.DefaultMaxBufferedBytes; i++ {
		b = append(b, 0x40)
		b = hpackString(b, fmt.Sprintf("x-fill-%02d", i))
		b = hpackString(b, value)
	}
	return b
}

// hpackString appends a string literal without Huffman coding.
func hpackString(b []byte, s string) []byte {
	n := len(s)
	if n < 127 {
		b = append(b, byte(n))
	} else {
		b = append(b, 127)
		for n -= 127; n >= 128; n >>= 7 {
			b = append(b, byte(n&0x7f|0x80))
		}
		b = append(b, byte(n))
	}
	return append(b, s...)
}
