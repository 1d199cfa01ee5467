package session

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"sync/atomic"
	"time"

	"github.com/kubectl-pixie/kubectl-pixie/plugin/ndjson"
	"github.com/kubectl-pixie/kubectl-pixie/plugin/render"
	"github.com/kubectl-pixie/kubectl-pixie/probes/api"
)

// Line is one NDJSON record from a probe pod.
type Line struct {
	Node  string // the node the record came from
	Table string // the record's "table" field
	Seq   uint64 // the record's "seq" field (0 if absent)
	// Raw is the record as the agent wrote it (no "node": receivers stamp
	// it with Node if they want it); it is owned by the receiver.
	Raw []byte

	at        time.Time // when the node wrote it (the kubelet's timestamp), if known
	droppable bool      // a per-request record the plugin may shed when behind (shed.go)
}

// stream is the per-pod reading state that survives reconnects: the log API
// replays the container's output from the start on every connection, so
// records with a seq at or below lastSeq, and the first rawSeen lines that
// carry no seq, were already delivered.
type stream struct {
	node string

	lastSeq uint64
	rawSeen int // lines without seq delivered (or kept) so far
	records int
	tail    tailBuffer
	// dropped counts the records shed while behind (shed.go); skew is the
	// smallest read-minus-write time seen, the base of the lag.
	dropped atomic.Uint64
	skew    time.Duration
	skewSet bool
	// shed says whether a per-request record written at at is to be
	// dropped now (shed.go); nil: never.
	shed func(at time.Time) bool
	// final is set by the agent's last record (probe_stats with final):
	// the stream is complete even if the pod status still says running.
	final bool
	// check decides on the agent from its first record (its hello, or a
	// record of an agent too old to say its version); checked is set once
	// it ran, refused holds its error.
	check   func(agentVersion string, hello bool) error
	checked bool
	refused error
}

func newStream(node string) *stream {
	return &stream{node: node, tail: tailBuffer{max: 12}}
}

// header is the part of every record the session reads.
type header struct {
	Table        string `json:"table"`
	Seq          uint64 `json:"seq"`
	Final        bool   `json:"final"`
	AgentVersion string `json:"agent_version"`
	Sample       string `json:"sample"`
}

