package cmd

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/kubectl-pixie/kubectl-pixie/plugin/driver"
	"github.com/kubectl-pixie/kubectl-pixie/plugin/session"
	"github.com/kubectl-pixie/kubectl-pixie/plugin/target"
	"github.com/kubectl-pixie/kubectl-pixie/probes/api"
)

func TestMemoryValidate(t *testing.T) {
	for _, c := range []struct {
		name    string
		mod     func(o *MemoryOptions)
		wantErr string
	}{
		{"pid", func(o *MemoryOptions) { o.PIDs = []int{42} }, ""},
		{"comm json alloc", func(o *MemoryOptions) { o.Comms = []string{"x"}; o.Output = "json"; o.Alloc = true }, ""},
		{"alloc uprobes", func(o *MemoryOptions) { o.PIDs = []int{42}; o.Alloc = true; o.AllocMode = "uprobes" }, ""},
		{"alloc mode", func(o *MemoryOptions) { o.PIDs = []int{42}; o.Alloc = true; o.AllocMode = "ebpf" }, "use faults or uprobes"},
		{"no target", func(o *MemoryOptions) {}, "--pid"},
		{"not local", func(o *MemoryOptions) { o.Local = false }, "nothing to watch"},
		{"pid without local", func(o *MemoryOptions) { o.Local = false; o.PIDs = []int{4} }, "add --local"},
		{"dry-run local", func(o *MemoryOptions) { o.All = true; o.DryRun = true }, ""},
		{"local with args", func(o *MemoryOptions) { o.All = true; o.Args = []string{"pod/x"} }, "no TYPE/NAME"},
		{"zero pid", func(o *MemoryOptions) { o.PIDs = []int{0} }, "not a process ID"},
		{"long", func(o *MemoryOptions) { o.All = true; o.Duration = 2 * time.Hour }, "out of range"},
		{"tiny interval", func(o *MemoryOptions) { o.All = true; o.Interval = time.Millisecond }, "too short"},
		{"few samples", func(o *MemoryOptions) { o.All = true; o.Duration = 3 * time.Second }, "fewer than 5"},
		{"output", func(o *MemoryOptions) { o.All = true; o.Output = "yaml" }, "-o table"},
		{"color", func(o *MemoryOptions) { o.All = true; o.Color = "sometimes" }, "auto, always"},
		{"group-by", func(o *MemoryOptions) { o.All = true; o.groupBy.spec = "workload,pod" }, "a workload or a pod, not both"},
	} {
		t.Run(c.name, func(t *testing.T) {
			o := NewMemoryOptions(genericiooptions.NewTestIOStreamsDiscard())
			o.Local = true
			c.mod(o)
			err := o.Validate()
			if c.wantErr == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Fatalf("error %v, want one containing %q", err, c.wantErr)
			}
		})
	}
}

func TestMemoryConfig(t *testing.T) {
	o := NewMemoryOptions(genericiooptions.NewTestIOStreamsDiscard())
	o.PIDs, o.Alloc, o.Interval = []int{7, 9}, true, 500*time.Millisecond
	cfg := o.Config()
	if len(cfg.PIDs) != 2 || cfg.PIDs[1] != 9 || !cfg.Alloc || cfg.IntervalNs != 5e8 || cfg.DurationNs != int64(30*time.Second) || cfg.AllocSampleBytes != 64<<10 {
		t.Fatalf("config %+v", cfg)
	}
}

// fakeRun plays records as an agent would.
func fakeRun(recs ...any) driver.Source {
	return func(_ context.Context, emit func(string, []byte)) error {
		for _, r := range recs {
			b, _ := json.Marshal(r)
			emit("", b)
		}
		return nil
	}
}

