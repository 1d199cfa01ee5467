package cmd

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/duration"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/cli-runtime/pkg/printers"
	"k8s.io/client-go/kubernetes"
	cmdutil "k8s.io/kubectl/pkg/cmd/util"
	"k8s.io/kubectl/pkg/util/templates"

	"github.com/kubectl-pixie/kubectl-pixie/plugin/podspec"
	"github.com/kubectl-pixie/kubectl-pixie/plugin/render"
	"github.com/kubectl-pixie/kubectl-pixie/plugin/session"
)

func init() {
	register(NewCmdCleanup)
	register(NewCmdSessions)
}

// CleanupOptions holds the flags of `kubectl pixie cleanup`.
type CleanupOptions struct {
	Probe     *session.Flags
	AllNS     bool
	SessionID string
	All       bool
	DryRun    bool
	Wait      bool
	Timeout   time.Duration

	genericiooptions.IOStreams

	client    kubernetes.Interface
	namespace string
	now       func() time.Time
}

// NewCmdCleanup deletes probe pods left behind (a plugin killed with
// SIGKILL, a lost connection); they also end by themselves at their deadline.
func NewCmdCleanup(f cmdutil.Factory, streams genericiooptions.IOStreams) *cobra.Command {
	o := &CleanupOptions{Probe: session.NewFlags(), Wait: true, Timeout: 60 * time.Second, IOStreams: streams}
	cmd := &cobra.Command{
		Use:   "cleanup",
		Short: "Delete probe pods left behind",
		Long: templates.LongDesc(`
			Delete the probe pods (labelled app.kubernetes.io/managed-by=kubectl-pixie)
			in the probe namespace that are past their deadline, have finished, or that
			you started.
			Live pods of other users' sessions stay, unless --all or --session names
			them. Pods on a node that is not Ready are deleted at once (force), since
			their kubelet cannot confirm it. Every probe run also removes expired
			pods by itself; "kubectl pixie sessions" lists the live ones.`),
		Example: templates.Examples(`
			# delete expired probe pods and your own
			kubectl pixie cleanup

			# what would go, without deleting
			kubectl pixie cleanup --dry-run

			# one session, or every probe pod in every namespace
			kubectl pixie cleanup --session 5fx2kq9wz1
			kubectl pixie cleanup --all -A`),
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.Validate(); err != nil {
				return err
			}
			if err := o.Complete(f); err != nil {
				return err
			}
			return o.Run(cmd.Context())
		},
	}
	o.Probe.AddCleanupFlags(cmd.Flags())
	cmd.Flags().BoolVarP(&o.AllNS, "all-namespaces", "A", false, "look for probe pods in all namespaces")
	cmd.Flags().StringVar(&o.SessionID, "session", "", "only the pods of this session id (whoever started it)")
	cmd.Flags().BoolVar(&o.All, "all", false, "every probe pod, including live ones of other users' sessions")
	cmd.Flags().BoolVar(&o.DryRun, "dry-run", false, "print what would be deleted and delete nothing")
	cmd.Flags().BoolVar(&o.Wait, "wait", o.Wait, "wait until the pods are gone")
	cmd.Flags().DurationVar(&o.Timeout, "timeout", o.Timeout, "how long to wait with --wait")
	return cmd
}

// Validate checks the flags, before any I/O.
func (o *CleanupOptions) Validate() error {
	if o.All && o.SessionID != "" {
		return errors.New("--all and --session exclude each other: use one")
	}
	if o.Timeout <= 0 {
		return fmt.Errorf("--timeout must be positive, got %s", o.Timeout)
	}
	return nil
}

// Complete builds the client and reads the namespace.
func (o *CleanupOptions) Complete(f cmdutil.Factory) error {
	c, err := f.KubernetesClientSet()
	if err != nil {
		return err
	}
	o.client = c
	o.namespace = o.Probe.Namespace()
	if o.AllNS {
		o.namespace = metav1.NamespaceAll
	}
	return nil
}

