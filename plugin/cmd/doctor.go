package cmd

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	authv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/cli-runtime/pkg/printers"
	"k8s.io/client-go/kubernetes"
	cmdutil "k8s.io/kubectl/pkg/cmd/util"
	"k8s.io/kubectl/pkg/util/templates"

	"github.com/kubectl-pixie/kubectl-pixie/plugin/render"
	"github.com/kubectl-pixie/kubectl-pixie/plugin/session"
	"github.com/kubectl-pixie/kubectl-pixie/plugin/target"
)

func init() { register(NewCmdDoctor) }

// DoctorOptions holds the flags of `kubectl pixie doctor`.
type DoctorOptions struct {
	Probe    *session.Flags
	Selector string
	AllNS    bool
	// Node is the one node the probe image is tried on (default: one
	// node per distinct OS/arch).
	Node string
	// Verify checks the probe image's signature first (--verify).
	Verify verifyFlags

	genericiooptions.IOStreams

	client    kubernetes.Interface
	namespace string
	nsMissing bool // the probe namespace does not exist (yet)
	args      []string
	f         cmdutil.Factory

	poll time.Duration                                                    // of the image check pod; tests shorten it
	logs func(ctx context.Context, namespace, pod string) ([]byte, error) // tests replace it
}

// NewCmdDoctor checks whether probes can run: permissions, Pod Security,
// nodes and the probe image.
func NewCmdDoctor(f cmdutil.Factory, streams genericiooptions.IOStreams) *cobra.Command {
	o := &DoctorOptions{Probe: session.NewFlags(), IOStreams: streams}
	cmd := &cobra.Command{
		Use:   "doctor [TARGET...]",
		Short: "Check that probe pods can run here, and say how to fix what is missing",
		Long: templates.LongDesc(`
			Check that kubectl pixie can run probe pods: your permissions (pods
			create/get/list/watch/delete, pods/log, nodes), the Pod Security level
			of the probe namespace (with a server-side dry run of the probe pod),
			each target node's OS, architecture and kernel, and whether it can run
			privileged pods at all (Windows, EKS Fargate, virtual kubelets and GKE
			Autopilot cannot). Then it proves the probe image: one short pod per
			distinct node OS/arch (or on --node) pulls it and runs
			"pixie-agent version", and doctor reports the pull time, the image
			digest the node ran, the agent's version, the kernel, BTF and whether a
			BPF program attaches. The pod is deleted after. Without TARGET every
			node is checked.

			With --verify, doctor first checks the probe image's cosign signature
			and runs no pod with an image that fails it; the pods then run the
			digest that was verified. With --key it checks a key-based signature
			itself; otherwise a keyless one (by default this version's release
			signature, made by the project's release workflow) with the cosign
			program, which must be installed.`),
		Example: templates.Examples(`
			# can I run probes in the current namespace, on every node?
			kubectl pixie doctor

			# on the nodes that run deploy/checkout, with probe pods in kube-system
			kubectl pixie doctor deploy/checkout -n shop --probe-namespace kube-system

			# is the image signed by the release workflow (keyless; runs cosign)?
			kubectl pixie doctor --verify

			# is my copy signed with our key?
			kubectl pixie doctor --verify --key cosign.pub --image registry.internal/pixie/probe:v0.9.0@sha256:...

			# does the image in my registry run on node worker-3?
			kubectl pixie doctor --node worker-3 --image registry.internal/pixie/probe:v0.9.0@sha256:...`),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.Complete(f, args); err != nil {
				return err
			}
			if err := o.Validate(); err != nil {
				return err
			}
			return o.Run(cmd.Context())
		},
	}
	o.Probe.AddFlags(cmd.Flags())
	cmd.Flags().StringVarP(&o.Selector, "selector", "l", "", "target pods by label selector")
	cmd.Flags().BoolVarP(&o.AllNS, "all-namespaces", "A", false, "with -l, select pods in all namespaces")
	cmd.Flags().StringVar(&o.Node, "node", "", "check only this node, and run the probe image there")
	o.Verify.addFlags(cmd.Flags())
	return cmd
}

// Complete builds the client and reads the namespace.
func (o *DoctorOptions) Complete(f cmdutil.Factory, args []string) error {
	o.f, o.args = f, args
	c, err := f.KubernetesClientSet()
	if err != nil {
		return err
	}
	o.client = c
	o.namespace = o.Probe.Namespace()
	return nil
}

