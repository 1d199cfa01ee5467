package http2

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"testing"

	"golang.org/x/net/http2/hpack"
)

// TestTableDecoder: blocks from x/net's encoder (Huffman or not, indexed,
// never indexed, table size updates, evictions) decode to what was
// encoded when every block is seen; when the first blocks are not seen,
// every field decoded is the one encoded and the others are unknown; and
// as the encoder's table turns over, unknowns die out.
func TestTableDecoder(t *testing.T) {
	unknowns := 0
	for seed := uint64(1); seed <= 200; seed++ {
		rnd := rand.New(rand.NewPCG(seed, 3))
		var buf bytes.Buffer
		enc := hpack.NewEncoder(&buf)
		tableSize := []uint32{4096, 256, 0, 4096}[seed%4]
		enc.SetMaxDynamicTableSizeLimit(tableSize)
		var blocks [][]byte
		var truth [][]hpack.HeaderField
		for range 300 {
			buf.Reset()
			var fs []hpack.HeaderField
			for range 1 + rnd.IntN(8) {
				f := hpack.HeaderField{
					Name:  []string{":path", "x-a", "x-b", "content-type", "grpc-timeout", "user-agent"}[rnd.IntN(6)],
					Value: fmt.Sprint(rnd.IntN(1 + int(seed%50))),
				}
				f.Sensitive = rnd.IntN(20) == 0
				if f.Name == "grpc-timeout" {
					f.Value = fmt.Sprintf("%du", rnd.IntN(1<<30)) // always new: the table turns over
				}
				must(enc.WriteField(f))
				fs = append(fs, f)
			}
			if rnd.IntN(50) == 0 {
				enc.SetMaxDynamicTableSize(uint32(rnd.IntN(int(tableSize) + 1))) // size update in the next block
			}
			blocks = append(blocks, bytes.Clone(buf.Bytes()))
			truth = append(truth, fs)
		}
		for _, from := range []int{0, 1 + rnd.IntN(100)} {
			d := &tableDecoder{maxLen: 1 << 10}
			unknownLate := 0
			for i := from; i < len(blocks); i++ {
				var got []hpack.HeaderField
				var known []bool
				err := d.decode(blocks[i], func(n, v string, k bool) {
					got = append(got, hpack.HeaderField{Name: n, Value: v})
					known = append(known, k)
				})
				if err != nil || len(got) != len(truth[i]) {
					t.Fatalf("seed %d from %d block %d: %d fields, err %v, want %v", seed, from, i, len(got), err, truth[i])
				}
				for j, f := range got {
					w := truth[i][j]
					switch {
					case known[j] && (f.Name != w.Name || f.Value != w.Value):
						t.Fatalf("seed %d from %d block %d field %d: %s=%s, want %s=%s", seed, from, i, j, f.Name, f.Value, w.Name, w.Value)
					case !known[j]:
						unknowns++
					}
					switch {
					case !known[j] && from == 0:
						t.Fatalf("seed %d block %d field %d unknown though every block was seen", seed, i, j)
					case !known[j] && i > from+250 && (w.Name == ":path" || w.Name == "content-type" || w.Name == "user-agent"):
						// Names in the static table come back once the
						// encoder evicted the old entries; others may
						// keep referring to a name inserted before.
						unknownLate++
					}
				}
			}
			if tableSize == 4096 && seed%50 > 10 && unknownLate > 0 {
				t.Errorf("seed %d from %d: %d fields still unknown after the table turned over", seed, from, unknownLate)
			}
		}
	}
	if unknowns < 1000 {
		t.Fatalf("only %d unknown fields: the late starts test little", unknowns)
	}
}

func TestTableDecoderMalformed(t *testing.T) {
	for _, b := range [][]byte{
		{0x80}, // index 0
		{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, // integer too long
		{0x40, 0x05, 'a'},                          // string past the end
		{0x40, 0x81, 0xff, 0x01, 'a'},              // bad Huffman
		{0x7f},                                     // truncated integer
	} {
		d := &tableDecoder{maxLen: 64}
		if err := d.decode(b, func(string, string, bool) {}); err == nil {
			t.Errorf("%x decoded", b)
		}
	}
	d := &tableDecoder{maxLen: 4}
	if err := d.decode([]byte{0x40, 0x01, 'a', 0x05, 'v', 'v', 'v', 'v', 'v'}, func(string, string, bool) {}); err == nil {
		t.Error("a string over the bound decoded")
	}
	// An unknown index is not an error: the field is unknown.
	var known []bool
	if err := d.decode([]byte{0xbe, 0x82}, func(_, _ string, k bool) { known = append(known, k) }); err != nil || len(known) != 2 || known[0] || !known[1] {
		t.Errorf("unknown index: %v %v", err, known)
	}
}
