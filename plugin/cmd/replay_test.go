package cmd

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/kubectl-pixie/kubectl-pixie/plugin/recording"
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
		{[]string{rec, "--min-latency", "100ms"}, "give --min-latency to the recorded run"},
		{[]string{rec, "--status", "404"}, "use --status 4xx, or give --status 404 to the recorded run"},
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