// Validate checks the flags (and reads --key) before any request.
func (o *DoctorOptions) Validate() error {
	if err := o.Probe.Validate(); err != nil {
		return err
	}
	return o.Verify.validate()
}

// check is one line of the report.
type check struct {
	name   string
	ok     bool
	warn   bool // passed, with a caveat
	detail string
	remedy string
}

// Run performs the checks and prints one line each; it fails if any check failed.
func (o *DoctorOptions) Run(ctx context.Context) error {
	if ctx == nil {
		ctx = context.Background()
	}
	fmt.Fprint(o.ErrOut, session.ImageWarning(o.Probe.Image))
	var checks []check
	checks = append(checks, o.rbac(ctx)...)
	checks = append(checks, o.podSecurity(ctx))
	checks = append(checks, o.namespaceAccess(ctx)...)

	nodes, nodeChecks := o.nodeChecks(ctx)
	checks = append(checks, nodeChecks...)
	if o.nsMissing && o.namespace == session.DefaultNamespace && allOK(checks) {
		// What the first probe would do; the image check needs it.
		if err := session.EnsureNamespace(ctx, o.client, o.namespace); err == nil {
			o.nsMissing = false
		}
	}
	trusted := true
	if o.Verify.Verify {
		// Before any node pulls the image.
		sig := o.signatureCheck(ctx)
		checks, trusted = append(checks, sig), sig.ok
	}
	if fit := representatives(nodes); len(fit) > 0 && !o.nsMissing {
		admission := o.dryRun(ctx, fit[0].Name)
		checks = append(checks, admission)
		if admission.ok && trusted {
			checks = append(checks, o.imageChecks(ctx, fit)...)
		}
	}

	w := printers.GetNewTabWriter(o.Out)
	fmt.Fprintln(w, "CHECK\tRESULT\tDETAIL")
	failed := 0
	for _, c := range checks {
		res := "ok"
		switch {
		case !c.ok:
			res = "FAIL"
			failed++
		case c.warn:
			res = "warn"
		}
		fmt.Fprintf(w, "%s\t%s\t%s\n", c.name, res, render.Sanitize(c.detail))
	}
	if err := w.Flush(); err != nil {
		return err
	}
	for _, c := range checks {
		if !c.ok && c.remedy != "" {
			fmt.Fprintf(o.ErrOut, "%s: %s\n", c.name, c.remedy)
		}
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d checks failed; see the remedies above", failed, len(checks))
	}
	fmt.Fprintf(o.ErrOut, "all %d checks passed: probe pods can run in namespace %q\n", len(checks), o.namespace)
	return nil
}

// rbac asks the API server, as the current user (or --as), whether each
// verb the probes need is allowed.
func (o *DoctorOptions) rbac(ctx context.Context) []check {
	type need struct{ verb, resource, sub, ns string }
	needs := []need{
		{"create", "pods", "", o.namespace},
		{"get", "pods", "", o.namespace},
		{"list", "pods", "", o.namespace},
		{"watch", "pods", "", o.namespace},
		{"delete", "pods", "", o.namespace},
		{"get", "pods", "log", o.namespace},
		{"get", "nodes", "", ""},
	}
	var out []check
	for _, n := range needs {
		res := n.resource
		if n.sub != "" {
			res += "/" + n.sub
		}
		name := fmt.Sprintf("rbac: %s %s", n.verb, res)
		where := "cluster-wide"
		if n.ns != "" {
			where = "in namespace " + n.ns
		}
		ssar := &authv1.SelfSubjectAccessReview{Spec: authv1.SelfSubjectAccessReviewSpec{
			ResourceAttributes: &authv1.ResourceAttributes{Namespace: n.ns, Verb: n.verb, Resource: n.resource, Subresource: n.sub},
		}}
		r, err := o.client.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx, ssar, metav1.CreateOptions{})
		c := check{name: name}
		switch {
		case err != nil:
			c.detail = fmt.Sprintf("cannot ask the API server: %v", err)
			c.remedy = "check that the cluster is reachable (kubectl cluster-info)"
		case r.Status.Allowed:
			c.ok, c.detail = true, "allowed "+where
		default:
			c.detail = "denied " + where
			if r.Status.Reason != "" {
				c.detail += " (" + r.Status.Reason + ")"
			}
			scope := "a Role in namespace " + n.ns
			if n.ns == "" {
				scope = "a ClusterRole"
			}
			c.remedy = fmt.Sprintf("ask an admin for %s granting %q on %q (or use --probe-namespace for a namespace where you may run pods)", scope, n.verb, res)
		}
		out = append(out, c)
	}
	return out
}

