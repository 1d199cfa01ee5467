package cmd

import (
	"cmp"

	"github.com/spf13/cobra"

	"github.com/kubectl-pixie/kubectl-pixie/plugin/flame"
	"github.com/kubectl-pixie/kubectl-pixie/plugin/target"
)

// groupBy is --group-by of trace, profile and memory: what one row (or a
// flame graph's root frames) stands for in cluster mode.
type groupBy struct {
	spec string
	by   target.GroupBy
}

func (g *groupBy) addFlags(cmd *cobra.Command) {
	g.spec = defaultGroupBy
	cmd.Flags().StringVar(&g.spec, "group-by", g.spec, "cluster mode: what a row stands for, a list of workload (a Deployment, StatefulSet, DaemonSet, Job or CronJob; replicas merged), pod and node (adds a NODE column), e.g. workload,node")
	_ = cmd.RegisterFlagCompletionFunc("group-by", completeList(target.GroupByKeys))
}

const defaultGroupBy = "workload"

// validate parses the list (unset: by workload); it does no I/O.
func (g *groupBy) validate() (err error) {
	g.by, err = target.ParseGroupBy(cmp.Or(g.spec, defaultGroupBy))
	return err
}

// owners names each targeted container's pod for the flame graphs: its
// roots are "namespace/workload", then the pod and the node when by asks.
func owners(set *target.Set, by target.GroupBy) map[string]*flame.Owner {
	m := map[string]*flame.Owner{}
	for _, n := range set.Nodes {
		for _, p := range n.Pods {
			w := target.GroupBy{}.Service(p)
			o := &flame.Owner{Namespace: p.Namespace, Workload: target.WorkloadName(p.Workload), Pod: p.Name, Roots: []string{w}}
			if by.Pod {
				o.Roots = append(o.Roots, p.Name)
			}
			if by.Node {
				o.Roots = append(o.Roots, n.Name)
			}
			for _, c := range p.Containers {
				m[c.ID] = o
			}
		}
	}
	return m
}
