package session

import (
	"context"
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubectl-pixie/kubectl-pixie/plugin/target"
)

// UnfitError is a target node refused before any pod is created there:
// it cannot run a privileged Linux pod (target.Unfit).
type UnfitError struct{ Node, Why string }

func (e *UnfitError) Error() string {
	return fmt.Sprintf("node %s %s; no probe pod is started there\n  its pods cannot be probed: run them on Linux nodes with a kernel of their own (a regular node pool) to probe them", e.Node, e.Why)
}

// unfitNodes lists the nodes once (from the API server's cache) and
// returns, by name, the target nodes no probe pod can run on. A user who
// may not list nodes gets no verdict here: the pods' own failures tell.
func unfitNodes(ctx context.Context, o *Options) map[string]*UnfitError {
	list, err := o.Client.CoreV1().Nodes().List(ctx, metav1.ListOptions{ResourceVersion: "0"})
	if err != nil {
		return nil
	}
	want := map[string]bool{}
	for _, t := range o.Targets {
		want[t.Name] = true
	}
	out := map[string]*UnfitError{}
	for i := range list.Items {
		n := &list.Items[i]
		if why := target.Unfit(n); why != "" && want[n.Name] {
			out[n.Name] = &UnfitError{Node: n.Name, Why: why}
		}
	}
	return out
}
