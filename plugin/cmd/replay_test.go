package cmd

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/kubectl-pixie/kubectl-pixie/plugin/recording"
	"github.com/kubectl-pixie/kubectl-pixie/probes/api"
	"github.com/kubectl-pixie/kubectl-pixie/probes/api/stats"
)

func recordFile(t *testing.T, command string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "run.pixie.gz")
	w, err := recording.Create(path, recording.Header{Command: command, WindowNs: int64(10 * time.Second), Output: "table"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	w.Record("", []byte(`{"table":"probe_ready","v":1,"probe":"trace"}`))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

// Bad arguments and files are refused with what to do, before anything
// is shown.
func TestReplayRefuses(t *testing.T) {
	rec := recordFile(t, "trace")
	notRec := filepath.Join(t.TempDir(), "x")
	_ = os.WriteFile(notRec, []byte("hello"), 0o600)
	future := recordFile(t, "top")
	for _, c := range []struct {
		args []string
		says string
	}{
		{nil, "replay needs a recording"},
		{[]string{"-o", "wide"}, "replay needs a recording"},
		{[]string{filepath.Join(t.TempDir(), "none")}, "cannot open the recording"},
		{[]string{notRec}, "not a kubectl pixie recording"},
		{[]string{future}, "which this kubectl pixie cannot replay"},
		{[]string{rec, "--no-such-flag"}, "view flags of trace"},
		{[]string{rec, "other"}, "replay takes one recording"},
		{[]string{rec, "--record", "y"}, "copy the file instead"},
		// A recording whose requests carry no observations (older).
		{[]string{rec, "--min-latency", "100ms"}, "carry no observations (recorded by an older kubectl pixie) and its rows keep latency sketches"},
		{[]string{rec, "--status", "404"}, "use --status 4xx, or record again"},
		{[]string{rec, "--protocol", "http", "-o", "json"}, "filter them with jq"},
		{[]string{rec, "-o", "yaml"}, "unknown output format"},
	} {
		var out, errOut bytes.Buffer
		cmd := NewCmdReplay(nil, genericiooptions.IOStreams{Out: &out, ErrOut: &errOut})
		cmd.SetArgs(c.args)
		err := cmd.Execute()
		if err == nil || !strings.Contains(err.Error(), c.says) {
			t.Errorf("%q: error %v, want one saying %q", c.args, err, c.says)
		}
	}
}

// --record is checked before anything runs: a directory or a missing
// directory is refused.
func TestRecordFlagValidated(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct{ path, says string }{
		{dir, "is a directory"},
		{filepath.Join(dir, "no", "run.gz"), "does not exist"},
	} {
		o := newOutputOptions("table")
		o.Record = c.path
		if err := o.validate("table"); err == nil || !strings.Contains(err.Error(), c.says) {
			t.Errorf("--record %s: error %v, want one saying %q", c.path, err, c.says)
		}
	}
	o := newOutputOptions("table")
	o.Record = filepath.Join(dir, "run.gz")
	if err := o.validate("table"); err != nil {
		t.Errorf("--record in an existing directory: %v", err)
	}
	if _, err := os.Stat(o.Record); err == nil {
		t.Error("validate created the file")
	}
}

// observedRecording is a trace recording as --record writes it now: every
// request carries its observation, and the stats rows count them all.
func observedRecording(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "run.pixie.gz")
	h := recording.Header{Command: "trace", WindowNs: int64(10 * time.Second), Output: "table", Config: []byte(`{"event_obs":true}`)}
	w, err := recording.Create(path, h, nil)
	if err != nil {
		t.Fatal(err)
	}
	w.Record("", []byte(`{"table":"probe_ready","v":1,"probe":"trace"}`))
	agg := stats.NewAggregator(stats.Config{})
	for i, r := range []struct {
		path   string
		status int
		ms     int64
	}{{"/a", 200, 5}, {"/a", 200, 150}, {"/b/7", 503, 120}, {"/b/8", 500, 300}, {"/b/9", 503, 2}, {"/c", 404, 200}} {
		o := stats.Observation{Service: "web", Role: "server", Method: "GET", Path: r.path, Status: r.status,
			LatencyNs: r.ms * 1e6, TimeNs: int64(i+1) * 1e9, RespBytes: 10}
		agg.Add(o)
		ev := api.HTTPEvent{Header: api.Header{Table: api.TableHTTPEvents, Obs: &o}, ReqMethod: "GET", ReqPath: r.path, RespStatus: r.status}
		ev.Latency = o.LatencyNs
		w.Record("", ev.AppendJSON(nil))
	}
	b, _ := json.Marshal(api.HTTPStats{Header: api.Header{Table: api.TableHTTPStats}, Rows: agg.Drain()})
	w.Record("", b)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

// A replay of a recording whose requests carry their observations
// applies every filter the agent has, --min-latency and HTTP codes too,
// to the requests: the rows and the -o json events hold exactly those.
func TestReplayRefilters(t *testing.T) {
	rec := observedRecording(t)
	run := func(args ...string) string {
		var out, errOut bytes.Buffer
		cmd := NewCmdReplay(nil, genericiooptions.IOStreams{Out: &out, ErrOut: &errOut})
		cmd.SetArgs(append([]string{rec, "-o", "json"}, args...))
		if err := cmd.Execute(); err != nil {
			t.Fatalf("%q: %v\n%s", args, err, errOut.String())
		}
		var got []string
		for _, l := range strings.Split(strings.TrimSpace(out.String()), "\n") {
			var r struct {
				Table       string `json:"table"`
				ReqPath     string `json:"req_path"`
				StatusClass string `json:"status_class"`
				RespStatus  int    `json:"resp_status"`
				Count       uint64 `json:"count"`
			}
			_ = json.Unmarshal([]byte(l), &r)
			switch r.Table {
			case api.TableHTTPEvents:
				got = append(got, fmt.Sprintf("event %s %d", r.ReqPath, r.RespStatus))
			case api.TableHTTPSummary:
				got = append(got, fmt.Sprintf("row %s %s %d", r.ReqPath, r.StatusClass, r.Count))
			}
		}
		return strings.Join(got, "; ")
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{nil, "event /a 200; event /a 200; event /b/7 503; event /b/8 500; event /b/9 503; event /c 404; row /b/{id} 5xx 3; row /a 2xx 2; row /c 4xx 1"},
		{[]string{"--min-latency", "100ms"}, "event /a 200; event /b/7 503; event /b/8 500; event /c 404; row /b/{id} 5xx 2; row /a 2xx 1; row /c 4xx 1"},
		{[]string{"--status", "503"}, "event /b/7 503; event /b/9 503; row /b/{id} 5xx 2"},
		{[]string{"--status", "503", "--min-latency", "100ms"}, "event /b/7 503; row /b/{id} 5xx 1"},
		{[]string{"--status", "error", "--endpoint", "^GET /b/"}, "event /b/7 503; event /b/8 500; event /b/9 503; row /b/{id} 5xx 3"},
		{[]string{"--protocol", "redis"}, ""},
		{[]string{"--min-latency", "1s"}, ""},
	} {
		if got := run(c.args...); got != c.want {
			t.Errorf("replay -o json %q:\n got %s\nwant %s", c.args, got, c.want)
		}
	}
	var out, errOut bytes.Buffer
	cmd := NewCmdReplay(nil, genericiooptions.IOStreams{Out: &out, ErrOut: &errOut})
	cmd.SetArgs([]string{rec, "--status", "503", "--min-latency", "100ms"})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	if tbl := out.String(); !strings.Contains(tbl, "/b/{id}") || strings.Contains(tbl, "GET /a") || strings.Contains(tbl, "/c") {
		t.Errorf("replay --status 503 --min-latency 100ms: want only the /b/{id} row:\n%s", tbl)
	}
}

// mapRecording is a --local map recording: two callers of one server,
// each request with its observation when observed (as --record writes
// them now), else only the stats rows (an older recording).
func mapRecording(t *testing.T, observed bool) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "map.pixie.gz")
	h := recording.Header{Command: "map", WindowNs: int64(10 * time.Second), Output: "json"}
	if observed {
		h.Config = []byte(`{"map":true,"event_obs":true,"emit_events":true,"data_access":"none"}`)
	}
	w, err := recording.Create(path, h, nil)
	if err != nil {
		t.Fatal(err)
	}
	w.Record("", []byte(`{"table":"probe_ready","v":1,"probe":"trace"}`))
	agg := stats.NewAggregator(stats.Config{})
	for i, r := range []struct {
		from   string
		status int
		ms     int64
	}{{"a (pid 1)", 200, 5}, {"a (pid 1)", 503, 2}, {"a (pid 1)", 200, 300}, {"b (pid 3)", 200, 400}, {"b (pid 3)", 404, 1}, {"b (pid 3)", 200, 250}} {
		o := stats.Observation{Service: "srv (pid 2)", Role: "server", Peer: r.from, Method: "GET", Path: "/x", Status: r.status,
			LatencyNs: r.ms * 1e6, TimeNs: int64(i+1) * 1e9}
		agg.Add(o)
		if observed {
			ev := api.HTTPEvent{Header: api.Header{Table: api.TableHTTPEvents, Obs: &o}, ReqMethod: "GET", ReqPath: "/x", RespStatus: r.status}
			w.Record("", ev.AppendJSON(nil))
		}
	}
	b, _ := json.Marshal(api.HTTPStats{Header: api.Header{Table: api.TableHTTPStats}, Rows: agg.Drain()})
	w.Record("", b)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

// A map's replay takes --protocol, --status, --endpoint and --min-latency
// when its requests carry observations, counting the edges again from
// them; --sort-by and --top on any map recording; the filters on an older
// recording are refused with what to do.
func TestReplayMapRefilters(t *testing.T) {
	observed, older := mapRecording(t, true), mapRecording(t, false)
	run := func(file string, args ...string) (string, error) {
		var out, errOut bytes.Buffer
		cmd := NewCmdReplay(nil, genericiooptions.IOStreams{Out: &out, ErrOut: &errOut})
		cmd.SetArgs(append([]string{file}, args...))
		cmd.SilenceUsage, cmd.SilenceErrors = true, true
		if err := cmd.Execute(); err != nil {
			return "", err
		}
		var got []string
		for _, l := range strings.Split(strings.TrimSpace(out.String()), "\n") {
			var r struct {
				From     string `json:"requestor_service"`
				Requests uint64 `json:"requests"`
				Errors   uint64 `json:"errors"`
			}
			if l != "" && json.Unmarshal([]byte(l), &r) == nil {
				got = append(got, fmt.Sprintf("%s %d/%d", r.From, r.Requests, r.Errors))
			}
		}
		return strings.Join(got, ", "), nil
	}
	for _, c := range []struct {
		file string
		args []string
		want string
	}{
		{observed, nil, "a (pid 1) 3/1, b (pid 3) 3/0"},
		{observed, []string{"--min-latency", "200ms"}, "b (pid 3) 2/0, a (pid 1) 1/0"},
		{observed, []string{"--status", "503"}, "a (pid 1) 1/1"},
		{observed, []string{"--status", "4xx,5xx", "--protocol", "http"}, "a (pid 1) 1/1, b (pid 3) 1/0"},
		{observed, []string{"--endpoint", "^GET /x$", "--min-latency", "3ms", "--sort-by", "p50"}, "b (pid 3) 2/0, a (pid 1) 2/0"},
		{observed, []string{"--protocol", "redis"}, ""},
		{observed, []string{"--sort-by", "err", "--top", "1"}, "a (pid 1) 3/1"},
		{older, []string{"--sort-by", "max", "--top", "1"}, "b (pid 3) 3/0"},
	} {
		got, err := run(c.file, c.args...)
		if err != nil || got != c.want {
			t.Errorf("replay %q: %q (%v), want %q", c.args, got, err, c.want)
		}
	}
	if _, err := run(older, "--min-latency", "200ms"); err == nil || !strings.Contains(err.Error(), "record the map again with this version") {
		t.Errorf("an older map recording with --min-latency: %v, want a refusal saying to record again", err)
	}
}
