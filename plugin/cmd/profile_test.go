package cmd

import (
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/pprof/profile"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/kubectl-pixie/kubectl-pixie/plugin/driver"
	"github.com/kubectl-pixie/kubectl-pixie/plugin/profileview"
	"github.com/kubectl-pixie/kubectl-pixie/plugin/target"
	"github.com/kubectl-pixie/kubectl-pixie/probes/api"
)

func TestProfileValidate(t *testing.T) {
	ok := func(o *ProfileOptions) *ProfileOptions { o.Local = true; o.PIDs = []int{42}; return o }
	streams, _, _, _ := genericiooptions.NewTestIOStreams()
	for name, tc := range map[string]struct {
		mod     func(o *ProfileOptions)
		wantErr string
	}{
		"local pid":         {func(o *ProfileOptions) {}, ""},
		"no target":         {func(o *ProfileOptions) { o.PIDs = nil }, "--pid PID, --comm NAME or --all"},
		"args with local":   {func(o *ProfileOptions) { o.Args = []string{"pod/x"} }, "takes no TYPE/NAME"},
		"pid without local": {func(o *ProfileOptions) { o.Local = false }, "add --local"},
		"nothing":           {func(o *ProfileOptions) { o.Local = false; o.PIDs = nil }, "nothing to profile"},
		"hz":                {func(o *ProfileOptions) { o.Hz = 5000 }, "--hz 5000 is out of range"},
		"unwind":            {func(o *ProfileOptions) { o.Unwind = "dwarf" }, "use auto, fp or cfi"},
		"duration":          {func(o *ProfileOptions) { o.Duration = time.Hour }, "--duration 1h0m0s is out of range"},
		"output":            {func(o *ProfileOptions) { o.Output = "png" }, `unknown output format "png"`},
		"color":             {func(o *ProfileOptions) { o.Color = "blue" }, "--color"},
		"pid 0":             {func(o *ProfileOptions) { o.PIDs = []int{0} }, "not a process ID"},
	} {
		t.Run(name, func(t *testing.T) {
			o := ok(NewProfileOptions(streams))
			tc.mod(o)
			err := o.Validate()
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err %v, want %q", err, tc.wantErr)
			}
		})
	}
}

func TestProfileConfig(t *testing.T) {
	streams, _, _, _ := genericiooptions.NewTestIOStreams()
	o := NewProfileOptions(streams)
	o.PIDs, o.Comms, o.Kernel, o.Hz, o.Duration = []int{1, 2}, []string{"nginx"}, true, 49, 5*time.Second
	cfg := o.Config()
	if len(cfg.PIDs) != 2 || cfg.PIDs[1] != 2 || cfg.Comms[0] != "nginx" || !cfg.Kernel || cfg.Hz != 49 || cfg.DurationNs != int64(5*time.Second) {
		t.Fatalf("%+v", cfg)
	}
}

// fakeAgent replays NDJSON records as an agent would stream them.
func fakeAgent(recs ...any) driver.Source {
	return func(_ context.Context, emit func(string, []byte)) error {
		for _, r := range recs {
			b, _ := json.Marshal(r)
			emit("", b)
		}
		return nil
	}
}

func stackRec(stack string, n uint64) *api.StackTrace {
	r := &api.StackTrace{Header: api.Header{Table: api.TableStackTraces, V: 1}, PID: 7, Comm: "web", Stack: stack, Count: n}
	r.Modules = strings.TrimSuffix(strings.Repeat("web;", strings.Count(stack, ";")+1), ";")
	return r
}

func runProfileWith(t *testing.T, output, file string) (string, string) {
	t.Helper()
	streams, _, out, errOut := genericiooptions.NewTestIOStreams()
	o := NewProfileOptions(streams)
	o.Local, o.PIDs, o.Output, o.OutputFile = true, []int{7}, output, file
	o.run = fakeAgent(
		&api.ProbeReady{Header: api.Header{Table: api.TableProbeReady}, Probe: "profile", Targets: 1},
		stackRec("main.main;main.handle;crypto/sha256.block", 60),
		stackRec("main.main;runtime.mallocgc", 20),
		&api.ProbeStats{Header: api.Header{Table: api.TableProbeStats}, Probe: "profile", WindowNs: 1e9, EventsCaptured: 80},
		stackRec("main.main;main.handle;crypto/sha256.block", 20), // a second delta
		&api.ProbeStats{Header: api.Header{Table: api.TableProbeStats}, Probe: "profile", WindowNs: 2e9, EventsCaptured: 100, UserCPUNs: 2e6, Final: true},
	)
	if err := o.Validate(); err != nil {
		t.Fatal(err)
	}
	if err := o.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	return out.String(), errOut.String()
}

