package dns

import (
	"encoding/binary"
	"errors"
	"strconv"
	"strings"
)

// header is a DNS message header (RFC 1035 4.1.1).
type header struct {
	id             uint16
	qr             bool
	opcode         uint8
	aa, tc, rd, ra bool
	ad, cd         bool
	rcode          uint8
	qd, an, ns, ar uint16
	flags          uint16
}

const headerLen = 12

func parseHeader(b []byte) (header, bool) {
	if len(b) < headerLen {
		return header{}, false
	}
	f := binary.BigEndian.Uint16(b[2:])
	return header{
		id:     binary.BigEndian.Uint16(b),
		flags:  f,
		qr:     f&0x8000 != 0,
		opcode: uint8(f>>11) & 0xf,
		aa:     f&0x0400 != 0,
		tc:     f&0x0200 != 0,
		rd:     f&0x0100 != 0,
		ra:     f&0x0080 != 0,
		ad:     f&0x0020 != 0,
		cd:     f&0x0010 != 0,
		rcode:  uint8(f & 0xf),
		qd:     binary.BigEndian.Uint16(b[4:]),
		an:     binary.BigEndian.Uint16(b[6:]),
		ns:     binary.BigEndian.Uint16(b[8:]),
		ar:     binary.BigEndian.Uint16(b[10:]),
	}, true
}

// Bounds of name decoding: a name is at most 255 bytes on the wire, and
// compression pointers may only point backwards, at most maxHops times,
// so a loop ends.
const (
	maxNameLen = 255
	maxHops    = 32
)

var (
	errShort   = errors.New("dns: message too short")
	errName    = errors.New("dns: bad name")
	errPointer = errors.New("dns: bad compression pointer")
)

// readName decodes the name at off in msg; it returns the name in
// presentation form (escaped, without the final dot, "." for the root)
// and the offset after the name's bytes at off.
func readName(msg []byte, off int) (string, int, error) {
	var b strings.Builder
	end := -1 // offset after the name in the original position
	hops, wire := 0, 0
	pos := off
	limit := len(msg) // pointers must go strictly backwards from every earlier one
	for {
		if pos >= len(msg) {
			return "", 0, errShort
		}
		l := int(msg[pos])
		switch l & 0xc0 {
		case 0x00:
			if l == 0 {
				if end < 0 {
					end = pos + 1
				}
				if b.Len() == 0 {
					return ".", end, nil
				}
				return b.String(), end, nil
			}
			if pos+1+l > len(msg) {
				return "", 0, errShort
			}
			wire += l + 1
			if wire > maxNameLen {
				return "", 0, errName
			}
			if b.Len() > 0 {
				b.WriteByte('.')
			}
			writeLabel(&b, msg[pos+1:pos+1+l])
			pos += 1 + l
		case 0xc0:
			if pos+1 >= len(msg) {
				return "", 0, errShort
			}
			ptr := int(binary.BigEndian.Uint16(msg[pos:]) & 0x3fff)
			if end < 0 {
				end = pos + 2
			}
			hops++
			if ptr >= pos || ptr >= limit || hops > maxHops {
				return "", 0, errPointer
			}
			pos, limit = ptr, ptr
		default:
			return "", 0, errName // 0x40, 0x80: obsolete label types
		}
	}
}

// writeLabel writes a label in presentation form: dots and backslashes
// escaped, bytes outside printable ASCII as \DDD.
func writeLabel(b *strings.Builder, l []byte) {
	for _, c := range l {
		switch {
		case c == '.' || c == '\\' || c == '"':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c < 0x21 || c > 0x7e:
			b.WriteByte('\\')
			s := strconv.Itoa(int(c))
			b.WriteString(strings.Repeat("0", 3-len(s)) + s)
		default:
			b.WriteByte(c)
		}
	}
}

// question is a message's first question.
type question struct {
	name  string
	qtype uint16
	class uint16
}

func readQuestion(msg []byte, off int) (question, int, error) {
	name, off, err := readName(msg, off)
	if err != nil {
		return question{}, 0, err
	}
	if off+4 > len(msg) {
		return question{}, 0, errShort
	}
	return question{name: name, qtype: binary.BigEndian.Uint16(msg[off:]), class: binary.BigEndian.Uint16(msg[off+2:])}, off + 4, nil
}

// answer is one resource record of the answer section, rendered.
type answer struct {
	name  string
	rtype uint16
	value string // the address, target name, or "" for other types
}

// readAnswer decodes one resource record at off.
func readAnswer(msg []byte, off int) (answer, int, error) {
	name, off, err := readName(msg, off)
	if err != nil {
		return answer{}, 0, err
	}
	if off+10 > len(msg) {
		return answer{}, 0, errShort
	}
	a := answer{name: name, rtype: binary.BigEndian.Uint16(msg[off:])}
	rdlen := int(binary.BigEndian.Uint16(msg[off+8:]))
	off += 10
	if off+rdlen > len(msg) {
		return answer{}, 0, errShort
	}
	rd := msg[off : off+rdlen]
	switch a.rtype {
	case 1: // A
		if len(rd) == 4 {
			a.value = strconv.Itoa(int(rd[0])) + "." + strconv.Itoa(int(rd[1])) + "." + strconv.Itoa(int(rd[2])) + "." + strconv.Itoa(int(rd[3]))
		}
	case 28: // AAAA
		if len(rd) == 16 {
			a.value = ipv6(rd)
		}
	case 5, 2, 12: // CNAME, NS, PTR
		if n, _, err := readName(msg, off); err == nil {
			a.value = n
		}
	}
	return a, off + rdlen, nil
}

func ipv6(b []byte) string {
	var s strings.Builder
	for i := 0; i < 16; i += 2 {
		if i > 0 {
			s.WriteByte(':')
		}
		s.WriteString(strconv.FormatUint(uint64(binary.BigEndian.Uint16(b[i:])), 16))
	}
	return s.String()
}

var typeNames = map[uint16]string{
	1: "A", 2: "NS", 5: "CNAME", 6: "SOA", 12: "PTR", 13: "HINFO", 15: "MX", 16: "TXT",
	28: "AAAA", 33: "SRV", 35: "NAPTR", 39: "DNAME", 41: "OPT", 43: "DS", 46: "RRSIG",
	47: "NSEC", 48: "DNSKEY", 52: "TLSA", 64: "SVCB", 65: "HTTPS", 99: "SPF", 252: "AXFR",
	251: "IXFR", 255: "ANY", 257: "CAA",
}

// typeName is a type's mnemonic, or "TYPEn" (RFC 3597).
func typeName(t uint16) string {
	if s, ok := typeNames[t]; ok {
		return s
	}
	return "TYPE" + strconv.Itoa(int(t))
}

var rcodeNames = []string{"NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED",
	"YXDOMAIN", "YXRRSET", "NXRRSET", "NOTAUTH", "NOTZONE"}

// rcodeName names a header RCODE (4 bits: extended codes need EDNS).
func rcodeName(r uint8) string {
	if int(r) < len(rcodeNames) {
		return rcodeNames[r]
	}
	return "RCODE" + strconv.Itoa(int(r))
}
