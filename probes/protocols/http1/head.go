package http1

import (
	"strings"
	"unsafe"
)

// head is a parsed start line and header block.
type head struct {
	method, target string // request
	status         int    // response
	reason         string
	minor          int
	headers        map[string]string
	contentLength  int64 // -1: none
	chunked        bool  // the last transfer coding is chunked
	otherTE        bool  // a transfer coding other than chunked is last
	upgrade        bool
	h2c            bool // Upgrade names h2c (RFC 7540 3.2)
}

// parseHead parses a complete header block (start line included, empty
// line included). The block is converted to a string once and every value
// is a substring of it, so a message costs a few allocations, not one per
// header. With keep false the header map is not built (aggregates need
// only the framing headers, which are always read) and the block is read
// in place, not copied: the caller then makes the start line's strings
// its own (own). Values are kept as sent: the data-access mode applies to
// the finished record.
func parseHead(block []byte, resp, keep bool, h *head) bool {
	var s string
	if keep {
		s = string(block)
	} else {
		// A view of block, valid until the caller reuses it; nothing
		// kept refers to it after own.
		s = unsafe.String(unsafe.SliceData(block), len(block))
	}
	all := s
	nl := strings.IndexByte(s, '\n')
	if nl < 0 {
		return false
	}
	first := trimCR(s[:nl])
	s = s[nl+1:]
	h.contentLength = -1
	if !h.startLine(first, resp) {
		return false
	}
	if keep {
		// Sized by the lines left (the headers and the empty line): a map
		// made for 8 grew on the 8th of nginx's 8 response headers, an
		// allocation per record (BenchmarkPipelineJSON: 10 allocations
		// per request with this size, 11 with the exact count).
		h.headers = make(map[string]string, strings.Count(s, "\n"))
	}
	var last string // name of the last header, for obs-fold lines
	for {
		nl = strings.IndexByte(s, '\n')
		if nl < 0 {
			return false
		}
		line := trimCR(s[:nl])
		s = s[nl+1:]
		if line == "" {
			return true
		}
		if line[0] == ' ' || line[0] == '\t' {
			// obs-fold: a continuation of the previous value.
			if last == "" {
				return false
			}
			if v := trimOWS(line); keep && v != "" {
				h.headers[last] += " " + v
			}
			continue
		}
		colon := strings.IndexByte(line, ':')
		if colon <= 0 || !isToken(line[:colon]) {
			return false
		}
		name, value := line[:colon], trimOWS(line[colon+1:])
		if !h.special(name, value, resp) {
			return false
		}
		last = name
		if !keep {
			continue
		}
		n := len(h.headers)
		h.headers[name] = value
		if len(h.headers) == n {
			// Repeated (rare): join every value so far, in order.
			h.headers[name] = joinValues(all[:len(all)-len(s)], name)
		}
	}
}

// startLine reads a status line ("HTTP/1.x NNN[ reason]", validated by
// statusLine) or a request line ("METHOD target HTTP/1.x").
func (h *head) startLine(first string, resp bool) bool {
	if resp {
		if len(first) < 12 {
			return false
		}
		h.minor = int(first[7] - '0')
		h.status = int(first[9]-'0')*100 + int(first[10]-'0')*10 + int(first[11]-'0')
		if len(first) > 13 {
			h.reason = first[13:]
		}
		return true
	}
	sp := strings.IndexByte(first, ' ')
	if sp <= 0 {
		return false
	}
	h.method = first[:sp]
	rest := first[sp+1:]
	sp = strings.IndexByte(rest, ' ')
	if sp <= 0 || len(rest)-sp != 9 {
		return false
	}
	h.target = rest[:sp]
	h.minor = int(rest[len(rest)-1] - '0')
	return true
}

// joinValues joins the values of every header line of block named name.
func joinValues(block, name string) string {
	var out string
	for _, line := range strings.Split(block, "\n")[1:] {
		line = trimCR(line)
		if len(line) > len(name) && line[len(name)] == ':' && line[:len(name)] == name {
			v := trimOWS(line[len(name)+1:])
			if out == "" {
				out = v
			} else {
				out += ", " + v
			}
		}
	}
	return out
}

// special records the headers that frame the body.
func (h *head) special(name, value string, resp bool) bool {
	switch len(name) {
	case len("Content-Length"), len("Transfer-Encoding"), len("Upgrade"):
	default:
		return true
	}
	switch {
	case strings.EqualFold(name, "Content-Length"):
		n, ok := parseLength(value)
		if !ok || (h.contentLength >= 0 && h.contentLength != n) {
			return false
		}
		h.contentLength = n
	case strings.EqualFold(name, "Transfer-Encoding"):
		last := value
		if i := strings.LastIndexByte(value, ','); i >= 0 {
			last = value[i+1:]
		}
		last = trimOWS(last)
		switch {
		case strings.EqualFold(last, "chunked"):
			h.chunked, h.otherTE = true, false
		case last != "" || value != "":
			h.chunked, h.otherTE = false, true
		}
	case strings.EqualFold(name, "Upgrade"):
		h.upgrade = true
		h.h2c = h.h2c || hasToken(value, "h2c")
	}
	return true
}

// parseLength parses a Content-Length value; a list of equal values
// ("5, 5", sent by some proxies) counts as one.
func parseLength(v string) (int64, bool) {
	var n int64 = -1
	for v != "" {
		part := v
		if i := strings.IndexByte(v, ','); i >= 0 {
			part, v = v[:i], v[i+1:]
		} else {
			v = ""
		}
		part = trimOWS(part)
		if part == "" || len(part) > 18 {
			return 0, false
		}
		var x int64
		for i := 0; i < len(part); i++ {
			if !isDigit(part[i]) {
				return 0, false
			}
			x = x*10 + int64(part[i]-'0')
		}
		if n >= 0 && x != n {
			return 0, false
		}
		n = x
	}
	return n, n >= 0
}

func trimCR(s string) string {
	if len(s) > 0 && s[len(s)-1] == '\r' {
		return s[:len(s)-1]
	}
	return s
}

func trimOWS(s string) string {
	for len(s) > 0 && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	for len(s) > 0 && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t' || s[len(s)-1] == '\r') {
		s = s[:len(s)-1]
	}
	return s
}

// tokenChar marks the bytes allowed in an RFC 9110 token (a header name).
var tokenChar = func() (t [256]bool) {
	for c := '!'; c <= '~'; c++ {
		t[c] = !strings.ContainsRune(`"(),/:;<=>?@[\]{}`, c)
	}
	return t
}()

// isToken reports whether s is a token.
func isToken(s string) bool {
	for i := 0; i < len(s); i++ {
		if !tokenChar[s[i]] {
			return false
		}
	}
	return true
}

// hasToken reports whether a comma-separated list holds token (any case).
func hasToken(list, token string) bool {
	for list != "" {
		item := list
		if i := strings.IndexByte(list, ','); i >= 0 {
			item, list = list[:i], list[i+1:]
		} else {
			list = ""
		}
		if strings.EqualFold(trimOWS(item), token) {
			return true
		}
	}
	return false
}
