//go:build linux

package agent

import (
	"bufio"
	"encoding/json"
	"io"
	"sync"

	"github.com/kubectl-pixie/kubectl-pixie/probes/api"
)

// Emitter writes NDJSON records with increasing sequence numbers. It is
// safe for concurrent use. Writes are buffered; Flush pushes them out (the
// agent flushes once per interval, not per record).
type Emitter struct {
	mu  sync.Mutex
	w   *bufio.Writer
	enc *json.Encoder
	buf []byte // reused by records that append their own JSON
	seq uint64
	err error
}

// jsonAppender is a record that writes its own JSON (per-request records
// with -o json: no reflection, no copy, no allocation).
type jsonAppender interface{ AppendJSON([]byte) []byte }

// NewEmitter writes to w.
func NewEmitter(w io.Writer) *Emitter {
	bw := bufio.NewWriterSize(w, 64<<10)
	enc := json.NewEncoder(bw)
	// Records go to jq and terminals, not HTML: keep "<redacted 5 bytes>"
	// and "a&b" readable (control bytes are still escaped).
	enc.SetEscapeHTML(false)
	return &Emitter{w: bw, enc: enc}
}

// Emit writes one record. h must point into rec (the record's Header), so
// the table, version and sequence number are stamped before encoding.
func (e *Emitter) Emit(h *api.Header, rec any) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.err != nil {
		return
	}
	e.seq++
	h.Seq = e.seq
	h.V = api.Version
	if a, ok := rec.(jsonAppender); ok {
		e.buf = append(a.AppendJSON(e.buf[:0]), '\n')
		_, e.err = e.w.Write(e.buf)
		return
	}
	e.err = e.enc.Encode(rec)
}

// Log emits a probe_log record.
func (e *Emitter) Log(level, msg, remedy string) {
	r := &api.ProbeLog{Header: api.Header{Table: api.TableProbeLog}, Level: level, Msg: msg, Remedy: remedy}
	e.Emit(&r.Header, r)
}

// Flush writes buffered records out.
func (e *Emitter) Flush() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.err == nil {
		e.err = e.w.Flush()
	}
	return e.err
}

// Err reports the first write error (the reader went away).
func (e *Emitter) Err() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.err
}