// podSecurity reads the enforce label of the probe namespace.
func (o *DoctorOptions) podSecurity(ctx context.Context) check {
	c := check{name: "pod security: namespace " + o.namespace}
	ns, err := o.client.CoreV1().Namespaces().Get(ctx, o.namespace, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		o.nsMissing = true
		return o.missingNamespace(ctx, c)
	case err != nil:
		// Many users may not read namespaces; the dry run below decides.
		c.ok, c.warn = true, true
		c.detail = "cannot read the namespace's labels; see the dry-run check"
		return c
	}
	level := ns.Labels["pod-security.kubernetes.io/enforce"]
	switch level {
	case "", "privileged":
		c.ok = true
		if level == "" {
			c.detail = "no enforce label (the cluster default applies; see the dry-run check)"
		} else {
			c.detail = "enforce=privileged"
		}
	default:
		c.detail = fmt.Sprintf("enforce=%s forbids privileged probe pods", level)
		c.remedy = fmt.Sprintf("use --probe-namespace with a namespace that allows them (e.g. kube-system), or label one: kubectl label ns %s pod-security.kubernetes.io/enforce=privileged", o.namespace)
	}
	return c
}

// missingNamespace: the dedicated default namespace is created by the
// first probe, if the user may create namespaces.
func (o *DoctorOptions) missingNamespace(ctx context.Context, c check) check {
	c.detail = "namespace does not exist"
	if o.namespace != session.DefaultNamespace {
		c.remedy = fmt.Sprintf("create it (kubectl create ns %s) or pick another with --probe-namespace", o.namespace)
		return c
	}
	ssar := &authv1.SelfSubjectAccessReview{Spec: authv1.SelfSubjectAccessReviewSpec{
		ResourceAttributes: &authv1.ResourceAttributes{Verb: "create", Resource: "namespaces"}}}
	if r, err := o.client.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx, ssar, metav1.CreateOptions{}); err == nil && r.Status.Allowed {
		c.ok, c.warn = true, true
		c.detail += fmt.Sprintf(" yet: the first probe creates it with %s=privileged", session.LabelPodSecurity)
		return c
	}
	c.detail += " and you may not create it"
	c.remedy = fmt.Sprintf("an admin runs: kubectl create namespace %s && kubectl label namespace %s %s=privileged (or pick a namespace with --probe-namespace)",
		o.namespace, o.namespace, session.LabelPodSecurity)
	return c
}

func allOK(cs []check) bool {
	for _, c := range cs {
		if !c.ok {
			return false
		}
	}
	return true
}

// nodeChecks resolves the target nodes and checks each one.
func (o *DoctorOptions) nodeChecks(ctx context.Context) ([]*corev1.Node, []check) {
	var names []string
	switch {
	case o.Node != "":
		names = []string{o.Node}
	case len(o.args) > 0 || o.Selector != "":
		set, err := target.Resolve(ctx, o.f.NewBuilder, o.client, o.args, target.Options{
			Namespace: o.targetNamespace(), AllNamespaces: o.AllNS, Selector: o.Selector,
		})
		if err != nil {
			return nil, []check{{name: "targets", detail: err.Error(), remedy: "check the target names, -n and -l"}}
		}
		names = set.NodeNames()
	default:
		list, err := o.client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		if err != nil {
			return nil, []check{{name: "nodes", detail: fmt.Sprintf("cannot list nodes: %v", shortErr(err)),
				remedy: "ask an admin for a ClusterRole granting \"list\" and \"get\" on nodes, or name a target (doctor pod/NAME)"}}
		}
		for _, n := range list.Items {
			names = append(names, n.Name)
		}
	}
	var out []check
	var nodes []*corev1.Node
	for _, name := range names {
		n, err := o.client.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			out = append(out, check{name: "node " + name, detail: fmt.Sprintf("cannot read node: %v", shortErr(err)),
				remedy: "ask an admin for a ClusterRole granting \"get\" on nodes"})
			continue
		}
		if why := target.Unfit(n); why != "" {
			out = append(out, check{name: "node " + name + ": privileged pods", detail: name + " " + why,
				remedy: "its pods cannot be probed: target pods on Linux nodes with a kernel of their own"})
			continue
		}
		nodes = append(nodes, n)
		out = append(out, nodeKernel(n))
	}
	return nodes, out
}

