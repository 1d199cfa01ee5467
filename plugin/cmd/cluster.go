package cmd

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/spf13/pflag"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	cmdutil "k8s.io/kubectl/pkg/cmd/util"

	"github.com/kubectl-pixie/kubectl-pixie/plugin/podspec"
	"github.com/kubectl-pixie/kubectl-pixie/plugin/session"
	"github.com/kubectl-pixie/kubectl-pixie/plugin/target"
)

// clusterTargets is the cluster half of trace, profile and memory: which
// pods to probe, and how the probe pods run.
type clusterTargets struct {
	Target target.Options
	Probe  *session.Flags

	client  kubernetes.Interface
	probeNS string
	targets *target.Set
}

func newClusterTargets() clusterTargets { return clusterTargets{Probe: session.NewFlags()} }

// addFlags registers -l, -A, -c, the probe-pod flags, --max-nodes and
// --yes; verb is the
// command's ("trace", "profile", "watch").
func (c *clusterTargets) addFlags(fs *pflag.FlagSet, verb string) {
	fs.StringVarP(&c.Target.Selector, "selector", "l", c.Target.Selector, "label selector of the pods to "+verb)
	fs.BoolVarP(&c.Target.AllNamespaces, "all-namespaces", "A", c.Target.AllNamespaces, "with -l: pods of every namespace")
	fs.StringVarP(&c.Target.Container, "container", "c", c.Target.Container, verb+" only this container of each pod")
	c.Probe.AddFlags(fs)
	c.Probe.AddFanoutFlags(fs)
}

// named reports whether TARGETs or a selector were given.
func (c *clusterTargets) named(args []string) bool { return len(args) > 0 || c.Target.Selector != "" }

// resolve reads the kubeconfig and resolves args into probe targets per
// node, refusing more nodes than --max-nodes without --yes.
func (c *clusterTargets) resolve(ctx context.Context, f cmdutil.Factory, args []string) error {
	ns, _, err := f.ToRawKubeConfigLoader().Namespace()
	if err != nil {
		return fmt.Errorf("reading the namespace from the kubeconfig: %w", err)
	}
	c.Target.Namespace = ns
	if c.client, err = f.KubernetesClientSet(); err != nil {
		return err
	}
	c.probeNS = c.Probe.Namespace()
	set, err := target.Resolve(ctx, f.NewBuilder, c.client, args, c.Target)
	if err != nil {
		return err
	}
	return c.setTargets(set)
}

// setTargets takes the resolved targets unless they span more nodes than
// --max-nodes without --yes.
func (c *clusterTargets) setTargets(set *target.Set) error {
	if err := c.Probe.CheckNodes(len(set.Nodes)); err != nil {
		return err
	}
	c.targets = set
	return nil
}

// sessionOptions describe one probe pod per node, running `agent probe
// --config JSON` with the config that config returns for that node.
func (c *clusterTargets) sessionOptions(probe string, window time.Duration, errOut io.Writer, quiet bool, config func(target.Node) any) session.Options {
	so := session.Options{
		Client:    c.client,
		Namespace: c.probeNS,
		Targets:   c.targets.Nodes,
		Probe:     probe,
		Window:    window,
		ErrOut:    errOut,
		Quiet:     quiet,
		AgentArgs: func(n target.Node) ([]string, error) {
			b, err := json.Marshal(config(n))
			if err != nil {
				return nil, err
			}
			return []string{probe, "--config", string(b)}, nil
		},
	}
	c.Probe.Apply(&so)
	if so.SessionID == "" {
		so.SessionID = session.NewSessionID()
	}
	return so
}

// resolveNamespace targets every pod of the namespace (-n, else the
// kubeconfig's), or of every namespace with -A.
func (c *clusterTargets) resolveNamespace(ctx context.Context, f cmdutil.Factory) error {
	ns, _, err := f.ToRawKubeConfigLoader().Namespace()
	if err != nil {
		return fmt.Errorf("reading the namespace from the kubeconfig: %w", err)
	}
	if c.Target.AllNamespaces {
		ns = ""
	}
	if c.client, err = f.KubernetesClientSet(); err != nil {
		return err
	}
	c.probeNS = c.Probe.Namespace()
	// not the probe pods of this or another session
	list, err := c.client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: podspec.LabelManagedBy + "!=" + podspec.ManagedByValue})
	if err != nil {
		return fmt.Errorf("listing the pods of namespace %q: %w", ns, err)
	}
	set, err := target.FromObjects(ctx, c.client, []runtime.Object{list}, c.Target.Container)
	if err != nil {
		return err
	}
	return c.setTargets(set)
}
