package session

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/kubectl-pixie/kubectl-pixie/probes/api"
)

// What the plugin keeps of a stream it cannot merge as fast as the node
// writes (-o json of every request from hundreds of busy nodes): each
// node's backlog stays in the node's log file, not in the plugin, whose
// memory per node is the HTTP/2 receive window (StreamWindow) and its
// share of the merge queue. A stream read more than MaxLag after the node
// wrote it, with the merge queue full, drops its per-request records
// (never summaries, samples or the final record) until it has caught up;
// the drops are counted per node, added to the node's probe_stats
// (events_lost, lost_by[LostPluginBehind]) and said on stderr at the end.

// MaxLag is how far a stream may fall behind its node before the plugin
// sheds its per-request records.
const MaxLag = 2 * time.Second

// LostPluginBehind is the probe_stats lost_by reason of the records the
// plugin dropped because it fell behind.
const LostPluginBehind = "plugin_behind"

// shedder is a stream's shed: a late per-request record is dropped while
// the merge queue is full. The stream then drops it from its first bytes
// (eventSeq), without decoding or copying it: shedding must cost less than
// merging.
func (s *runner) shedder(st *stream) func(time.Time) bool {
	return func(at time.Time) bool {
		return st.lag(at, time.Now()) > MaxLag && len(s.lines) == cap(s.lines)
	}
}

// eventSeq reads the seq of a per-request record from its first bytes, as
// the agent writes them ({"table":"X_events","v":1,"seq":N,...); ok is
// false for any other record, a sample (its "sample" follows the seq) or
// another layout.
func eventSeq(rec []byte) (seq uint64, ok bool) {
	rest, ok := bytes.CutPrefix(rec, []byte(`{"table":"`))
	if !ok {
		return 0, false
	}
	end := bytes.IndexByte(rest, '"')
	if end < 0 || !api.IsEventTable(string(rest[:end])) {
		return 0, false
	}
	rest = rest[end+1:]
	if r, ok := bytes.CutPrefix(rest, []byte(`,"v":`)); ok {
		i := 0
		for i < len(r) && r[i] >= '0' && r[i] <= '9' {
			i++
		}
		rest = r[i:]
	}
	rest, ok = bytes.CutPrefix(rest, []byte(`,"seq":`))
	if !ok {
		return 0, false
	}
	i := 0
	for ; i < len(rest) && rest[i] >= '0' && rest[i] <= '9' && i < 19; i++ {
		seq = seq*10 + uint64(rest[i]-'0')
	}
	if i == 0 || i >= len(rest) || rest[i] != ',' || bytes.HasPrefix(rest[i:], []byte(`,"sample"`)) {
		return 0, false
	}
	return seq, true
}

// send queues l for the merge. A late droppable record is dropped when the
// queue is full; any other record waits for room.
func (s *runner) send(ctx context.Context, n *node, l Line) {
	late := n.stream.lag(l.at, time.Now()) > MaxLag
	if late && l.droppable {
		select {
		case s.lines <- l:
			n.delivered.Add(1)
		default:
			n.stream.dropped.Add(1)
		}
		return
	}
	select {
	case s.lines <- l:
		n.delivered.Add(1)
	case <-ctx.Done():
	}
}

// lag is how much later than the stream's earliest one a record written
// at at (the kubelet's timestamp) is read now; that earliest difference
// absorbs the clock skew between the node and this machine. 0 without a
// timestamp.
func (s *stream) lag(at, now time.Time) time.Duration {
	if at.IsZero() {
		return 0
	}
	d := now.Sub(at)
	if !s.skewSet || d < s.skew {
		s.skew, s.skewSet = d, true
	}
	return d - s.skew
}

// cutTimestamp splits the kubelet's RFC 3339 timestamp (the log API's
// timestamps=true) off a log line.
func cutTimestamp(line []byte) (time.Time, []byte) {
	if len(line) == 0 || line[0] < '0' || line[0] > '9' {
		return time.Time{}, line
	}
	sp := bytes.IndexByte(line[:min(len(line), 48)], ' ')
	if sp < 0 {
		return time.Time{}, line
	}
	t, err := time.Parse(time.RFC3339Nano, string(line[:sp]))
	if err != nil {
		return time.Time{}, line
	}
	return t, line[sp+1:]
}

// withDropped adds the records the plugin dropped from a node to its
// probe_stats record; the record as it was if it does not decode.
func withDropped(rec []byte, dropped uint64) []byte {
	var ps api.ProbeStats
	if json.Unmarshal(rec, &ps) != nil {
		return rec
	}
	ps.EventsLost += dropped
	if ps.LostBy == nil {
		ps.LostBy = map[string]uint64{}
	}
	ps.LostBy[LostPluginBehind] += dropped
	b, err := json.Marshal(ps)
	if err != nil {
		return rec
	}
	return b
}

// droppedWarning says, once at the end, which nodes lost records to the
// plugin falling behind, worst first; "" when none did.
func droppedWarning(nodes []NodeResult) string {
	var hit []NodeResult
	var total uint64
	for _, n := range nodes {
		if n.Dropped > 0 {
			hit = append(hit, n)
			total += n.Dropped
		}
	}
	if len(hit) == 0 {
		return ""
	}
	slices.SortStableFunc(hit, func(a, b NodeResult) int { return int(b.Dropped) - int(a.Dropped) })
	return fmt.Sprintf("warning: the plugin fell more than %s behind %d of %d node(s) and dropped %d per-request record(s) (most from node %s: %d; lost_by %q in probe_stats counts them per node)\n"+
		"  the summaries are whole; to keep every record, probe fewer nodes (-l, a narrower TARGET) or a lower rate per node\n",
		MaxLag, len(hit), len(nodes), total, hit[0].Node, hit[0].Dropped, LostPluginBehind)
}
