package cql

import (
	"hash/crc32"

	"github.com/kubectl-pixie/kubectl-pixie/probes/conn"
)

// Protocol v5 wraps frames in segments once STARTUP is answered
// (native_protocol_v5.spec, section 2): a header of 3 bytes (payload
// length: 17 bits, self-contained: 1 bit, little-endian) and its CRC24,
// the payload (whole frames, or a part of one large frame), and the
// payload's CRC32. Compressed segments (LZ4) have a 5-byte header: their
// frames cannot be read without decompressing, so they are counted, not
// guessed at.
const (
	segHeader       = 6
	segHeaderLZ4    = 8
	segTrailer      = 4
	maxSegmentBytes = 1<<17 - 1
)

// crc24 is the header's checksum: bytes taken from the least significant,
// the polynomial and initial value of the specification.
func crc24(v uint64, n int) uint32 {
	crc := uint32(0x875060)
	for ; n > 0; n-- {
		crc ^= uint32(v&0xff) << 16
		v >>= 8
		for range 8 {
			crc <<= 1
			if crc&0x1000000 != 0 {
				crc ^= 0x1974f0b
			}
		}
	}
	return crc & 0xffffff
}

// crc32Init is CRC32 after the four bytes every payload checksum starts with.
var crc32Init = crc32.ChecksumIEEE([]byte{0xfa, 0x2d, 0x55, 0xca})

// segments reads one direction's segments and hands their payloads on.
type segments struct {
	on      bool // the direction is segmented (v5 after STARTUP)
	broken  bool // bytes were lost or a checksum failed: nothing more is read
	lz4     bool // compressed
	hdr     [segHeaderLZ4]byte
	n       int // header bytes read
	size    int // payload bytes of the current segment (compressed size)
	got     int // payload and trailer bytes read
	crc     uint32
	trailer [segTrailer]byte
}

// feed reads c's data, calling frame with each run of payload bytes (as a
// chunk of c's direction and times); false: the segment framing broke
// (bytes missing, or a checksum that does not match).
func (s *segments) feed(c *conn.Chunk, stats *conn.Stats, frame func(*conn.Chunk)) bool {
	data := c.Data
	hlen := segHeader
	if s.lz4 {
		hlen = segHeaderLZ4
	}
	for len(data) > 0 {
		if s.n < hlen {
			k := copy(s.hdr[s.n:hlen], data)
			s.n += k
			data = data[k:]
			if s.n < hlen {
				return true
			}
			if !s.header(hlen) {
				return false
			}
			continue
		}
		if s.got < s.size {
			k := min(s.size-s.got, len(data))
			if s.lz4 {
				stats.DroppedBytes += uint64(k) // compressed frames: never read
			} else {
				s.crc = crc32.Update(s.crc, crc32.IEEETable, data[:k])
				p := *c
				p.Data = data[:k]
				frame(&p)
			}
			s.got += k
			data = data[k:]
			continue
		}
		k := copy(s.trailer[s.got-s.size:], data)
		s.got += k
		data = data[k:]
		if s.got == s.size+segTrailer {
			want := uint32(s.trailer[0]) | uint32(s.trailer[1])<<8 | uint32(s.trailer[2])<<16 | uint32(s.trailer[3])<<24
			if !s.lz4 && want != s.crc {
				return false
			}
			s.n, s.got = 0, 0
		}
	}
	return true
}

// header checks a segment header and starts its payload.
func (s *segments) header(hlen int) bool {
	var v uint64
	for i := hlen - 4; i >= 0; i-- {
		v = v<<8 | uint64(s.hdr[i])
	}
	dataLen := hlen - 3
	v &= 1<<(8*dataLen) - 1
	crc := uint32(s.hdr[dataLen]) | uint32(s.hdr[dataLen+1])<<8 | uint32(s.hdr[dataLen+2])<<16
	if crc24(v, dataLen) != crc {
		return false
	}
	s.size = int(v & maxSegmentBytes)
	s.got, s.crc = 0, crc32Init
	return true
}