// Run deletes the selected probe pods.
func (o *CleanupOptions) Run(ctx context.Context) error {
	if ctx == nil {
		ctx = context.Background()
	}
	if o.now == nil {
		o.now = time.Now
	}
	pods, err := listProbePods(ctx, o.client, o.namespace, o.SessionID)
	if err != nil {
		return err
	}
	if len(pods) == 0 {
		fmt.Fprintf(o.ErrOut, "no probe pods %s\n", where(o.namespace))
		return nil
	}
	me := ""
	if !o.All && o.SessionID == "" {
		me = session.WhoAmI(ctx, o.client)
	}
	var chosen []session.PodRef
	kept := 0
	for i := range pods {
		p := &pods[i]
		why := o.reason(p, me)
		if why == "" {
			kept++
			continue
		}
		verb := "deleted"
		if o.DryRun {
			verb = "would be deleted"
		}
		fmt.Fprintf(o.Out, "pod/%s %s (namespace %s, %s; %s)\n", p.Name, verb, p.Namespace, why, render.Sanitize(audit(p)))
		chosen = append(chosen, session.RefOf(p))
	}
	if kept > 0 {
		fmt.Fprintf(o.ErrOut, "kept %d live probe pod(s) of other users' sessions: kubectl pixie sessions lists them, --all deletes them too\n", kept)
	}
	if len(chosen) == 0 {
		fmt.Fprintf(o.ErrOut, "no probe pods to delete %s\n", where(o.namespace))
		return nil
	}
	if o.DryRun {
		return nil
	}
	failed, lastErr := session.DeletePods(ctx, o.client, chosen, time.Second)
	if len(failed) > 0 {
		return fmt.Errorf("%d of %d probe pods not deleted (%w): check your permissions with `kubectl pixie doctor`", len(failed), len(chosen), lastErr)
	}
	if !o.Wait {
		return nil
	}
	return o.waitGone(ctx, chosen)
}

// reason says why p is to be deleted, or "" to keep it.
func (o *CleanupOptions) reason(p *corev1.Pod, me string) string {
	switch {
	case o.SessionID != "":
		return "session " + o.SessionID
	case o.All:
		return "--all"
	case session.Expired(p, o.now()):
		return "expired"
	case finished(p):
		return "finished" // its agent is gone; only its log remains
	case me != "" && p.Annotations[podspec.AnnotationUser] == me:
		return "yours"
	}
	return ""
}

// finished reports whether p's agent has ended (the phase can lag behind
// the container's state).
func finished(p *corev1.Pod) bool {
	if p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
		return true
	}
	cs := p.Status.ContainerStatuses
	return len(cs) > 0 && cs[0].State.Terminated != nil
}

