// Package stampconn times requests at the connection a client library
// writes to and reads from, where the tracer sees them: the client's
// lowest hook, for clients whose own clock would also hold their parsing
// and goroutine scheduling. Used by the --local latency tests and their
// peer programs.
package stampconn

import (
	"net"
	"sync"
	"time"
)

// Conn notes when the first write since Arm began and when the last read
// returned. Safe for a library's reader and writer goroutines.
type Conn struct {
	net.Conn
	mu          sync.Mutex
	first, last time.Time
}

// New wraps c.
func New(c net.Conn) *Conn { return &Conn{Conn: c} }

// Arm starts a request: the next write is its first.
func (s *Conn) Arm() {
	s.mu.Lock()
	s.first = time.Time{}
	s.mu.Unlock()
}

// Span is the time from the first write since Arm to the last read.
func (s *Conn) Span() time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last.Sub(s.first)
}

func (s *Conn) Write(b []byte) (int, error) {
	now := time.Now()
	s.mu.Lock()
	if s.first.IsZero() {
		s.first = now
	}
	s.mu.Unlock()
	return s.Conn.Write(b)
}

func (s *Conn) Read(b []byte) (int, error) {
	n, err := s.Conn.Read(b)
	if n > 0 {
		now := time.Now()
		s.mu.Lock()
		s.last = now
		s.mu.Unlock()
	}
	return n, err
}
