// Package completion completes `kubectl pixie` arguments from the cluster and
// provides the kubectl_complete-pixie helper that kubectl (1.26 and later)
// runs to complete a plugin's arguments.
//
// Names come from kubectl's own completion helpers
// (k8s.io/kubectl/pkg/util/completion), so -n, --context and short type names
// behave exactly as in `kubectl logs <TAB>`.
package completion

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	cmdutil "k8s.io/kubectl/pkg/cmd/util"
	kcompletion "k8s.io/kubectl/pkg/util/completion"
)

// TargetTypes are the resource types a probe can target, offered as TYPE/
// when completing a target. Every one of them resolves to pods or a node.
var TargetTypes = []string{
	"daemonsets",
	"deployments",
	"jobs",
	"nodes",
	"pods",
	"replicasets",
	"services",
	"statefulsets",
}

// Func is a cobra completion function (cmd.ValidArgsFunction and
// cmd.RegisterFlagCompletionFunc take it).
type Func = func(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective)

// lister returns the names of one resource type (as typed by the user,
// short names included) in the current namespace that start with prefix.
type lister func(resourceType, prefix string) []string

func kubectlLister(f cmdutil.Factory) lister {
	return func(resourceType, prefix string) []string {
		return kcompletion.CompGetResource(f, resourceType, prefix)
	}
}

// CompleteTargets completes probe targets: pod names, TYPE/ for every type in
// TargetTypes, and TYPE/NAME once a slash is typed. Targets already on the
// command line are not offered again. Use it as ValidArgsFunction of the
// commands that take targets (trace, profile, memory).
func CompleteTargets(f cmdutil.Factory) Func {
	return completeTargets(kubectlLister(f))
}

func completeTargets(list lister) Func {
	return func(_ *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
		directive := cobra.ShellCompDirectiveNoFileComp
		var comps []string
		if typ, prefix, ok := strings.Cut(toComplete, "/"); ok {
			for _, name := range list(typ, prefix) {
				comps = append(comps, typ+"/"+name)
			}
			return cmdutil.Difference(comps, args), directive
		}
		comps = cmdutil.Difference(list("pods", toComplete), args)
		if len(comps) == 0 {
			// Only TYPE/ is left to offer: no space after it, so the
			// next TAB completes the name.
			directive |= cobra.ShellCompDirectiveNoSpace
		}
		for _, t := range TargetTypes {
			if strings.HasPrefix(t, toComplete) {
				comps = append(comps, t+"/")
			}
		}
		return comps, directive
	}
}

// CompleteNodes completes node names (for a --node flag).
func CompleteNodes(f cmdutil.Factory) Func {
	return completeNames(kubectlLister(f), "nodes")
}

// CompleteNamespaces completes namespace names (for -n).
func CompleteNamespaces(f cmdutil.Factory) Func {
	return completeNames(kubectlLister(f), "namespaces")
}

func completeNames(list lister, resourceType string) Func {
	return func(_ *cobra.Command, _ []string, toComplete string) ([]string, cobra.ShellCompDirective) {
		return list(resourceType, toComplete), cobra.ShellCompDirectiveNoFileComp
	}
}

// RegisterGlobalFlags completes kubectl's global flags on the root command:
// --namespace from the cluster, --context, --cluster and --user from the
// kubeconfig. Call it once, after the flags are added.
func RegisterGlobalFlags(root *cobra.Command, f cmdutil.Factory) error {
	kcompletion.SetFactoryForCompletion(f)
	funcs := map[string]Func{
		"namespace": CompleteNamespaces(f),
		"context":   kcompletion.ContextCompletionFunc,
		"cluster":   kcompletion.ClusterCompletionFunc,
		"user":      kcompletion.UserCompletionFunc,
	}
	return register(root, funcs)
}

// RegisterTargetFlags completes the target-narrowing flags that cmd has:
// --node (node names) and -c/--container (containers of the first target).
// Flags cmd does not define are skipped. Call it after the flags are added.
func RegisterTargetFlags(cmd *cobra.Command, f cmdutil.Factory) error {
	return register(cmd, map[string]Func{
		"node":      CompleteNodes(f),
		"container": kcompletion.ContainerCompletionFunc(f),
	})
}

func register(cmd *cobra.Command, funcs map[string]Func) error {
	for name, fn := range funcs {
		if cmd.Flag(name) == nil {
			continue
		}
		if err := cmd.RegisterFlagCompletionFunc(name, fn); err != nil {
			return fmt.Errorf("registering completion of --%s: %w", name, err)
		}
	}
	return nil
}
