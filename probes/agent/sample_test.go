//go:build linux

package agent

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kubectl-pixie/kubectl-pixie/plugin/driver"
	"github.com/kubectl-pixie/kubectl-pixie/plugin/render"
	"github.com/kubectl-pixie/kubectl-pixie/plugin/traceview"
	"github.com/kubectl-pixie/kubectl-pixie/probes/api"
	"github.com/kubectl-pixie/kubectl-pixie/probes/api/stats"
	"github.com/kubectl-pixie/kubectl-pixie/probes/conn"
	"github.com/kubectl-pixie/kubectl-pixie/probes/protocols"
	"github.com/kubectl-pixie/kubectl-pixie/probes/socktrace"
)

// echoRun feeds the toy echo protocol a client session, one echo per
// entry of texts, each answered after its delay ("ERR ..." texts are
// refused), and returns the agent's NDJSON.
func echoRun(t *testing.T, cfg api.TraceConfig, texts []string, delays []time.Duration) []byte {
	t.Helper()
	var buf bytes.Buffer
	out := NewEmitter(&buf)
	cfg.Comms = []string{"toy"}
	traceDefaults(&cfg)
	p := newPipeline(&cfg, api.DataAccessFull, out, append(protocols.All(), echoProtocol{}))
	id := conn.ID{TGID: 42, FD: 7, Gen: 1}
	now := uint64(1_000_000)
	p.handle(&conn.Event{Kind: conn.KindOpen, ID: id, PID: 42, Comm: "toy", StartNs: now, EndNs: now + 10, Role: conn.RoleClient,
		Transport: conn.TransportTCP, Local: netip.MustParseAddrPort("10.0.0.1:40000"), Remote: netip.MustParseAddrPort("10.0.0.2:7")})
	var pos [2]uint64
	send := func(dir conn.Dir, data string) {
		p.handle(&conn.Event{Kind: conn.KindData, ID: id, PID: 42, Comm: "toy", StartNs: now, EndNs: now + 10,
			Dir: dir, Pos: pos[dir-1], Size: uint32(len(data)), Data: []byte(data)})
		pos[dir-1] += uint64(len(data))
	}
	for i, text := range texts {
		now += 1000
		send(conn.Egress, "ECHO "+text+"\n")
		now += uint64(delays[i])
		reply := text
		if strings.HasPrefix(text, "err") {
			reply = "ERR " + text
		}
		send(conn.Ingress, reply+"\n")
	}
	p.handle(&conn.Event{Kind: conn.KindClose, ID: id, StartNs: now + 100, EndNs: now + 110})
	p.emitStats(true, func(cs conn.Stats, records uint64) *api.ProbeStats {
		return probeStats(socktrace.Stats{}, cs, records, 2*time.Second, time.Millisecond, true)
	})
	return buf.Bytes()
}

// samplesOf decodes the sample records of an agent's output as
// "kind text latency".
func samplesOf(t *testing.T, ndjson []byte) []string {
	t.Helper()
	var got []string
	for sc := bufio.NewScanner(bytes.NewReader(ndjson)); sc.Scan(); {
		var ev struct {
			echoEvent
			Sample    string         `json:"sample"`
			SampleRow *api.SampleRow `json:"sample_row"`
		}
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Fatal(err)
		}
		if ev.Sample == "" {
			continue
		}
		if ev.Table != "echo_events" || ev.SampleRow == nil || ev.SampleRow.LatencyNs != ev.Latency || ev.SampleRow.Endpoint != "echo ECHO "+ev.Text {
			t.Errorf("sample record %s", sc.Bytes())
		}
		// Latencies run from the request's first byte to the response's
		// last, a few ns over the delays: compare to the millisecond.
		got = append(got, fmt.Sprintf("%s %s %v", ev.Sample, ev.Text, time.Duration(ev.Latency).Round(time.Millisecond)))
	}
	return got
}

