// Package ndjson reads the agents' record streams line by line with a
// bound: a peer that never ends a line cannot make the plugin buffer
// without limit or wait forever.
package ndjson

import (
	"bufio"
	"errors"
	"fmt"
	"io"
)

// MaxLine bounds one record. The agent's largest records (a stack with
// its frames, an event with bodies of --body-limit) stay far below it.
const MaxLine = 16 << 20

// TooLongError is a line longer than the bound.
type TooLongError struct{ Max int }

func (e *TooLongError) Error() string {
	return fmt.Sprintf("a record longer than %d MiB: the probe's output is corrupt or not from a pixie agent (check its version: --image, or PIXIE_AGENT for --local)", e.Max>>20)
}

// Reader reads lines of at most Max bytes.
type Reader struct {
	br  *bufio.Reader
	max int
	buf []byte
}

// NewReader reads r with lines of at most MaxLine bytes.
func NewReader(r io.Reader) *Reader { return NewReaderSize(r, MaxLine) }

// NewReaderSize reads r with lines of at most max bytes.
func NewReaderSize(r io.Reader, max int) *Reader {
	return &Reader{br: bufio.NewReaderSize(r, 64<<10), max: max}
}

// ReadLine returns the next line with its '\n' (none on a last line cut
// by EOF, returned with io.EOF). The slice is valid until the next call.
// A line over the bound returns a *TooLongError; the reader is then
// unusable.
func (r *Reader) ReadLine() ([]byte, error) {
	r.buf = r.buf[:0]
	for {
		chunk, err := r.br.ReadSlice('\n')
		if len(r.buf)+len(chunk) > r.max {
			return nil, &TooLongError{Max: r.max}
		}
		r.buf = append(r.buf, chunk...)
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		return r.buf, err
	}
}
