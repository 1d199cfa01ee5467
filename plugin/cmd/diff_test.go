package cmd

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/cli-runtime/pkg/genericiooptions"
)

// Bad arguments, files and flags are refused with what to do, before
// anything is compared.
func TestDiffRefuses(t *testing.T) {
	trace, trace2, prof, other := recordFile(t, "trace"), recordFile(t, "trace"), recordFile(t, "profile"), recordFile(t, "top")
	notRec := filepath.Join(t.TempDir(), "x")
	_ = os.WriteFile(notRec, []byte("hello"), 0o600)
	for _, c := range []struct {
		args []string
		says string
	}{
		{nil, "diff compares two recordings, not 0"},
		{[]string{trace}, "diff compares two recordings, not 1"},
		{[]string{trace, filepath.Join(t.TempDir(), "none")}, "cannot open the recording"},
		{[]string{trace, notRec}, "not a kubectl pixie recording"},
		{[]string{trace, prof}, "compare two recordings of the same command"},
		{[]string{other, other}, "diff compares recordings of trace, map, profile or memory"},
		{[]string{trace, trace2, "-o", "svg"}, "-o svg draws profiles"},
		{[]string{trace, trace2, "-o", "yaml"}, "unknown output format"},
		{[]string{trace, trace2, "--pprof", t.TempDir()}, "--pprof writes profiles"},
		{[]string{prof, prof, "--pprof", notRec}, "is not a directory"},
		{[]string{trace, trace2, "--fail-if", "cpu > +1%"}, `unknown column "cpu"`},
		{[]string{trace, trace2, "--min-change", "-1"}, "at least 0"},
	} {
		var out, errOut bytes.Buffer
		cmd := NewCmdDiff(nil, genericiooptions.IOStreams{Out: &out, ErrOut: &errOut})
		cmd.SetArgs(c.args)
		cmd.SilenceErrors, cmd.SilenceUsage = true, true
		err := cmd.Execute()
		if err == nil || !strings.Contains(err.Error(), c.says) {
			t.Errorf("%q: error %v, want one saying %q", c.args, err, c.says)
		}
	}
}

// Two recordings without requests compare to an empty table.
func TestDiffEmpty(t *testing.T) {
	for command, head := range map[string]string{"trace": "SERVICE", "map": "EDGE"} {
		var out, errOut bytes.Buffer
		cmd := NewCmdDiff(nil, genericiooptions.IOStreams{Out: &out, ErrOut: &errOut})
		cmd.SetArgs([]string{recordFile(t, command), recordFile(t, command), "--fail-if", "p99 > +1ms"})
		if err := cmd.Execute(); err != nil || !strings.Contains(out.String(), "0 changes marked") || !strings.Contains(out.String(), head) {
			t.Errorf("%s: %v\n%s%s", command, err, out.String(), errOut.String())
		}
	}
}
