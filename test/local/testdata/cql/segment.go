package main

import (
	"bufio"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"io"
)

// Protocol v5's segments (native_protocol_v5.spec, section 2),
// uncompressed: a 3-byte little-endian header (payload length: 17 bits,
// self-contained: 1 bit) and its CRC24, the payload, its CRC32.

const maxSegment = 1<<17 - 1

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

var crc32Init = crc32.ChecksumIEEE([]byte{0xfa, 0x2d, 0x55, 0xca})

func segment(payload []byte, selfContained bool) []byte {
	v := uint64(len(payload))
	if selfContained {
		v |= 1 << 17
	}
	crc := crc24(v, 3)
	b := []byte{byte(v), byte(v >> 8), byte(v >> 16), byte(crc), byte(crc >> 8), byte(crc >> 16)}
	b = append(b, payload...)
	return binary.LittleEndian.AppendUint32(b, crc32.Update(crc32Init, crc32.IEEETable, payload))
}

// frameReader reads frames, from segments once segmented.
type frameReader struct {
	r         *bufio.Reader
	segmented bool
	buf       []byte // segment payloads not yet framed
}

func (f *frameReader) fill(n int) error {
	for len(f.buf) < n {
		var h [6]byte
		if _, err := io.ReadFull(f.r, h[:]); err != nil {
			return err
		}
		v := uint64(h[0]) | uint64(h[1])<<8 | uint64(h[2])<<16
		if crc24(v, 3) != uint32(h[3])|uint32(h[4])<<8|uint32(h[5])<<16 {
			return errors.New("segment header CRC24 mismatch")
		}
		p := make([]byte, v&maxSegment+4)
		if _, err := io.ReadFull(f.r, p); err != nil {
			return err
		}
		payload := p[:len(p)-4]
		if crc32.Update(crc32Init, crc32.IEEETable, payload) != binary.LittleEndian.Uint32(p[len(p)-4:]) {
			return errors.New("segment payload CRC32 mismatch")
		}
		f.buf = append(f.buf, payload...)
	}
	return nil
}

func (f *frameReader) next() (hdr [9]byte, body []byte, err error) {
	if !f.segmented {
		if _, err = io.ReadFull(f.r, hdr[:]); err != nil {
			return hdr, nil, err
		}
		body = make([]byte, binary.BigEndian.Uint32(hdr[5:]))
		_, err = io.ReadFull(f.r, body)
		return hdr, body, err
	}
	if err = f.fill(9); err != nil {
		return hdr, nil, err
	}
	copy(hdr[:], f.buf)
	n := 9 + int(binary.BigEndian.Uint32(hdr[5:]))
	if err = f.fill(n); err != nil {
		return hdr, nil, err
	}
	body = append([]byte(nil), f.buf[9:n]...)
	f.buf = f.buf[n:]
	return hdr, body, nil
}
