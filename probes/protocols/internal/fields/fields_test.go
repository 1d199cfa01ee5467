package fields

import "testing"

func TestReader(t *testing.T) {
	r := New([]byte{0x01, 0xff, 0xfe, 0x80, 0x00, 0xff, 0xff, 0xff, 0xfe, 0x07})
	if v := r.U8(); v != 1 || !r.OK {
		t.Fatalf("U8 = %d ok %v", v, r.OK)
	}
	if v := r.I16(); v != -2 {
		t.Fatalf("I16 = %d", v)
	}
	if v := r.U16(); v != 0x8000 {
		t.Fatalf("U16 = %d", v)
	}
	if v := r.I32(); v != -2 || !r.OK {
		t.Fatalf("I32 = %d ok %v", v, r.OK)
	}
	if v := r.I32(); v != 0 || r.OK {
		t.Fatalf("I32 past the end = %d ok %v", v, r.OK)
	}
	// Once past the end, nothing more is read, even what would fit.
	if v := r.U8(); v != 0 || r.OK || len(r.B) != 1 {
		t.Fatalf("U8 after the end = %d ok %v rest %v", v, r.OK, r.B)
	}
	r = New([]byte{1, 2, 3})
	if r.Skip(-1); r.OK {
		t.Fatal("a negative skip read")
	}
	r = New([]byte{1, 2, 3})
	if b := r.Take(2); string(b) != "\x01\x02" || r.U8() != 3 || !r.OK {
		t.Fatalf("Take = %v, ok %v", b, r.OK)
	}
}