func (o *CleanupOptions) waitGone(ctx context.Context, pods []session.PodRef) error {
	deadline := time.Now().Add(o.Timeout)
	for {
		left, err := listProbePods(ctx, o.client, o.namespace, o.SessionID)
		if err == nil && !anyOf(left, pods) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("probe pods still terminating after %s: check their node with `kubectl get pods -A -l %s -o wide`", o.Timeout, podspec.ManagedSelector)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
}

func anyOf(list []corev1.Pod, refs []session.PodRef) bool {
	for _, p := range list {
		for _, r := range refs {
			if p.Namespace == r.Namespace && p.Name == r.Name {
				return true
			}
		}
	}
	return false
}

func listProbePods(ctx context.Context, c kubernetes.Interface, namespace, sessionID string) ([]corev1.Pod, error) {
	sel := podspec.ManagedSelector
	if sessionID != "" {
		sel += "," + podspec.LabelSession + "=" + sessionID
	}
	list, err := c.CoreV1().Pods(namespace).List(ctx, metav1.ListOptions{LabelSelector: sel})
	if err != nil {
		return nil, fmt.Errorf("listing probe pods %s: %w\n  check your permissions with `kubectl pixie doctor`", where(namespace), err)
	}
	return list.Items, nil
}

func where(namespace string) string {
	if namespace == "" {
		return "in any namespace"
	}
	return fmt.Sprintf("in namespace %q", namespace)
}

// audit is a pod's audit trail in one line.
func audit(p *corev1.Pod) string {
	a := p.Annotations
	user := a[podspec.AnnotationUser]
	if user == "" {
		user = "unknown"
	}
	s := fmt.Sprintf("session %s, started by %s", p.Labels[podspec.LabelSession], user)
	if m := a[podspec.AnnotationDataAccess]; m != "" {
		s += ", data access " + m
	}
	if c := a[podspec.AnnotationCmd]; c != "" {
		s += ": " + c
	}
	return s
}

// SessionsOptions holds the flags of `kubectl pixie sessions`.
type SessionsOptions struct {
	Probe *session.Flags
	AllNS bool
	genericiooptions.IOStreams

	client    kubernetes.Interface
	namespace string
	now       func() time.Time
}

// NewCmdSessions lists the probe sessions with their audit trail.
func NewCmdSessions(f cmdutil.Factory, streams genericiooptions.IOStreams) *cobra.Command {
	o := &SessionsOptions{Probe: session.NewFlags(), IOStreams: streams, now: time.Now}
	cmd := &cobra.Command{
		Use:   "sessions",
		Short: "List probe sessions: who started them, with which command, until when",
		Long: templates.LongDesc(`
			List the probe sessions whose pods are in the probe namespace, one line
			each, from the pods' audit annotations: the session id, who started it
			(as the API server knows them), the probe, its pods, when it expires,
			its data-access mode and the command line.`),
		Example: templates.Examples(`
			kubectl pixie sessions
			kubectl pixie sessions -A`),
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := f.KubernetesClientSet()
			if err != nil {
				return err
			}
			o.client, o.namespace = c, o.Probe.Namespace()
			if o.AllNS {
				o.namespace = metav1.NamespaceAll
			}
			return o.Run(cmd.Context())
		},
	}
	o.Probe.AddCleanupFlags(cmd.Flags())
	cmd.Flags().BoolVarP(&o.AllNS, "all-namespaces", "A", false, "sessions in all namespaces")
	return cmd
}

// Run prints the sessions.
func (o *SessionsOptions) Run(ctx context.Context) error {
	if ctx == nil {
		ctx = context.Background()
	}
	pods, err := listProbePods(ctx, o.client, o.namespace, "")
	if err != nil {
		return err
	}
	if len(pods) == 0 {
		fmt.Fprintf(o.ErrOut, "no probe sessions %s\n", where(o.namespace))
		return nil
	}
	groups := map[string][]corev1.Pod{}
	var ids []string
	for _, p := range pods {
		id := p.Namespace + "/" + p.Labels[podspec.LabelSession]
		if _, ok := groups[id]; !ok {
			ids = append(ids, id)
		}
		groups[id] = append(groups[id], p)
	}
	sort.Strings(ids)
	w := printers.GetNewTabWriter(o.Out)
	fmt.Fprintln(w, "NAMESPACE\tSESSION\tSTARTED BY\tPROBE\tPODS\tAGE\tEXPIRES\tDATA ACCESS\tCOMMAND")
	for _, id := range ids {
		fmt.Fprintln(w, o.row(groups[id]))
	}
	return w.Flush()
}

// row renders one session from its pods.
func (o *SessionsOptions) row(pods []corev1.Pod) string {
	p := pods[0]
	a := p.Annotations
	running := 0
	for _, q := range pods {
		if q.Status.Phase == corev1.PodRunning && q.DeletionTimestamp == nil {
			running++
		}
	}
	expires := "-"
	if t, err := time.Parse(time.RFC3339, a[podspec.AnnotationExpiry]); err == nil {
		if d := t.Sub(o.now()); d > 0 {
			expires = "in " + duration.HumanDuration(d)
		} else {
			expires = "expired"
		}
	}
	cell := func(s string) string {
		if s == "" {
			return "-"
		}
		return render.Sanitize(s) // one line, one cell
	}
	return strings.Join([]string{p.Namespace, cell(p.Labels[podspec.LabelSession]), cell(a[podspec.AnnotationUser]),
		cell(p.Labels[podspec.LabelProbe]), fmt.Sprintf("%d/%d running", running, len(pods)),
		duration.HumanDuration(o.now().Sub(p.CreationTimestamp.Time)), expires,
		cell(a[podspec.AnnotationDataAccess]), cell(a[podspec.AnnotationCmd])}, "\t")
}
