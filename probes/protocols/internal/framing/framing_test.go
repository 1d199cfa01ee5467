package framing

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/kubectl-pixie/kubectl-pixie/probes/conn"
)

// toy is a protocol of messages 'M', length byte, body, and (with end) a
// '!' after the body; it keeps 3 bytes of each body and resynchronises at
// a call starting with 'M'.
type toy struct {
	fr    Framer
	stats conn.Stats
	end   bool
	got   []string // body/size/cut@start of each message
	lost  []bool   // broken, per Lost
	stop  string   // Message stops the call after this body
	now   uint64
}

func newToy(synced, end bool) *toy {
	t := &toy{end: end}
	t.fr = New(&t.stats, conn.Egress, synced)
	return t
}

func (t *toy) Head(dir conn.Dir, hdr []byte) (Head, bool) {
	if dir != conn.Egress {
		return Head{}, false
	}
	if hdr[0] != 'M' {
		return Head{}, false
	}
	if len(hdr) < 2 {
		return Head{Len: 2}, true
	}
	h := Head{Len: 2, Size: int(hdr[1]), Keep: 3}
	if t.end {
		h.End = []byte("!")
	}
	return h, true
}

func (t *toy) Message(m *Message, c *conn.Chunk) bool {
	t.got = append(t.got, fmt.Sprintf("%s/%d/%v@%d", m.Body, m.Size, m.Cut, m.Start))
	return t.stop == "" || string(m.Body) != t.stop
}

func (t *toy) Resync(c *conn.Chunk) bool { return c.Data[0] == 'M' }
func (t *toy) Lost(dir conn.Dir, broken bool) {
	if dir == conn.Egress {
		t.lost = append(t.lost, broken)
	}
}

// call feeds data as one call, at the next time step.
func (t *toy) call(data string) bool {
	t.now++
	return t.fr.Feed(&conn.Chunk{Dir: conn.Egress, Data: []byte(data), StartNs: t.now}, t)
}

func (t *toy) gap(n uint64) {
	t.now++
	t.fr.Feed(&conn.Chunk{Dir: conn.Egress, Gap: n, StartNs: t.now}, t)
}

// TestSplits: however a stream is cut into calls, the same messages come,
// each starting at the call holding its first byte.
func TestSplits(t *testing.T) {
	for _, end := range []bool{false, true} {
		e := ""
		if end {
			e = "!"
		}
		stream := "M\x05hello" + e + "M\x00" + e + "M\x0cworld-is-big" + e
		for i := 0; i <= len(stream); i++ {
			for j := i; j <= len(stream); j++ {
				tt := newToy(true, end)
				starts := [3]int{}
				for k, part := range []string{stream[:i], stream[i:j], stream[j:]} {
					if part != "" {
						tt.call(part)
					}
					starts[k] = int(tt.now)
				}
				// The message starting at offset o begins in the call holding o.
				at := func(o int) int {
					switch {
					case o < i:
						return starts[0]
					case o < j:
						return starts[1]
					}
					return starts[2]
				}
				n := len(e)
				want := []string{
					fmt.Sprintf("hel/5/true@%d", at(0)),
					fmt.Sprintf("/0/false@%d", at(7+n)),
					fmt.Sprintf("wor/12/true@%d", at(9+2*n)),
				}
				if !slices.Equal(tt.got, want) || tt.stats != (conn.Stats{}) {
					t.Fatalf("end %v split %d,%d: %q, stats %+v", end, i, j, tt.got, tt.stats)
				}
			}
		}
	}
}

// TestGaps: a gap past the kept prefix, or ending the body, is skipped;
// one in the prefix with more to come, in a header, between messages or
// over an end byte loses the framing, counted once, until a call the
// protocol accepts; a gap while unsynchronised counts nothing.
func TestGaps(t *testing.T) {
	tt := newToy(true, false)
	tt.call("M\x0aabcd")
	tt.gap(4)
	tt.call("ij")      // past the prefix
	tt.call("M\x08ab") // the rest of the body lost:
	tt.gap(6)          // it ends the body
	tt.call("M\x05a")
	tt.gap(1) // inside the prefix, more to come
	tt.call("xyz")
	tt.gap(3)
	tt.call("M\x01z")
	tt.call("M")
	tt.gap(1) // inside a header
	tt.call("M\x01y")
	want := []string{"abc/10/true@1", "ab/8/true@4", "z/1/false@10", "y/1/false@13"}
	if !slices.Equal(tt.got, want) || !slices.Equal(tt.lost, []bool{false, false}) {
		t.Fatalf("messages %q lost %v", tt.got, tt.lost)
	}
	if s := tt.stats; s.Resyncs != 2 || s.DroppedBytes != 3 || s.ParseErrors != 0 {
		t.Fatalf("stats %+v", s)
	}

	tt = newToy(true, true)
	tt.call("M\x02ab")
	tt.gap(1) // the end byte is never skipped
	tt.call("M\x01c!")
	if len(tt.got) != 1 || tt.got[0] != "c/1/false@3" || tt.stats.Resyncs != 1 {
		t.Fatalf("messages %q stats %+v", tt.got, tt.stats)
	}
}