func (o *DoctorOptions) targetNamespace() string {
	ns, _, err := o.f.ToRawKubeConfigLoader().Namespace()
	if err != nil {
		return o.namespace
	}
	return ns
}

// nodeKernel checks OS, architecture and kernel version (>= 5.8, where BTF
// and the BPF ring buffer are available).
func nodeKernel(n *corev1.Node) check {
	info := n.Status.NodeInfo
	c := check{name: "node " + n.Name + ": kernel"}
	c.detail = fmt.Sprintf("%s/%s, Linux %s", info.OperatingSystem, info.Architecture, info.KernelVersion)
	if info.OperatingSystem != "" && info.OperatingSystem != "linux" {
		c.remedy = "probes run only on Linux nodes; target pods on Linux nodes"
		return c
	}
	if info.Architecture != "amd64" && info.Architecture != "arm64" {
		c.remedy = "the probe image is built for amd64 and arm64 only"
		return c
	}
	maj, min, ok := kernelVersion(info.KernelVersion)
	if !ok {
		c.ok, c.warn = true, true
		c.detail += " (version not understood; the probe checks BTF when it starts)"
		return c
	}
	if maj < 5 || maj == 5 && min < 8 {
		c.detail += " (no BTF / ring buffer)"
		c.remedy = "kubectl pixie needs Linux >= 5.8 with BTF (/sys/kernel/btf/vmlinux); target other nodes"
		return c
	}
	c.ok = true
	c.detail += " (>= 5.8; BTF is checked by the probe when it starts)"
	return c
}

func kernelVersion(s string) (int, int, bool) {
	parts := strings.SplitN(s, ".", 3)
	if len(parts) < 2 {
		return 0, 0, false
	}
	maj, err1 := strconv.Atoi(parts[0])
	minStr := parts[1]
	if i := strings.IndexFunc(minStr, func(r rune) bool { return r < '0' || r > '9' }); i >= 0 {
		minStr = minStr[:i]
	}
	min, err2 := strconv.Atoi(minStr)
	return maj, min, err1 == nil && err2 == nil
}

// dryRun creates the probe pod with dryRun=All: the API server runs
// admission (Pod Security, policies, quotas) without creating anything.
func (o *DoctorOptions) dryRun(ctx context.Context, node string) check {
	c := check{name: "probe pod admission (server dry run)"}
	so := session.Options{Client: o.client, Namespace: o.namespace, Targets: []target.Node{{Name: node, All: true}},
		Probe: "doctor", AgentArgs: func(target.Node) ([]string, error) { return []string{"version"}, nil }, Window: 1}
	o.Probe.Apply(&so)
	pods, err := session.Pods(&so)
	if err != nil {
		c.detail = err.Error()
		return c
	}
	_, err = o.client.CoreV1().Pods(o.namespace).Create(ctx, pods[0], metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
	if err != nil {
		c.detail = shortErr(err)
		if apierrors.IsForbidden(err) && strings.Contains(err.Error(), "PodSecurity") {
			c.detail = "rejected by Pod Security"
			c.remedy = fmt.Sprintf("use --probe-namespace with a namespace that allows privileged pods (e.g. kube-system), or label one: kubectl label ns %s pod-security.kubernetes.io/enforce=privileged", o.namespace)
		} else if apierrors.IsForbidden(err) {
			c.remedy = "you may not create pods in namespace " + o.namespace + "; see the rbac checks"
		} else {
			c.remedy = "fix what the API server says above"
		}
		return c
	}
	c.ok = true
	c.detail = fmt.Sprintf("a %s probe pod on node %s would be admitted in namespace %s", o.Probe.Profile, node, o.namespace)
	return c
}

func shortErr(err error) string {
	s := err.Error()
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	return s
}