func TestMemoryRunTableAndJSON(t *testing.T) {
	var recs []any
	for i := 0; i < 6; i++ {
		recs = append(recs, api.ProcessStats{Header: api.Header{Table: api.TableProcessStats}, Time: int64(i) * 1e9, PID: 5, UPID: "5:1", Comm: "leaky", RSSBytes: uint64(i+1) << 20})
	}
	recs = append(recs, api.MemorySummary{Header: api.Header{Table: api.TableMemorySummary}, PID: 5, UPID: "5:1", Comm: "leaky", Verdict: "leak", Reason: "grew steadily", GrowthBytesPerSec: 1 << 20})

	for _, output := range []string{"table", "json"} {
		streams, _, out, _ := genericiooptions.NewTestIOStreams()
		o := NewMemoryOptions(streams)
		o.Local, o.PIDs, o.Output, o.Duration = true, []int{5}, output, 10*time.Second
		o.run = fakeRun(recs...)
		if err := o.Validate(); err != nil {
			t.Fatal(err)
		}
		if err := o.Run(context.Background()); err != nil {
			t.Fatal(err)
		}
		s := out.String()
		switch output {
		case "table":
			if !strings.Contains(s, "leaky 5: leak: grew steadily") || strings.ContainsRune(s, '\x1b') {
				t.Errorf("table output:\n%s", s)
			}
		case "json":
			if n := bytes.Count(out.Bytes(), []byte("\n")); n != 7 || !strings.Contains(s, `"table":"memory_summary"`) {
				t.Errorf("json output (%d lines):\n%s", n, s)
			}
		}
	}
}

func memTargets() *target.Set {
	return &target.Set{Nodes: []target.Node{
		{Name: "n1", Pods: []target.Pod{{Namespace: "shop", Name: "web-0", UID: "u1", Node: "n1", AllContainers: true, Containers: []target.Container{{Name: "app", ID: "c1"}}}}},
		{Name: "n2", All: true, NodePodUIDs: []string{"u2"}},
	}}
}

// Cluster mode: one probe pod per node, each told its node's containers
// and pods (or the whole node).
func TestMemoryClusterSession(t *testing.T) {
	o := NewMemoryOptions(genericiooptions.NewTestIOStreamsDiscard())
	o.Interval, o.Duration = 500*time.Millisecond, 10*time.Second
	o.targets = memTargets()
	if err := o.Validate(); err != nil {
		t.Fatal(err)
	}
	so := o.sessionOptions()
	if so.Probe != "memory" || so.Window != o.Duration || len(so.Targets) != 2 || so.SessionID == "" {
		t.Fatalf("%+v", so)
	}
	for i, want := range []api.MemoryConfig{
		{ContainerIDs: []string{"c1"}, PodUIDs: []string{"u1"}, DurationNs: int64(o.Duration), IntervalNs: 5e8, AllocSampleBytes: 64 << 10, Syscalls: true},
		{All: true, NodeScope: api.NodeScope{NodeOnly: true, NodePodUIDs: []string{"u2"}}, DurationNs: int64(o.Duration), IntervalNs: 5e8, AllocSampleBytes: 64 << 10, Syscalls: true},
	} {
		args, err := so.AgentArgs(so.Targets[i])
		if err != nil || len(args) != 3 || args[0] != "memory" || args[1] != "--config" {
			t.Fatalf("args %v %v", args, err)
		}
		var got api.MemoryConfig
		if err := json.Unmarshal([]byte(args[2]), &got); err != nil {
			t.Fatal(err)
		}
		if g, w := mustJSON(got), mustJSON(want); g != w {
			t.Fatalf("node %d config %s, want %s", i, g, w)
		}
	}

	o.Probe.PullPolicy = "Sometimes"
	if err := o.Validate(); err == nil || !strings.Contains(err.Error(), "--image-pull-policy") {
		t.Fatalf("probe flags are validated in cluster mode: %v", err)
	}
}

func TestMemoryDryRun(t *testing.T) {
	streams, _, out, _ := genericiooptions.NewTestIOStreams()
	o := NewMemoryOptions(streams)
	o.DryRun, o.Output = true, "yaml"
	o.targets, o.probeNS, o.client = memTargets(), "probes", fake.NewClientset()
	if err := o.Validate(); err != nil {
		t.Fatal(err)
	}
	if err := o.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	y := out.String()
	if strings.Count(y, "kind: Pod") != 2 || !strings.Contains(y, "namespace: probes") || !strings.Contains(y, `\"pod_uids\":[\"u1\"]`) && !strings.Contains(y, `"pod_uids":["u1"]`) {
		t.Fatalf("dry-run YAML:\n%s", y)
	}
	if len(o.client.(*fake.Clientset).Actions()) != 0 {
		t.Fatal("--dry-run must not call the API")
	}
}