func TestProfileRunFormats(t *testing.T) {
	out, errOut := runProfileWith(t, "terminal", "")
	if !strings.Contains(errOut, "samples 100 (99 Hz") || !strings.Contains(errOut, "lost 0") {
		t.Fatalf("summary: %q", errOut)
	}
	if !strings.Contains(out, "crypto/sha256.block") || !strings.Contains(out, "80.0%") || strings.Contains(out, "\x1b[") {
		t.Fatalf("terminal output (not a TTY: top table, flame graph, no escapes):\n%s", out)
	}

	out, _ = runProfileWith(t, "folded", "")
	if out != "web;main.main;main.handle;crypto/sha256.block 80\nweb;main.main;runtime.mallocgc 20\n" {
		t.Fatalf("folded:\n%s", out)
	}

	file := filepath.Join(t.TempDir(), "cpu.pb.gz")
	_, errOut = runProfileWith(t, "pprof", file)
	if !strings.Contains(errOut, "wrote "+file) {
		t.Fatalf("stderr: %q", errOut)
	}
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	p, err := profile.Parse(f)
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, s := range p.Sample {
		n += s.Value[0]
	}
	if n != 100 {
		t.Fatalf("pprof holds %d samples, want 100", n)
	}

	out, _ = runProfileWith(t, "json", "")
	if lines := strings.Count(out, "\n"); lines != 6 || !strings.Contains(out, `"table":"stack_traces"`) {
		t.Fatalf("json passes records through (%d lines):\n%s", lines, out)
	}

	out, _ = runProfileWith(t, "speedscope", "")
	var ss map[string]any
	if err := json.Unmarshal([]byte(out), &ss); err != nil || ss["$schema"] == nil {
		t.Fatalf("speedscope: %v\n%s", err, out)
	}
	out, _ = runProfileWith(t, "svg", "")
	if !strings.HasPrefix(out, "<?xml") || !strings.Contains(out, "crypto/sha256.block") {
		t.Fatal("svg")
	}
}

func TestProfileAgentError(t *testing.T) {
	streams, _, _, errOut := genericiooptions.NewTestIOStreams()
	o := NewProfileOptions(streams)
	o.Local, o.PIDs = true, []int{7}
	o.run = fakeAgent(&api.ProbeLog{Header: api.Header{Table: api.TableProbeLog}, Level: api.LevelError, Msg: "loading the profile BPF program: operation not permitted"})
	if err := o.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(errOut.String(), "error: loading the profile BPF program") {
		t.Fatalf("stderr: %q", errOut.String())
	}
}

// Cluster mode: one probe pod per node, each told its node's containers
// and pods (or the whole node); records from two nodes merge.
func TestProfileClusterSession(t *testing.T) {
	streams, _, _, _ := genericiooptions.NewTestIOStreams()
	o := NewProfileOptions(streams)
	o.Hz, o.Kernel = 49, true
	o.targets = &target.Set{Nodes: []target.Node{
		{Name: "n1", Pods: []target.Pod{{Name: "web-0", UID: "u1", AllContainers: true, Containers: []target.Container{{Name: "app", ID: "c1"}}}}},
		{Name: "n2", All: true, NodePodUIDs: []string{"u2"}},
	}}
	so := o.sessionOptions()
	if so.Probe != "profile" || so.Window != o.Duration || len(so.Targets) != 2 {
		t.Fatalf("%+v", so)
	}
	for i, want := range []api.ProfileConfig{
		{ContainerIDs: []string{"c1"}, PodUIDs: []string{"u1"}, DurationNs: int64(o.Duration), Hz: 49, Kernel: true},
		{All: true, NodeScope: api.NodeScope{NodeOnly: true, NodePodUIDs: []string{"u2"}}, DurationNs: int64(o.Duration), Hz: 49, Kernel: true},
	} {
		args, err := so.AgentArgs(so.Targets[i])
		if err != nil || len(args) != 3 || args[0] != "profile" || args[1] != "--config" {
			t.Fatalf("args %v %v", args, err)
		}
		var got api.ProfileConfig
		if err := json.Unmarshal([]byte(args[2]), &got); err != nil {
			t.Fatal(err)
		}
		if g, w := mustJSON(got), mustJSON(want); g != w {
			t.Fatalf("node %d config %s, want %s", i, g, w)
		}
	}

	// Two nodes stream the same stack: the profile keeps them apart by node
	// and the top functions merge them.
	v := profileview.New(io.Discard, profileview.Options{Hz: 99})
	for _, node := range []string{"n1", "n2"} {
		b, _ := json.Marshal(stackRec("main.main;hot", 10))
		v.Line(node, b)
	}
	if p := v.Profile(); p.Total() != 20 || len(p.Processes()) != 2 || p.Top(1)[0].Self != 20 {
		t.Fatalf("total %d processes %v", p.Total(), p.Processes())
	}
}

func mustJSON(v any) string { b, _ := json.Marshal(v); return string(b) }
