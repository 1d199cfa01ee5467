// Package fields reads big-endian fields from the kept prefix of a
// message (framing.Message.Body), for the binary protocols' parsers.
// Reading past the end (a body cut by the capture or the keep bound)
// turns OK false, which then stays false: callers read on and check OK
// once, instead of checking each field.
package fields

import "encoding/binary"

// Reader reads fields from B.
type Reader struct {
	B  []byte
	OK bool
}

// New reads b.
func New(b []byte) Reader { return Reader{B: b, OK: true} }

// Take returns the next n bytes (nil past the end).
func (r *Reader) Take(n int) []byte {
	if !r.OK || n < 0 || len(r.B) < n {
		r.OK = false
		return nil
	}
	v := r.B[:n]
	r.B = r.B[n:]
	return v
}

// Skip passes n bytes.
func (r *Reader) Skip(n int) { r.Take(n) }

// U8 reads an unsigned byte.
func (r *Reader) U8() int {
	if b := r.Take(1); b != nil {
		return int(b[0])
	}
	return 0
}

// U16 reads an unsigned 16-bit integer.
func (r *Reader) U16() int {
	if b := r.Take(2); b != nil {
		return int(binary.BigEndian.Uint16(b))
	}
	return 0
}

// I16 reads a signed 16-bit integer.
func (r *Reader) I16() int { return int(int16(r.U16())) }

// I32 reads a signed 32-bit integer.
func (r *Reader) I32() int {
	if b := r.Take(4); b != nil {
		return int(int32(binary.BigEndian.Uint32(b)))
	}
	return 0
}
