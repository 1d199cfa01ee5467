package http2

import (
	"errors"

	"golang.org/x/net/http2/hpack"
)

// tableDecoder decodes HPACK header blocks (RFC 7541) when the start of
// the dynamic table may never have been seen. Its table holds the
// insertions seen since it started or was reset, newest last, and the
// peer's index 62+j names the (j+1)-th newest insertion whatever the
// peer evicted since (a peer never refers to an entry it evicted), so an
// index inside the table is exact and one past it is unknown, never
// wrong. Unlike hpack.Decoder it goes on past an unknown index, so the
// insertions later in the block are kept; as the peer's table turns over,
// the entries inserted before the trace started are replaced by ones it
// sees. Huffman strings and the static table come from
// golang.org/x/net/http2/hpack.
type tableDecoder struct {
	ents   []entry // oldest first
	size   int     // RFC 7541 sizes; an entry with an unknown name counts its value only
	maxLen int     // longest string accepted
}

// entry is a dynamic-table entry; its name is unknown when it was
// inserted with a reference to an entry never seen.
type entry struct {
	name, value string
	nameKnown   bool
}

func (e *entry) size() int { return len(e.name) + len(e.value) + 32 }

var (
	errHPACK    = errors.New("hpack: malformed block")
	staticTable = func() (t [61]hpack.HeaderField) {
		d := hpack.NewDecoder(0, nil)
		for i := range t {
			f, err := d.DecodeFull([]byte{0x80 | byte(i+1)})
			if err != nil || len(f) != 1 {
				panic("hpack static table")
			}
			t[i] = f[0]
		}
		return t
	}()
)

// reset empties the table; the entries' strings are released, not kept
// alive by the array (the memory budget counts only size).
func (d *tableDecoder) reset() {
	clear(d.ents)
	d.ents, d.size = d.ents[:0], 0
}

// decode decodes a whole block and calls emit for every field; known is
// false for a field that refers to an entry never seen (then name and
// value are empty). An error means the block is malformed: the table may
// have missed its insertions, so the caller resets it.
func (d *tableDecoder) decode(b []byte, emit func(name, value string, known bool)) error {
	for len(b) > 0 {
		c := b[0]
		switch {
		case c&0x80 != 0: // indexed field
			idx, rest, err := readInt(7, b)
			if err != nil || idx == 0 {
				return errHPACK
			}
			b = rest
			e, ok := d.at(idx)
			if ok && e.nameKnown {
				emit(e.name, e.value, true)
			} else {
				emit("", "", false)
			}
		case c&0xe0 == 0x20: // dynamic table size update
			n, rest, err := readInt(5, b)
			if err != nil {
				return errHPACK
			}
			b = rest
			d.evict(int(min(n, 1<<30)))
		default:
			prefix := uint8(4) // without indexing, never indexed
			if c&0xc0 == 0x40 {
				prefix = 6 // with incremental indexing
			}
			idx, rest, err := readInt(prefix, b)
			if err != nil {
				return errHPACK
			}
			b = rest
			var name string
			nameKnown := true
			if idx == 0 {
				if name, b, err = d.readString(b); err != nil {
					return err
				}
			} else {
				e, ok := d.at(idx)
				name, nameKnown = e.name, ok && e.nameKnown
			}
			value, rest, err := d.readString(b)
			if err != nil {
				return err
			}
			b = rest
			if prefix == 6 {
				d.add(entry{name: name, value: value, nameKnown: nameKnown})
			}
			if nameKnown {
				emit(name, value, true)
			} else {
				emit("", "", false)
			}
		}
	}
	return nil
}

// at returns the entry at a 1-based index.
func (d *tableDecoder) at(idx uint64) (entry, bool) {
	if idx == 0 {
		return entry{}, false
	}
	if idx <= uint64(len(staticTable)) {
		f := staticTable[idx-1]
		return entry{name: f.Name, value: f.Value, nameKnown: true}, true
	}
	j := idx - uint64(len(staticTable)) - 1
	if j >= uint64(len(d.ents)) {
		return entry{}, false
	}
	return d.ents[len(d.ents)-1-int(j)], true
}

func (d *tableDecoder) add(e entry) {
	d.ents = append(d.ents, e)
	d.size += e.size()
	d.evict(maxTable)
}

// evict drops the oldest entries until the table fits in max bytes.
// Dropping early (our sizes may differ from the peer's) only turns
// references into unknowns.
func (d *tableDecoder) evict(max int) {
	n := 0
	for d.size > max && n < len(d.ents) {
		d.size -= d.ents[n].size()
		n++
	}
	if n > 0 {
		m := copy(d.ents, d.ents[n:])
		clear(d.ents[m:])
		d.ents = d.ents[:m]
	}
}

// readInt reads an integer with an n-bit prefix (RFC 7541 5.1).
func readInt(n uint8, b []byte) (uint64, []byte, error) {
	if len(b) == 0 {
		return 0, b, errHPACK
	}
	mask := uint64(1)<<n - 1
	v := uint64(b[0]) & mask
	b = b[1:]
	if v < mask {
		return v, b, nil
	}
	for shift := uint(0); shift < 35; shift += 7 {
		if len(b) == 0 {
			return 0, b, errHPACK
		}
		c := b[0]
		b = b[1:]
		v += uint64(c&0x7f) << shift
		if c&0x80 == 0 {
			return v, b, nil
		}
	}
	return 0, b, errHPACK
}

// readString reads a string literal (RFC 7541 5.2).
func (d *tableDecoder) readString(b []byte) (string, []byte, error) {
	if len(b) == 0 {
		return "", b, errHPACK
	}
	huff := b[0]&0x80 != 0
	n, rest, err := readInt(7, b)
	if err != nil || n > uint64(len(rest)) || (d.maxLen > 0 && n > uint64(d.maxLen)) {
		return "", b, errHPACK
	}
	raw := rest[:n]
	rest = rest[n:]
	if !huff {
		return string(raw), rest, nil
	}
	s, err := hpack.HuffmanDecodeToString(raw)
	if err != nil || (d.maxLen > 0 && len(s) > d.maxLen) {
		return "", rest, errHPACK
	}
	return s, rest, nil
}
