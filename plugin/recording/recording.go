// Package recording writes a run's records to a file as they stream and
// reads them back for `kubectl pixie replay`.
//
// The file is gzip (the standard library has it, and zcat reads it
// anywhere; zstd would compress better but adds a dependency for files
// that are small next to the run that made them). Inside is text: a JSON
// header line, then one line per record, "r TAB offset-ns TAB node TAB
// record", and a last line "e TAB offset-ns" when the run ended cleanly.
// The writer flushes the gzip stream at least every FlushEvery, so a
// killed run leaves a file readable up to its last flushed record.
package recording

import (
	"bufio"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync"
	"time"
)

// Schema is the version of the file layout; replay refuses any other.
const Schema = 1

// FlushEvery bounds what a killed run loses.
const FlushEvery = 250 * time.Millisecond

// Header says what made the recording, so that replay can show it the
// same way.
type Header struct {
	Schema     int             `json:"pixie_recording"`
	Command    string          `json:"command"`
	Args       []string        `json:"args"`
	Plugin     string          `json:"plugin_version"`
	Started    time.Time       `json:"started"`
	WindowNs   int64           `json:"window_ns"`
	Nodes      int             `json:"nodes"`
	Targets    int             `json:"targets"`
	TargetUnit string          `json:"target_unit,omitempty"`
	Output     string          `json:"output"`
	Config     json.RawMessage `json:"config,omitempty"` // the agent's, filters included
	// Pods are the targeted pods of a cluster run (memory), so that a
	// replay names and groups their processes as the live run did.
	Pods []Pod `json:"pods,omitempty"`
}

// Pod is a targeted pod as the API server described it.
type Pod struct {
	UID       string `json:"uid"`
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	Workload  string `json:"workload,omitempty"` // kind/name of its owner, as target.Workload
	Node      string `json:"node,omitempty"`
}

// Writer appends records to a recording. Its methods are safe for
// concurrent use.
type Writer struct {
	mu        sync.Mutex
	f         *os.File
	gz        *gzip.Writer
	bw        *bufio.Writer
	now       func() time.Time
	start     time.Time
	lastFlush time.Time
	err       error
	buf       []byte
}

// Create creates path and writes the header; h.Schema and h.Started are
// set here.
func Create(path string, h Header, now func() time.Time) (*Writer, error) {
	if now == nil {
		now = time.Now
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("--record %s: %w: choose a writable file", path, err)
	}
	w := &Writer{f: f, gz: gzip.NewWriter(f), now: now}
	w.bw = bufio.NewWriterSize(w.gz, 64<<10)
	w.start = now()
	w.lastFlush = w.start
	h.Schema, h.Started = Schema, w.start
	line, err := json.Marshal(h)
	if err == nil {
		_, _ = w.bw.Write(append(line, '\n'))
		err = w.flush()
	}
	if err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("--record %s: %w", path, err)
	}
	return w, nil
}

// Record appends one record from node.
func (w *Writer) Record(node string, line []byte) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		return
	}
	t := w.now()
	b := append(w.buf[:0], "r\t"...)
	b = strconv.AppendInt(b, t.Sub(w.start).Nanoseconds(), 10)
	b = append(b, '\t')
	b = strconv.AppendQuote(b, node)
	b = append(b, '\t')
	b = append(b, trimNewline(line)...)
	w.buf = append(b, '\n')
	if _, err := w.bw.Write(w.buf); err != nil {
		w.err = err
		return
	}
	if t.Sub(w.lastFlush) >= FlushEvery {
		w.lastFlush = t
		w.err = w.flush()
	}
}

// Close writes the end mark and closes the file.
func (w *Writer) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err == nil {
		b := strconv.AppendInt([]byte("e\t"), w.now().Sub(w.start).Nanoseconds(), 10)
		_, w.err = w.bw.Write(append(b, '\n'))
	}
	if w.err == nil {
		w.err = w.bw.Flush()
	}
	err := errors.Join(w.err, w.gz.Close(), w.f.Close())
	if err != nil {
		return fmt.Errorf("writing the recording %s: %w: check the disk", w.f.Name(), err)
	}
	return nil
}

func (w *Writer) flush() error {
	if err := w.bw.Flush(); err != nil {
		return err
	}
	if err := w.gz.Flush(); err != nil {
		return err
	}
	return nil
}

func trimNewline(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == '\r') {
		b = b[:len(b)-1]
	}
	return b
}