// TestBroken: a header refused or a wrong end byte is a parse error and a
// resync; the rest of that call is not read.
func TestBroken(t *testing.T) {
	tt := newToy(true, true)
	tt.call("M\x01a!X\x01b!M\x01c!")
	tt.call("M\x01d?M\x01e!")
	tt.call("\x01f!")
	tt.call("M\x01g!")
	want := []string{"a/1/false@1", "g/1/false@4"}
	if !slices.Equal(tt.got, want) || !slices.Equal(tt.lost, []bool{true, true}) {
		t.Fatalf("messages %q lost %v", tt.got, tt.lost)
	}
	if s := tt.stats; s.ParseErrors != 2 || s.Resyncs != 2 || s.DroppedBytes != 3 {
		t.Fatalf("stats %+v", s)
	}
}

// TestMidStream: a stream first seen mid-connection starts at a call the
// protocol accepts; the calls before are dropped, gaps before count nothing.
func TestMidStream(t *testing.T) {
	tt := newToy(false, false)
	tt.gap(10)
	if tt.call("lo") {
		t.Fatal("unsynchronised call taken")
	}
	tt.call("M\x02hi")
	if !slices.Equal(tt.got, []string{"hi/2/false@3"}) || tt.stats != (conn.Stats{DroppedBytes: 2}) || tt.lost != nil {
		t.Fatalf("messages %q stats %+v lost %v", tt.got, tt.stats, tt.lost)
	}
}

// syncing resynchronises after a call that ends a message, from the next.
type syncing struct{ *toy }

func (s syncing) Resync(c *conn.Chunk) bool {
	if strings.HasSuffix(string(c.Data), ".") {
		s.fr.Sync()
	}
	return false
}

// TestSync: Rules.Resync may refuse a call and still start the next.
func TestSync(t *testing.T) {
	tt := newToy(false, false)
	s := syncing{tt}
	for _, d := range []string{"M\x01a", "tail.", "M\x01b"} {
		tt.now++
		tt.fr.Feed(&conn.Chunk{Dir: conn.Egress, Data: []byte(d), StartNs: tt.now}, s)
	}
	if !slices.Equal(tt.got, []string{"b/1/false@3"}) || tt.stats.DroppedBytes != 8 {
		t.Fatalf("messages %q stats %+v", tt.got, tt.stats)
	}
}

// TestStop: a Message that gives up stops reading the call.
func TestStop(t *testing.T) {
	tt := newToy(true, false)
	tt.stop = "b"
	tt.call("M\x01aM\x01bM\x01c")
	if !slices.Equal(tt.got, []string{"a/1/false@1", "b/1/false@1"}) {
		t.Fatalf("messages %q", tt.got)
	}
}

// TestEOF: an end of stream is not data.
func TestEOF(t *testing.T) {
	tt := newToy(true, false)
	if tt.fr.Feed(&conn.Chunk{Dir: conn.Egress, EOF: true}, tt) || tt.stats != (conn.Stats{}) {
		t.Fatalf("EOF taken, stats %+v", tt.stats)
	}
}

// TestDuplex: each direction has its own framing state.
func TestDuplex(t *testing.T) {
	var st conn.Stats
	tt := &toy{}
	d := NewDuplex(&st, true, tt)
	d.Feed(&conn.Chunk{Dir: conn.Egress, Data: []byte("M\x02a")})
	d.Feed(&conn.Chunk{Dir: conn.Ingress, Data: []byte("M\x01z")}) // refused: only egress has headers
	d.Feed(&conn.Chunk{Dir: conn.Egress, Data: []byte("b")})
	if d.Feed(&conn.Chunk{Dir: 0, Data: []byte("M\x01c")}) {
		t.Fatal("a chunk without direction taken")
	}
	if !slices.Equal(tt.got, []string{"ab/2/false@0"}) || st.ParseErrors != 1 || d.Dir(conn.Ingress).Synced() || !d.Dir(conn.Egress).Synced() {
		t.Fatalf("messages %q stats %+v", tt.got, st)
	}
}
