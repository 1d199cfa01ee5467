//go:build linux

package agent

import (
	"bytes"
	"encoding/json"
	"io"
	"testing"

	"github.com/kubectl-pixie/kubectl-pixie/probes/api"
)

func httpRecord() *api.HTTPEvent {
	return &api.HTTPEvent{
		Header:      api.Header{Table: api.TableHTTPEvents},
		ConnColumns: api.ConnColumns{Time: 1765000000123456789, PID: 4242, Comm: "nginx", LocalAddr: "127.0.0.1", LocalPort: 8080, RemoteAddr: "127.0.0.1", RemotePort: 51234, TraceRole: "server", Latency: 48213},
		ReqMethod:   "GET", ReqPath: "/a?b=<c>&d", ReqHeaders: map[string]string{"Host": "bench", "Accept": "*/*"},
		RespStatus: 200, RespMessage: "OK", RespBody: "<redacted 17 bytes>", RespBodySize: 17,
	}
}

// The appender fast path writes what the encoder wrote: the same bytes,
// HTML left alone, one record per line, sequence numbers stamped.
func TestEmitterAppenderMatchesEncoder(t *testing.T) {
	var got bytes.Buffer
	em := NewEmitter(&got)
	log := &api.ProbeLog{Header: api.Header{Table: api.TableProbeLog}, Msg: "x"}
	em.Emit(&log.Header, log)
	r := httpRecord()
	em.Emit(&r.Header, r)
	if err := em.Flush(); err != nil {
		t.Fatal(err)
	}
	var want bytes.Buffer
	enc := json.NewEncoder(&want)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(log)
	_ = enc.Encode(r) // MarshalJSON: the record's own encoding, as readers decode it
	if got.String() != want.String() {
		t.Errorf("\n got %s\nwant %s", got.String(), want.String())
	}
	if r.Seq != 2 || !bytes.Contains(got.Bytes(), []byte(`"seq":2,`)) || !bytes.Contains(got.Bytes(), []byte(`"req_path":"/a?b=<c>&d"`)) {
		t.Errorf("seq %d, output %s", r.Seq, got.String())
	}
	var back api.HTTPEvent
	line, _, _ := bytes.Cut(got.Bytes()[bytes.IndexByte(got.Bytes(), '\n')+1:], []byte{'\n'})
	if err := json.Unmarshal(line, &back); err != nil || back.ReqPath != r.ReqPath || back.Latency != r.Latency {
		t.Errorf("round trip: %v %+v", err, back)
	}
}

// BenchmarkEmitHTTPEvent is the agent's -o json cost per request.
func BenchmarkEmitHTTPEvent(b *testing.B) {
	em := NewEmitter(io.Discard)
	r := httpRecord()
	b.ReportAllocs()
	for b.Loop() {
		em.Emit(&r.Header, r)
	}
}
