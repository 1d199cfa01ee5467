package cmd

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/kubernetes"
	cmdutil "k8s.io/kubectl/pkg/cmd/util"
	"k8s.io/kubectl/pkg/util/templates"

	"github.com/kubectl-pixie/kubectl-pixie/plugin/podspec"
	"github.com/kubectl-pixie/kubectl-pixie/plugin/session"
)

func init() { register(NewCmdCleanup) }

// CleanupOptions holds the flags of `kubectl pixie cleanup`.
type CleanupOptions struct {
	Probe     *session.Flags
	AllNS     bool
	SessionID string
	Wait      bool
	Timeout   time.Duration

	genericiooptions.IOStreams

	client    kubernetes.Interface
	namespace string
}

// NewCmdCleanup deletes probe pods left behind (a plugin killed with
// SIGKILL, a lost connection); they also end by themselves at their deadline.
func NewCmdCleanup(f cmdutil.Factory, streams genericiooptions.IOStreams) *cobra.Command {
	o := &CleanupOptions{Probe: session.NewFlags(), Wait: true, Timeout: 60 * time.Second, IOStreams: streams}
	cmd := &cobra.Command{
		Use:   "cleanup",
		Short: "Delete probe pods left behind",
		Long: templates.LongDesc(`
			Delete every pod labelled app.kubernetes.io/managed-by=kubectl-pixie in
			the probe namespace (or in all namespaces with -A). Probe pods end by
			themselves at their deadline; this removes them now.`),
		Example: templates.Examples(`
			# delete probe pods in the current namespace
			kubectl pixie cleanup

			# everywhere
			kubectl pixie cleanup -A`),
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.Complete(f); err != nil {
				return err
			}
			return o.Run(cmd.Context())
		},
	}
	o.Probe.AddCleanupFlags(cmd.Flags())
	cmd.Flags().BoolVarP(&o.AllNS, "all-namespaces", "A", false, "delete probe pods in all namespaces")
	cmd.Flags().StringVar(&o.SessionID, "session", "", "only the pods of this session id")
	cmd.Flags().BoolVar(&o.Wait, "wait", o.Wait, "wait until the pods are gone")
	cmd.Flags().DurationVar(&o.Timeout, "timeout", o.Timeout, "how long to wait with --wait")
	return cmd
}

// Complete builds the client and reads the namespace.
func (o *CleanupOptions) Complete(f cmdutil.Factory) error {
	c, err := f.KubernetesClientSet()
	if err != nil {
		return err
	}
	o.client = c
	if o.AllNS {
		o.namespace = metav1.NamespaceAll
		return nil
	}
	o.namespace, err = o.Probe.Namespace(f)
	return err
}

// Run deletes the managed pods.
func (o *CleanupOptions) Run(ctx context.Context) error {
	if ctx == nil {
		ctx = context.Background()
	}
	sel := podspec.ManagedSelector
	if o.SessionID != "" {
		sel += "," + podspec.LabelSession + "=" + o.SessionID
	}
	list, err := o.client.CoreV1().Pods(o.namespace).List(ctx, metav1.ListOptions{LabelSelector: sel})
	if err != nil {
		return fmt.Errorf("listing probe pods: %w", err)
	}
	where := fmt.Sprintf("in namespace %q", o.namespace)
	if o.namespace == "" {
		where = "in any namespace"
	}
	if len(list.Items) == 0 {
		fmt.Fprintf(o.ErrOut, "no probe pods %s\n", where)
		return nil
	}
	grace := int64(1)
	failed := 0
	for _, p := range list.Items {
		err := o.client.CoreV1().Pods(p.Namespace).Delete(ctx, p.Name, metav1.DeleteOptions{GracePeriodSeconds: &grace})
		switch {
		case err == nil, apierrors.IsNotFound(err):
			fmt.Fprintf(o.Out, "pod/%s deleted (namespace %s)\n", p.Name, p.Namespace)
		default:
			failed++
			fmt.Fprintf(o.ErrOut, "error: deleting pod %s/%s: %v\n", p.Namespace, p.Name, err)
		}
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d probe pods not deleted: check your permissions with `kubectl pixie doctor`", failed, len(list.Items))
	}
	if !o.Wait {
		return nil
	}
	deadline := time.Now().Add(o.Timeout)
	for {
		left, err := o.client.CoreV1().Pods(o.namespace).List(ctx, metav1.ListOptions{LabelSelector: sel})
		if err == nil && len(left.Items) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("probe pods still terminating after %s: check their node with `kubectl get pods -A -l %s -o wide`", o.Timeout, sel)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
}
