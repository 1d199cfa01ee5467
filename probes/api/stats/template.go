package stats

import (
	"strings"
)

// Placeholders that replace variable path segments.
const (
	PlaceholderID    = "{id}"
	PlaceholderUUID  = "{uuid}"
	PlaceholderHash  = "{hash}"
	PlaceholderDate  = "{date}"
	PlaceholderEmail = "{email}"
	// CatchAllPath replaces any path of a service that has used up its
	// template budget (see Limiter).
	CatchAllPath = "/{path}"
)

// Bounds on one template, so a hostile path cannot grow memory.
const (
	maxTemplateLen      = 200
	maxTemplateSegments = 24
	longSegment         = 64 // longer segments are tokens, not words
)

// Template maps a raw request target to a low-cardinality path template:
// the query and fragment are dropped, an absolute-form URL loses its scheme
// and authority, and segments that look like identifiers become
// placeholders: numbers {id}, UUIDs {uuid}, long hex {hash}, dates {date},
// e-mail addresses {email}, random-looking tokens {id}. Static words stay.
//
//	/api/cart/12345/items?x=1  -> /api/cart/{id}/items
//	/u/3f2b8c1e-...-9a0b/avatar -> /u/{uuid}/avatar
func Template(path string) string {
	if i := strings.IndexAny(path, "?#"); i >= 0 {
		path = path[:i]
	}
	// Absolute form (scheme://authority/path) only: an origin-form target
	// starts with "/" and may hold "://" in a segment.
	if i := strings.Index(path, "://"); i > 0 && i < 10 && path[0] != '/' {
		rest := path[i+3:]
		if j := strings.IndexByte(rest, '/'); j >= 0 {
			path = rest[j:]
		} else {
			path = "/"
		}
	}
	switch {
	case path == "":
		return "/"
	case path == "*": // OPTIONS *
		return "*"
	case path[0] != '/': // CONNECT host:port, or garbage
		return "{authority}"
	}
	if isStatic(path) {
		return path // the common case, without allocating
	}
	var b strings.Builder
	b.Grow(min(len(path), maxTemplateLen+8))
	rest := path[1:]
	for i := 0; ; i++ {
		if i == maxTemplateSegments {
			b.WriteString("/…")
			break
		}
		seg := rest
		j := strings.IndexByte(rest, '/')
		if j >= 0 {
			seg = rest[:j]
		}
		b.WriteByte('/')
		b.WriteString(templateSegment(seg))
		if j < 0 || b.Len() > maxTemplateLen {
			break
		}
		rest = rest[j+1:]
	}
	return truncate(b.String(), maxTemplateLen)
}

// isStatic: path is already its own template (short enough, no segment
// to replace).
func isStatic(path string) bool {
	if len(path) > maxTemplateLen || strings.Count(path, "/") > maxTemplateSegments {
		return false
	}
	for rest := path[1:]; ; {
		seg, next, found := strings.Cut(rest, "/")
		if templateSegment(seg) != seg {
			return false
		}
		if !found {
			return true
		}
		rest = next
	}
}

// truncate cuts s to at most n bytes on a rune boundary, marking the cut.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n - len("…")
	for cut > 0 && !isRuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

func isRuneStart(b byte) bool { return b&0xC0 != 0x80 }