// A protocol outside the tree gets --slow and --errors through the
// api.Record plumbing: per endpoint (here each echo text) the slowest
// over the threshold, slowest first, and the latest errors, latest first,
// sent once at the end, whether or not every request is streamed.
func TestSamplesOfAnyProtocol(t *testing.T) {
	ms := func(v ...int) []time.Duration {
		var d []time.Duration
		for _, x := range v {
			d = append(d, time.Duration(x)*time.Millisecond)
		}
		return d
	}
	texts := []string{"a", "a", "a", "a", "b", "err1", "a", "err1", "err1", "b"}
	delays := ms(300, 100, 500, 250, 900, 5, 400, 6, 7, 10)
	for _, emit := range []bool{false, true} {
		out := echoRun(t, api.TraceConfig{EmitEvents: emit, Samples: &api.SampleConfig{SlowNs: int64(250 * time.Millisecond), Errors: true, PerEndpoint: 3}}, texts, delays)
		got := samplesOf(t, out)
		// "a": the fastest over 250ms makes room, 100ms is under it.
		want := []string{"slow a 500ms", "slow a 400ms", "slow a 300ms", "slow b 900ms", "error err1 7ms", "error err1 6ms", "error err1 5ms"}
		if !slices.Equal(got, want) {
			t.Errorf("emit events %v: samples %q, want %q", emit, got, want)
		}
		if n := bytes.Count(out, []byte(`"table":"echo_events"`)); emit && n != len(texts)+len(want) || !emit && n != len(want) {
			t.Errorf("emit events %v: %d echo_events records", emit, n)
		}
	}
}

// The table view lists the samples below the table, slowest first, then
// the errors in time order, with their status and latency.
func TestSamplesInTable(t *testing.T) {
	texts := []string{"a", "err1", "b"}
	delays := []time.Duration{300 * time.Millisecond, 2 * time.Millisecond, 700 * time.Millisecond}
	cfg := api.TraceConfig{Samples: &api.SampleConfig{SlowNs: int64(250 * time.Millisecond), Errors: true}}
	ndjson := echoRun(t, cfg, texts, delays)
	var out, errOut bytes.Buffer
	now := time.Unix(1_700_000_000, 0)
	clock := func() time.Time { return now }
	v := traceview.New(&errOut, traceview.Options{Output: "wide", Window: 2 * time.Second, Now: clock,
		Samples: render.NewSamples(5, cfg.Samples.SlowNs, true)})
	screen := driver.NewScreen(v, driver.Options{Out: &out, ErrOut: &errOut, Now: clock})
	ready := []byte(`{"table":"probe_ready","probe":"trace","targets":1}`)
	for _, l := range append([][]byte{ready}, bytes.Split(ndjson, []byte("\n"))...) {
		screen.Line("", l)
	}
	if err := screen.End(nil); err != nil {
		t.Fatal(err)
	}
	if errOut.Len() > 0 {
		t.Errorf("stderr %q", errOut.String())
	}
	table := out.String()
	slowAt, errAt := strings.Index(table, "SLOWEST (≥ 250ms; up to 5 per endpoint)"), strings.Index(table, "ERRORS (the latest 5 per endpoint)")
	if slowAt < 0 || errAt < slowAt {
		t.Fatalf("no sections, or out of order:\n%s", table)
	}
	var rows []string
	for _, l := range strings.Split(table[slowAt:], "\n") {
		// TIME SERVICE PID PEER REQUEST... STATUS LATENCY "7 B / 2 B"
		if f := strings.Fields(l); len(f) > 9 && f[1] == "toy" {
			rows = append(rows, strings.Join(f[3:len(f)-5], " "))
		}
	}
	want := []string{"10.0.0.2:7 echo ECHO b OK 700ms", "10.0.0.2:7 echo ECHO a OK 300ms", "10.0.0.2:7 echo ECHO err1 ERR 2.0ms"}
	if !slices.Equal(rows, want) {
		t.Errorf("sample rows %q, want %q:\n%s", rows, want, table)
	}
}

// The samples share one budget of bytes: past it, a request that would be
// kept is counted, not kept, and the lists already kept stay.
func TestSamplesBudget(t *testing.T) {
	s := newSampler(api.SampleConfig{SlowNs: 1, Errors: true, PerEndpoint: 2}, 3*sampleOverhead)
	for i := range 10 {
		rec := &echoEvent{Header: api.Header{}, ConnColumns: api.ConnColumns{PID: 1}, Text: fmt.Sprint(i)}
		s.offer(rec, &stats.Observation{Protocol: "echo", Method: "ECHO", Path: fmt.Sprint(i % 5), Class: "ERR", LatencyNs: int64(i + 1), TimeNs: int64(i)})
	}
	kept := 0
	for _, sl := range s.eps {
		kept += len(sl.slow) + len(sl.errs)
	}
	if s.held > s.budget || kept == 0 || s.dropped == 0 || kept+int(s.dropped) != 20 {
		t.Errorf("held %d of %d bytes, kept %d, dropped %d (want some of each, 20 in all)", s.held, s.budget, kept, s.dropped)
	}
}
