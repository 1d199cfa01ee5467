package memgrowth

import (
	"reflect"
	"testing"
)

func TestLedgerFaultReleaseMove(t *testing.T) {
	const pg = 4096
	l := NewLedger(pg)
	a, b := []uint64{0x10, 0x20}, []uint64{0x30}
	for i := uint64(0); i < 10; i++ {
		l.Fault(7, 0x100000+i*pg+12, 1, a) // any address inside the page
	}
	l.Fault(7, 0x200000, 1, b)
	l.Fault(7, 0x200000+100, 1, a) // same page again: taken over, not new
	if l.Pages() != 11 {
		t.Fatalf("pages %d", l.Pages())
	}
	top := l.Top(7, 5)
	want := []Growth{{PCs: a, ResidentBytes: 11 * pg, FaultedBytes: 10 * pg}, {PCs: b, ResidentBytes: 0, FaultedBytes: pg}}
	if !reflect.DeepEqual(top, want) {
		t.Fatalf("top %+v\nwant %+v", top, want)
	}
	l.Release(7, 0x100000+2*pg, 3*pg) // pages 2,3,4
	l.Release(8, 0x100000, 1<<30)     // another process: nothing
	l.Release(7, 0, 0)
	if got := l.Top(7, 1)[0].ResidentBytes; got != 8*pg {
		t.Fatalf("after release: %d", got)
	}
	l.Move(7, 0x100000, 2*pg, 0x900000) // pages 0,1 move
	l.Release(7, 0x100000, 2*pg)        // the old place is empty now
	if got := l.Top(7, 1)[0].ResidentBytes; got != 8*pg {
		t.Fatalf("after move: %d", got)
	}
	l.Release(7, 0x900000, pg)
	if got := l.Top(7, 1)[0].ResidentBytes; got != 7*pg || l.Pages() != 7 {
		t.Fatalf("release at the new place: %d, pages %d", got, l.Pages())
	}
	l.Release(7, ^uint64(0)-pg, 1<<40) // wraps: clamps, no panic
	l.Exec(7)
	if l.Pages() != 0 || l.Top(7, 1)[0].ResidentBytes != 0 {
		t.Fatal("exec kept pages")
	}
	if l.Top(9, 3) != nil {
		t.Fatal("unknown process has stacks")
	}
}

// Downsampling keeps pages with the odds of the new sampling and
// reweights them, so the estimate stays near the truth; a record sampled
// at an older shift that arrives late is kept with the same odds.
func TestLedgerDownsample(t *testing.T) {
	const pg = 4096
	const n = 1 << 16
	l := NewLedger(pg)
	for i := uint64(0); i < n; i++ {
		l.Fault(1, i*pg, 1, []uint64{1})
	}
	for _, w := range []uint32{2, 3, 7, 16, 31, 64} { // periods need not be powers of two
		l.Downsample(w)
		got := float64(l.Top(1, 1)[0].ResidentBytes) / pg
		if got < 0.9*n || got > 1.1*n {
			t.Errorf("weight %d: estimate %.0f pages, want about %d", w, got, n)
		}
		if l.Floor() != w || l.Pages() > 2*n/int(w) {
			t.Errorf("weight %d: ledger floor %d, %d pages held", w, l.Floor(), l.Pages())
		}
	}
	l.Downsample(3) // never back down
	if l.Floor() != 64 {
		t.Fatalf("floor went back to %d", l.Floor())
	}
	// Late records at weight 1 on new pages: ~1 in 64 kept, at weight 64.
	for i := uint64(n); i < 2*n; i++ {
		l.Fault(2, i*pg, 1, []uint64{2})
	}
	if got := float64(l.Top(2, 1)[0].ResidentBytes) / pg; got < 0.8*n || got > 1.2*n {
		t.Errorf("late records: estimate %.0f pages, want about %d", got, n)
	}
	// A record at a higher weight moves the ledger up with it.
	l.Fault(3, 0, 255, []uint64{3})
	if l.Floor() != 255 {
		t.Errorf("floor %d after a weight-255 record, want 255", l.Floor())
	}
}