// read consumes one connection's worth of log output, calling emit for
// every new record. It returns the reader's error (nil at EOF); a line
// over ndjson.MaxLine is an *ndjson.TooLongError.
func (s *stream) read(r io.Reader, emit func(Line)) error {
	nr := ndjson.NewReader(r)
	raw := 0
	for {
		line, err := nr.ReadLine()
		if len(line) > 0 && (err == nil || errors.Is(err, io.EOF)) {
			// A final line without '\n' at EOF is only complete if the
			// container has exited; a broken connection may cut it. Records
			// end in '}', so a cut one fails to parse and is read again on
			// the next connection (it has no seq yet, so it is not counted).
			at, rec := cutTimestamp(line)
			s.handle(rec, at, &raw, err != nil, emit)
			if s.refused != nil {
				return s.refused
			}
			if s.final {
				// Nothing follows the agent's last record: do not wait
				// for the kubelet to notice the exit and close the stream.
				return nil
			}
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
	}
}

func (s *stream) handle(line []byte, at time.Time, raw *int, partial bool, emit func(Line)) {
	line = bytes.TrimRight(line, "\r\n")
	trimmed := bytes.TrimSpace(line)
	if len(trimmed) == 0 {
		return
	}
	if !partial && s.checked && s.shed != nil {
		if seq, ok := eventSeq(trimmed); ok && seq > s.lastSeq && s.shed(at) {
			s.lastSeq = seq // dropped before any decoding or copy
			s.dropped.Add(1)
			return
		}
	}
	h, isRecord := eventHeader(trimmed)
	if !isRecord {
		isRecord = trimmed[0] == '{' && json.Unmarshal(trimmed, &h) == nil
	}
	if !isRecord && partial {
		return // possibly cut; the next connection replays it whole
	}
	if isRecord && h.Seq > 0 {
		if h.Seq <= s.lastSeq {
			return
		}
		s.lastSeq = h.Seq
	} else {
		*raw++
		if *raw <= s.rawSeen {
			return
		}
		s.rawSeen = *raw
	}
	if !isRecord || h.Table == "probe_log" {
		s.tail.add(string(line)) // what explains a failure; data records do not
	}
	if !isRecord {
		return
	}
	if !s.checked && s.check != nil {
		s.checked = true
		if err := s.check(h.AgentVersion, h.Table == api.TableAgentHello); err != nil {
			s.refused = err
			return
		}
	}
	if h.Table == api.TableAgentHello {
		return // the transport's, not the views'
	}
	s.records++
	if h.Table == api.TableProbeStats {
		s.final = s.final || h.Final
		if d := s.dropped.Load(); d > 0 {
			trimmed = withDropped(trimmed, d)
		}
	}
	emit(Line{Node: s.node, Table: h.Table, Seq: h.Seq, Raw: bytes.Clone(trimmed),
		at: at, droppable: api.IsEventTable(h.Table) && h.Sample == ""})
}

// eventHeader is the header of a per-request record, read from its first
// bytes as the agent writes them (eventSeq) once the record is known to be
// valid JSON; ok is false for any other record or layout, which is
// decoded. Decoding the header of every request with encoding/json was
// most of the plugin's cost per record with -o json (BenchmarkStreamRecord).
func eventHeader(rec []byte) (h header, ok bool) {
	seq, ok := eventSeq(rec)
	if !ok || !json.Valid(rec) {
		return header{}, false
	}
	table := rec[len(`{"table":"`):]
	return header{Table: string(table[:bytes.IndexByte(table, '"')]), Seq: seq}, true
}

// tailBuffer keeps the last lines of a probe's output for error reports.
type tailBuffer struct {
	max   int
	lines []string
}

func (t *tailBuffer) add(l string) {
	if len(l) > 500 {
		l = l[:500] + "..."
	}
	t.lines = append(t.lines, l)
	if len(t.lines) > t.max {
		t.lines = t.lines[len(t.lines)-t.max:]
	}
}

// summary renders the tail for an error message: probe_log records as
// "msg (remedy)", other lines as they are.
func (t *tailBuffer) summary(indent string) string {
	var b strings.Builder
	for _, l := range t.lines {
		var pl struct {
			Table  string `json:"table"`
			Level  string `json:"level"`
			Msg    string `json:"msg"`
			Remedy string `json:"remedy"`
		}
		if json.Unmarshal([]byte(l), &pl) == nil && pl.Table != "" {
			if pl.Table != "probe_log" {
				continue // data records say nothing about the failure
			}
			l = pl.Level + ": " + pl.Msg
			if pl.Remedy != "" {
				l += " (" + pl.Remedy + ")"
			}
		}
		b.WriteString(indent)
		b.WriteString(render.Sanitize(l)) // a pod's output: never raw to a terminal
		b.WriteByte('\n')
	}
	return strings.TrimRight(b.String(), "\n")
}

// probeError returns the last error-level probe_log of the tail, if any.
func (t *tailBuffer) probeError() string {
	for i := len(t.lines) - 1; i >= 0; i-- {
		var pl struct {
			Table  string `json:"table"`
			Level  string `json:"level"`
			Msg    string `json:"msg"`
			Remedy string `json:"remedy"`
		}
		if json.Unmarshal([]byte(t.lines[i]), &pl) == nil && pl.Table == "probe_log" && pl.Level == "error" {
			if pl.Remedy != "" {
				return render.Sanitize(pl.Msg + ": " + pl.Remedy)
			}
			return render.Sanitize(pl.Msg)
		}
	}
	return ""
}