// Records of two nodes, stamped by the session, go to the view as they
// are; with --group-by pod,node a row is the pod on each node, named by
// namespace/name.
func TestMemoryClusterRecords(t *testing.T) {
	streams, _, out, _ := genericiooptions.NewTestIOStreams()
	o := NewMemoryOptions(streams)
	o.Duration = 10 * time.Second
	o.targets = memTargets()
	o.groupBy.spec = "pod,node"
	if err := o.groupBy.validate(); err != nil {
		t.Fatal(err)
	}
	o.run = func(_ context.Context, emit func(string, []byte)) error {
		for _, node := range []string{"n1", "n2"} {
			for i := 0; i < 6; i++ {
				r := api.ProcessStats{Header: api.Header{Table: api.TableProcessStats}, Time: int64(i) * 1e9, PID: 5, UPID: "5:1", Comm: "leaky", RSSBytes: uint64(i+1) << 20, PodUID: "u1", ContainerID: "c1"}
				b, _ := json.Marshal(r)
				emit(node, b)
			}
			s := api.MemorySummary{Header: api.Header{Table: api.TableMemorySummary}, PID: 5, UPID: "5:1", Comm: "leaky", Verdict: "leak", Reason: "grew steadily", PodUID: "u1", ContainerID: "c1"}
			b, _ := json.Marshal(s)
			emit(node, b)
		}
		return nil
	}
	if err := o.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	s := out.String()
	if strings.Count(s, "shop/web-0 on n") != 2 || !strings.Contains(s, "shop/web-0 on n2: leak: grew steadily") {
		t.Fatalf("table:\n%s", s)
	}
}

// The sandbox (pause) of a pod matched by UID is dropped; the pod's own
// containers, and a pause binary in a known container, are kept.
func TestMemorySandboxFilter(t *testing.T) {
	o := NewMemoryOptions(genericiooptions.NewTestIOStreamsDiscard())
	o.targets = memTargets()
	drop := o.sandboxFilter()
	for _, c := range []struct {
		table, line string
		want        bool
	}{
		{api.TableProcessStats, `{"table":"process_stats","comm":"pause","container_id":"sandbox1","pod_uid":"u1"}`, true},
		{api.TableMemorySummary, `{"table":"memory_summary","comm":"pause","container_id":"sandbox1","pod_uid":"u1"}`, true},
		{api.TableProcessStats, `{"table":"process_stats","comm":"pause","container_id":"c1","pod_uid":"u1"}`, false},
		{api.TableProcessStats, `{"table":"process_stats","comm":"leaky","container_id":"restarted","pod_uid":"u1"}`, false},
		{api.TableProbeStats, `{"table":"probe_stats","comm":"pause"}`, false},
	} {
		if got := drop(session.Line{Table: c.table, Raw: []byte(c.line)}); got != c.want {
			t.Errorf("%s: dropped %v, want %v", c.line, got, c.want)
		}
	}
}

// memRecording runs memory over two replicas of shop/api (pods named
// after prefix, on n1 and n2) and records it; the second replica leaks
// when leak is set.
func memRecording(t *testing.T, prefix string, leak bool) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), prefix+".pixie.gz")
	o := NewMemoryOptions(genericiooptions.NewTestIOStreamsDiscard())
	o.Duration, o.Interval, o.Record = 10*time.Second, time.Second, path
	o.targets = &target.Set{Nodes: []target.Node{
		{Name: "n1", Pods: []target.Pod{{Namespace: "shop", Name: prefix + "-a", UID: prefix + "a", Workload: "deployment/api", Containers: []target.Container{{ID: "c1"}}}}},
		{Name: "n2", Pods: []target.Pod{{Namespace: "shop", Name: prefix + "-b", UID: prefix + "b", Workload: "deployment/api", Containers: []target.Container{{ID: "c2"}}}}},
	}}
	if err := o.Validate(); err != nil {
		t.Fatal(err)
	}
	o.run = func(_ context.Context, emit func(string, []byte)) error {
		for i, node := range []string{"n1", "n2"} {
			uid, rate, verdict := prefix+string(rune('a'+i)), 0, "stable"
			if leak && i == 1 {
				rate, verdict = 1<<20, "leak"
			}
			for s := 0; s < 10; s++ {
				b, _ := json.Marshal(api.ProcessStats{Header: api.Header{Table: api.TableProcessStats}, Time: int64(s) * 1e9, PID: 7, UPID: "7:1", Comm: "api",
					RSSBytes: uint64(100<<20 + s*rate), PodUID: uid})
				emit(node, b)
			}
			b, _ := json.Marshal(api.MemorySummary{Header: api.Header{Table: api.TableMemorySummary}, PID: 7, UPID: "7:1", Comm: "api", PodUID: uid,
				Verdict: verdict, Reason: "its own " + verdict, GrowthBytesPerSec: float64(rate), GrowthLowBytesPerSec: 0.9 * float64(rate), GrowthHighBytesPerSec: 1.1 * float64(rate)})
			emit(node, b)
		}
		return nil
	}
	if err := o.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	return path
}

