package cmd

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/kubectl-pixie/kubectl-pixie/plugin/target"
)

// nodeTargets resolves node/node-000 .. node/node-(n-1), as Resolve does
// for node/NAME arguments.
func nodeTargets(t *testing.T, n int) *target.Set {
	t.Helper()
	objs := make([]runtime.Object, n)
	for i := range objs {
		objs[i] = &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("node-%03d", i)}}
	}
	set, err := target.FromObjects(context.Background(), fake.NewClientset(), objs, "")
	if err != nil || len(set.Nodes) != n {
		t.Fatalf("resolving %d nodes: %v", n, err)
	}
	return set
}

// More probe pods than --max-nodes (default 100) are refused, saying how
// many would start, unless --yes confirms; up to the limit needs nothing.
func TestMaxNodesNeedsYes(t *testing.T) {
	want := "the targets are on 500 nodes: this would start 500 probe pods (one per node), more than --max-nodes 100\n" +
		"  add --yes to start them all, raise --max-nodes, or narrow the targets (TYPE/NAME, -l, -n)"
	for _, c := range probeCommands {
		for _, tc := range []struct {
			flags []string
			nodes int
			err   string
		}{
			{nil, 500, want},
			{nil, 100, ""},
			{[]string{"--yes"}, 500, ""},
			{[]string{"--max-nodes", "500"}, 500, ""},
			{[]string{"--max-nodes", "2"}, 3, "this would start 3 probe pods (one per node), more than --max-nodes 2"},
		} {
			ct, addFlags := clusterTargetsOf(c)
			cmd := &cobra.Command{Use: c}
			addFlags(cmd)
			if err := cmd.ParseFlags(tc.flags); err != nil {
				t.Fatalf("%s %v: %v", c, tc.flags, err)
			}
			err := ct.setTargets(nodeTargets(t, tc.nodes))
			switch {
			case tc.err == "" && err != nil:
				t.Errorf("%s %v on %d nodes: %v", c, tc.flags, tc.nodes, err)
			case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
				t.Errorf("%s %v on %d nodes: got %v, want %q", c, tc.flags, tc.nodes, err, tc.err)
			case tc.err != "" && ct.targets != nil:
				t.Errorf("%s %v: refused targets were kept", c, tc.flags)
			}
		}
	}
}

// clusterTargetsOf returns command c's cluster targets and its AddFlags.
func clusterTargetsOf(c string) (*clusterTargets, func(*cobra.Command)) {
	streams := genericiooptions.NewTestIOStreamsDiscard()
	switch c {
	case "trace":
		o := NewTraceOptions(streams)
		return &o.clusterTargets, o.AddFlags
	case "profile":
		o := NewProfileOptions(streams)
		return &o.clusterTargets, o.AddFlags
	}
	o := NewMemoryOptions(streams)
	return &o.clusterTargets, o.AddFlags
}

// A --max-nodes below 1 is refused before any I/O, the same way in all
// three commands.
func TestMaxNodesFlagValidated(t *testing.T) {
	for _, c := range probeCommands {
		_, _, err := runRoot(t, c, "deploy/web", "--max-nodes", "0", "--kubeconfig", "/nonexistent")
		if err == nil || err.Error() != "--max-nodes 0 is out of range: use 1 or more (the most probe pods started without --yes)" {
			t.Errorf("%s --max-nodes 0: %v", c, err)
		}
	}
}
