package api

import (
	"fmt"
	"strconv"
	"sync"
)

// DataAccess says how much of the captured bytes a record keeps. The agent
// applies it before a record is written: what is redacted never leaves
// the node (a probe pod's stdout ends up in the node's pod logs).
type DataAccess string

const (
	// DataAccessRestricted (the default) keeps the shape of every request
	// and none of its values: path templates, allow-listed headers, SQL
	// statement templates, Redis command names. Values, bodies and
	// payloads become a marker that keeps their size (see Redacted).
	DataAccessRestricted DataAccess = "restricted"
	// DataAccessFull keeps what is captured (bounded by the body limit);
	// login secrets (Redis AUTH, SQL passwords) stay redacted.
	DataAccessFull DataAccess = "full"
	// DataAccessNone keeps only the summary columns: method, path or
	// statement template, status, sizes and latencies; no headers, no
	// bodies.
	DataAccessNone DataAccess = "none"
)

// DataAccessModes lists the modes, default first (for help and errors).
var DataAccessModes = []DataAccess{DataAccessRestricted, DataAccessFull, DataAccessNone}

// ParseDataAccess parses a mode name; "" is the default (restricted).
func ParseDataAccess(s string) (DataAccess, error) {
	switch DataAccess(s) {
	case "":
		return DataAccessRestricted, nil
	case DataAccessRestricted, DataAccessFull, DataAccessNone:
		return DataAccess(s), nil
	}
	return "", fmt.Errorf("unknown data access %q: use restricted, full or none", s)
}

// Access is the configured data-access mode. FullData is the older
// spelling of full, kept so an older plugin's config still means the same;
// it cannot be combined with another mode.
func (c *TraceConfig) Access() (DataAccess, error) {
	a, err := ParseDataAccess(string(c.DataAccess))
	if err != nil {
		return "", err
	}
	if c.FullData {
		if c.DataAccess != "" && a != DataAccessFull {
			return "", fmt.Errorf("full data contradicts data access %q: ask for one mode", a)
		}
		return DataAccessFull, nil
	}
	return a, nil
}

// DefaultMaxPayload is the bytes captured per syscall unless configured.
const DefaultMaxPayload = 4096

// DefaultBodyLimit is the body bytes a record keeps (full data access)
// unless configured: the plugin's --body-limit default and the tracker's.
const DefaultBodyLimit = 512

// CheckBodyLimit checks the bytes of body a record may keep: 0 keeps none,
// and more than the capture size per syscall (maxPayload, 0: the default)
// is refused, so a record never holds more than one capture's worth.
func CheckBodyLimit(limit, maxPayload int) error {
	if maxPayload <= 0 {
		maxPayload = DefaultMaxPayload
	}
	if limit < 0 || limit > maxPayload {
		return fmt.Errorf("body limit %d is out of range: use 0 (no bodies) to %d (the capture size; raise it with the max payload)", limit, maxPayload)
	}
	return nil
}

// Redacted is the marker that replaces a value of n bytes the data-access
// mode does not keep: its size stays visible, its bytes do not.
// Built without fmt, and made once for the sizes most headers have: the
// parsers call it for every request's bodies and redacted headers.
func Redacted(n int64) string {
	if n >= 0 && n < int64(len(smallRedacted)) {
		smallRedactedOnce.Do(func() {
			for i := range smallRedacted {
				smallRedacted[i] = redacted(int64(i))
			}
		})
		return smallRedacted[n]
	}
	return redacted(n)
}

var (
	smallRedacted     [256]string
	smallRedactedOnce sync.Once
)

func redacted(n int64) string {
	var b [32]byte
	return string(append(strconv.AppendInt(append(b[:0], "<redacted "...), n, 10), " bytes>"...))
}
