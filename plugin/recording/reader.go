package recording

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/kubectl-pixie/kubectl-pixie/plugin/ndjson"
)

// Record is one record read back: when it arrived after the start, from
// which node.
type Record struct {
	At   time.Duration
	Node string
	Line []byte
}

// TruncatedError is a recording that stops before its end mark: the run
// was killed or the file was cut. What came before it is good.
type TruncatedError struct{ At time.Duration }

func (e *TruncatedError) Error() string {
	return fmt.Sprintf("the recording ends early, after %s (the run was killed or the file is cut): replayed up to its last whole record", e.At.Round(time.Millisecond))
}

// Reader reads a recording.
type Reader struct {
	Header Header
	r      *ndjson.Reader
	last   time.Duration
	end    bool
}

// NewReader reads the header of a recording; it refuses files that are
// not recordings or have another schema version.
func NewReader(r io.Reader) (*Reader, error) {
	gz, err := gzip.NewReader(r)
	if err != nil {
		return nil, errors.New("not a kubectl pixie recording (not gzip): give a file written by --record")
	}
	rd := &Reader{r: ndjson.NewReaderSize(gz, ndjson.MaxLine+64)}
	line, err := rd.r.ReadLine()
	if err != nil && (len(line) == 0 || line[len(line)-1] != '\n') {
		return nil, errors.New("not a kubectl pixie recording (no header): give a file written by --record")
	}
	var probe struct {
		Schema *int   `json:"pixie_recording"`
		Plugin string `json:"plugin_version"`
	}
	if json.Unmarshal(line, &probe) != nil || probe.Schema == nil {
		return nil, errors.New("not a kubectl pixie recording (bad header): give a file written by --record")
	}
	if *probe.Schema != Schema {
		return nil, fmt.Errorf("the recording has schema version %d and this kubectl pixie reads version %d: replay it with the kubectl pixie that wrote it (%q)", *probe.Schema, Schema, probe.Plugin)
	}
	if err := json.Unmarshal(line, &rd.Header); err != nil {
		return nil, fmt.Errorf("not a kubectl pixie recording (bad header: %w): give a file written by --record", err)
	}
	return rd, nil
}

// Next returns the next record. At the end mark it returns io.EOF and
// the run's length in End; a file cut before it returns a
// *TruncatedError.
func (rd *Reader) Next() (Record, error) {
	if rd.end {
		return Record{}, io.EOF
	}
	line, err := rd.r.ReadLine()
	if err != nil && (len(line) == 0 || line[len(line)-1] != '\n') {
		return Record{}, &TruncatedError{At: rd.last}
	}
	line = line[:len(line)-1]
	kind, rest, _ := bytes.Cut(line, []byte{'\t'})
	switch string(kind) {
	case "e":
		at, err := strconv.ParseInt(string(rest), 10, 64)
		if err != nil || at < 0 {
			return Record{}, rd.corrupt()
		}
		rd.end, rd.last = true, time.Duration(at)
		return Record{}, io.EOF
	case "r":
		return rd.record(rest)
	}
	return Record{}, rd.corrupt()
}

// End is the run's length, once Next returned io.EOF.
func (rd *Reader) End() time.Duration { return rd.last }

func (rd *Reader) record(rest []byte) (Record, error) {
	at, rest, ok1 := bytes.Cut(rest, []byte{'\t'})
	node, rec, ok2 := bytes.Cut(rest, []byte{'\t'})
	n, err := strconv.ParseInt(string(at), 10, 64)
	if !ok1 || !ok2 || err != nil || n < 0 {
		return Record{}, rd.corrupt()
	}
	name, err := strconv.Unquote(string(node))
	if err != nil {
		return Record{}, rd.corrupt()
	}
	rd.last = max(rd.last, time.Duration(n))
	return Record{At: time.Duration(n), Node: name, Line: rec}, nil
}

func (rd *Reader) corrupt() error {
	return fmt.Errorf("the recording is corrupt after %s: replayed up to there; re-record the run", rd.last.Round(time.Millisecond))
}
