package cmd

import (
	"slices"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/kubectl-pixie/kubectl-pixie/plugin/target"
)

func TestOwnersRoots(t *testing.T) {
	set := &target.Set{Nodes: []target.Node{
		{Name: "n1", Pods: []target.Pod{{Namespace: "shop", Name: "api-7d-a", Workload: "deployment/api", Containers: []target.Container{{ID: "c1"}, {ID: "c2"}}}}},
		{Name: "n2", Pods: []target.Pod{{Namespace: "shop", Name: "db-0", Workload: "statefulset/db", Containers: []target.Container{{ID: "c3"}}}}},
	}}
	for spec, want := range map[string]map[string]string{
		"workload": {"c1": "shop/api", "c2": "shop/api", "c3": "shop/db"},
		"pod,node": {"c1": "shop/api;api-7d-a;n1", "c3": "shop/db;db-0;n2"},
	} {
		by, err := target.ParseGroupBy(spec)
		if err != nil {
			t.Fatal(err)
		}
		m := owners(set, by)
		for id, roots := range want {
			o := m[id]
			if o == nil || strings.Join(o.Roots, ";") != roots || o.Namespace != "shop" {
				t.Errorf("%s: owner of %s = %+v, want roots %s", spec, id, o, roots)
			}
		}
	}
	if o := owners(set, target.GroupBy{})["c1"]; o.Workload != "api" || o.Pod != "api-7d-a" {
		t.Errorf("owner labels %+v", o)
	}
}

// TestGroupByFlag: every command that has it completes the keys and
// refuses a bad list before any I/O.
func TestGroupByFlag(t *testing.T) {
	var g groupBy
	cmd := &cobra.Command{Use: "x"}
	g.addFlags(cmd)
	f, _ := cmd.GetFlagCompletionFunc("group-by")
	got, _ := f(cmd, nil, "workload,")
	if !slices.Equal(got, []string{"workload,pod", "workload,node"}) {
		t.Errorf("completion of workload, = %v", got)
	}
	g.spec = "workload,zone"
	if err := g.validate(); err == nil || !strings.Contains(err.Error(), `unknown key "zone"`) {
		t.Errorf("bad key: %v", err)
	}
}