// A cluster recording keeps its pods: its replay groups by workload (the
// leaking replica named), by pod, and -o json adds the group records.
func TestMemoryReplayGroupBy(t *testing.T) {
	rec := memRecording(t, "api-x", true)
	for args, wants := range map[string][]string{
		"":                {"WORKLOAD", "shop/api: leak: 1 of 2 pods, api-x-b: its own leak\n"},
		"--group-by pod":  {"POD", "shop/api-x-b: leak: its own leak\n", "shop/api-x-a: stable: its own stable\n"},
		"--group-by node": {"NODE", "shop/api on n2: leak: its own leak\n", "shop/api on n1: stable: its own stable\n"},
		"-o json":         {`"table":"process_stats"`, `"table":"memory_summary"`, `"table":"memory_group_summary","group_by":"workload","service":"shop/api"`, `"verdict":"leak","verdict_count":1,"units":2,"unit":"pods","reason":"leak: 1 of 2 pods, api-x-b: its own leak"`},
		"--group-by nope": {"unknown key"},
	} {
		var out, errOut bytes.Buffer
		cmd := NewCmdReplay(nil, genericiooptions.IOStreams{Out: &out, ErrOut: &errOut})
		cmd.SetArgs(append([]string{rec}, strings.Fields(args)...))
		cmd.SilenceErrors, cmd.SilenceUsage = true, true
		err := cmd.Execute()
		got := out.String()
		if err != nil {
			got += err.Error()
		}
		for _, w := range wants {
			if !strings.Contains(got, w) {
				t.Errorf("replay %s: no %q in:\n%s", args, w, got)
			}
		}
	}
}

// diff of two cluster recordings compares workloads, whose pods have new
// names in the new run: stable -> leak, with the replica that leaks.
func TestMemoryDiffGroupBy(t *testing.T) {
	base, next := memRecording(t, "api-x", false), memRecording(t, "api-y", true)
	var out, errOut bytes.Buffer
	cmd := NewCmdDiff(nil, genericiooptions.IOStreams{Out: &out, ErrOut: &errOut})
	cmd.SetArgs([]string{base, next})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	if s := out.String(); !strings.Contains(s, "WORKLOAD ") || !strings.Contains(s, "stable → leak (1 of 2 pods, api-y-b) *") || strings.Count(s, "\n") != 6 {
		t.Errorf("diff by workload:\n%s", s)
	}
	out.Reset()
	cmd = NewCmdDiff(nil, genericiooptions.IOStreams{Out: &out, ErrOut: &errOut})
	cmd.SetArgs([]string{base, next, "--group-by", "pod"})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	if s := out.String(); !strings.Contains(s, "shop/api-x-a") || !strings.Contains(s, "shop/api-y-b") {
		t.Errorf("diff by pod: a row per pod name of either run:\n%s", s)
	}
	trace := recordFile(t, "trace")
	cmd = NewCmdDiff(nil, genericiooptions.IOStreams{Out: &out, ErrOut: &errOut})
	cmd.SetArgs([]string{trace, trace, "--group-by", "pod"})
	cmd.SilenceErrors, cmd.SilenceUsage = true, true
	if err := cmd.Execute(); err == nil || !strings.Contains(err.Error(), "--group-by regroups memory recordings") {
		t.Errorf("diff of traces with --group-by: %v", err)
	}
}