func templateSegment(seg string) string {
	if seg == "" {
		return ""
	}
	var digits, hexLetters, letters, upper, other int
	for i := 0; i < len(seg); i++ {
		c := seg[i]
		switch {
		case c >= '0' && c <= '9':
			digits++
		case c >= 'a' && c <= 'f', c >= 'A' && c <= 'F':
			hexLetters++
			letters++
			if c <= 'F' {
				upper++
			}
		case c >= 'g' && c <= 'z':
			letters++
		case c >= 'G' && c <= 'Z':
			letters++
			upper++
		default:
			other++
		}
	}
	n := len(seg)
	switch {
	case digits == n:
		return PlaceholderID
	case isUUID(seg):
		return PlaceholderUUID
	case isDate(seg):
		return PlaceholderDate
	case digits+hexLetters == n && n >= 8 && digits > 0:
		return PlaceholderHash
	case strings.Contains(seg, "@") && strings.Contains(seg, "."):
		return PlaceholderEmail
	case n > longSegment:
		return PlaceholderID
	case n >= 6 && digits*2 >= n && isTokenish(seg):
		// digit-heavy: INV-20240105, a1234567, 12.5
		return PlaceholderID
	case n >= 16 && digits >= 2 && letters > 0 && isTokenish(seg) && !hasWordRun(seg):
		// base64-ish ids and tokens: cus_NffrFeUf3V2Hib, dGhpcyBpcyA0MiBieXRlcw
		return PlaceholderID
	}
	return seg
}

// isTokenish: only characters seen in ids and base64 (std or url-safe).
func isTokenish(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' ||
			c == '-' || c == '_' || c == '.' || c == '=' || c == '+' || c == '~' || c == '%') {
			return false
		}
	}
	return true
}

// hasWordRun: a lower-case run joined by separators, like
// "get-user-profile-v2" or "oauth2_callback_handler", is a name, not a token.
func hasWordRun(s string) bool {
	parts := strings.FieldsFunc(s, func(r rune) bool { return r == '-' || r == '_' || r == '.' })
	if len(parts) < 2 {
		return false
	}
	for _, p := range parts {
		if strings.ToLower(p) != p {
			return false
		}
	}
	return true
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}

// isUUID: 8-4-4-4-12 hex, any version.
func isUUID(s string) bool {
	if len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return false
	}
	return isHex(s[:8]) && isHex(s[9:13]) && isHex(s[14:18]) && isHex(s[19:23]) && isHex(s[24:])
}

// isDate: YYYY-MM-DD, optionally followed by a time (2024-01-05T10:00:00Z).
func isDate(s string) bool {
	if len(s) < 10 || s[4] != '-' || s[7] != '-' {
		return false
	}
	for _, i := range []int{0, 1, 2, 3, 5, 6, 8, 9} {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return len(s) == 10 || s[10] == 'T' || s[10] == 't' || s[10] == ' ' || s[10] == '_'
}

// Limiter bounds the number of distinct templates per service: after Max
// templates of one service, new ones fold into CatchAllPath. It remembers
// at most MaxServices services; paths of services beyond that fold too.
// Its memory is bounded by MaxServices*Max templates of bounded length.
type Limiter struct {
	max         int
	maxServices int
	seen        map[string]map[string]string // service -> interned templates
}

// Defaults for NewLimiter arguments <= 0.
const (
	DefaultTemplatesPerService = 200
	DefaultMaxServices         = 256
)

// NewLimiter returns a limiter keeping perService templates for each of at
// most services services (defaults for values <= 0).
func NewLimiter(perService, services int) *Limiter {
	if perService <= 0 {
		perService = DefaultTemplatesPerService
	}
	if services <= 0 {
		services = DefaultMaxServices
	}
	return &Limiter{max: perService, maxServices: services, seen: make(map[string]map[string]string)}
}

// Template templates rawPath and applies the service's budget. folded
// reports that the result is CatchAllPath because the budget was spent.
func (l *Limiter) Template(service, rawPath string) (tmpl string, folded bool) {
	t := Template(rawPath)
	set, ok := l.seen[service]
	if !ok {
		if len(l.seen) >= l.maxServices {
			return CatchAllPath, true
		}
		set = make(map[string]string)
		l.seen[service] = set
	}
	if known, ok := set[t]; ok {
		return known, false
	}
	if len(set) >= l.max {
		return CatchAllPath, true
	}
	// a copy: t may be a slice of a large request buffer
	t = strings.Clone(t)
	set[t] = t
	return t, false
}
