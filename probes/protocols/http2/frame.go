// Package http2 parses HTTP/2 (cleartext h2c with or without the client
// preface, and TLS plaintext delivered by the Tracker) and gRPC from the
// byte streams the conn.Tracker reassembles. Each stream becomes one
// api.HTTPEvent with MajorVersion 2, as Pixie records HTTP/2 in
// http_events; gRPC calls carry Protocol "grpc" and their grpc-status.
//
// Header blocks are decoded one direction at a time by tableDecoder
// (HPACK with golang.org/x/net/http2/hpack's Huffman code and static
// table). A trace that starts mid-connection has not seen the
// dynamic-table insertions made before it, and lost bytes may hide some:
// the table then holds only what was seen since, which is exact for the
// peer's newest entries, and a field that refers to an older one is
// unknown, never guessed. A block whose :method, :path or :status is
// unknown, or a gRPC call whose content type or grpc-status may be, is
// counted in ParseErrors and makes no record. As the peer's table turns
// over, fields come back.
package http2

import "encoding/binary"

// Frame types (RFC 9113 section 6).
const (
	frameData         = 0x0
	frameHeaders      = 0x1
	framePriority     = 0x2
	frameRSTStream    = 0x3
	frameSettings     = 0x4
	framePushPromise  = 0x5
	framePing         = 0x6
	frameGoAway       = 0x7
	frameWindowUpdate = 0x8
	frameContinuation = 0x9
)

// Frame flags.
const (
	flagEndStream  = 0x1
	flagAck        = 0x1
	flagEndHeaders = 0x4
	flagPadded     = 0x8
	flagPriority   = 0x20
)

const (
	// Preface is the client connection preface.
	Preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
	// frameHeaderLen is the fixed frame header size.
	frameHeaderLen = 9
	// defaultMaxFrame is SETTINGS_MAX_FRAME_SIZE's initial value; frames
	// longer than it are accepted once synchronised, but not to infer.
	defaultMaxFrame = 1 << 14
)

// frameHeader is a decoded frame header.
type frameHeader struct {
	length int
	typ    uint8
	flags  uint8
	stream uint32
}

func parseFrameHeader(b []byte) frameHeader {
	return frameHeader{
		length: int(b[0])<<16 | int(b[1])<<8 | int(b[2]),
		typ:    b[3],
		flags:  b[4],
		stream: binary.BigEndian.Uint32(b[5:9]) & 0x7fffffff,
	}
}

// definedFlags are the flags each frame type defines; real peers set no
// others, so an undefined flag means these bytes are not a frame header.
var definedFlags = [10]uint8{
	frameData:         flagEndStream | flagPadded,
	frameHeaders:      flagEndStream | flagEndHeaders | flagPadded | flagPriority,
	framePriority:     0,
	frameRSTStream:    0,
	frameSettings:     flagAck,
	framePushPromise:  flagEndHeaders | flagPadded,
	framePing:         flagAck,
	frameGoAway:       0,
	frameWindowUpdate: 0,
	frameContinuation: flagEndHeaders,
}

// plausible reports whether b[:9] is a frame header a real peer would
// send at the start of a write: a known type with only its flags, the
// reserved bit clear, the stream id and length rules of its type, and a
// length within the default maximum.
func plausible(b []byte) bool {
	if len(b) < frameHeaderLen || b[5]&0x80 != 0 {
		return false
	}
	h := parseFrameHeader(b)
	if h.typ > frameContinuation || h.flags&^definedFlags[h.typ] != 0 || h.length > defaultMaxFrame {
		return false
	}
	switch h.typ {
	case frameData, frameHeaders, frameContinuation:
		return h.stream != 0
	case framePushPromise:
		return h.stream != 0 && h.length >= 4
	case framePriority:
		return h.stream != 0 && h.length == 5
	case frameRSTStream:
		return h.stream != 0 && h.length == 4
	case frameSettings:
		return h.stream == 0 && h.length%6 == 0 && (h.flags&flagAck == 0 || h.length == 0)
	case framePing:
		return h.stream == 0 && h.length == 8
	case frameGoAway:
		return h.stream == 0 && h.length >= 8
	case frameWindowUpdate:
		return h.length == 4
	}
	return false
}

// plausibleRun checks up to n consecutive frames at the start of b (n <
// 0: all of b): each must be plausible; the run may end at the end of b
// or inside a frame (a capture cut short).
func plausibleRun(b []byte, n int) bool {
	for i := 0; i != n; i++ {
		if !plausible(b) {
			return false
		}
		size := frameHeaderLen + parseFrameHeader(b).length
		if size >= len(b) {
			return true
		}
		b = b[size:]
		if len(b) < frameHeaderLen {
			return true
		}
	}
	return true
}
