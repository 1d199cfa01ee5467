package session

import (
	"context"
	"fmt"
	"io"
	"sync"
	"time"

	authnv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/kubectl-pixie/kubectl-pixie/plugin/podspec"
	"github.com/kubectl-pixie/kubectl-pixie/probes/api"
)

// DefaultNamespace is the probe namespace when --probe-namespace is not
// given: a namespace of its own, so that pods/exec there (root on the node
// through a privileged hostPID pod) can be given to nobody.
const DefaultNamespace = "pixie-probes"

// Namespace labels and annotations the plugin reads or sets.
const (
	LabelPodSecurity = "pod-security.kubernetes.io/enforce"
	// LabelProbeNamespace marks the namespace the plugin created, for an
	// admission policy to bind to (examples/security).
	LabelProbeNamespace = "pixie.dev/probe-namespace"
	// AnnotationAllowFull on the probe namespace lets probes there run
	// with --data-access full (set by an admin; see README "Security model").
	AnnotationAllowFull = "pixie.dev/allow-full-data-access"
)

// DataAccessFull is the data-access mode that keeps every captured byte.
const DataAccessFull = string(api.DataAccessFull)

// prepare runs before any pod is created: it makes sure the probe
// namespace exists (creating the dedicated one), enforces the admin's
// data-access cap, records who starts the probes, reaps expired pods of
// earlier sessions and names the session.
func prepare(ctx context.Context, o *Options) error {
	if o.CreateNamespace {
		if err := EnsureNamespace(ctx, o.Client, o.Namespace); err != nil {
			return err
		}
	}
	if o.Pod.DataAccess == DataAccessFull {
		if err := AllowsFullData(ctx, o.Client, o.Namespace); err != nil {
			return err
		}
	}
	if o.Pod.User == "" {
		o.Pod.User = WhoAmI(ctx, o.Client)
	}
	if n, _ := Reap(ctx, o.Client, o.Namespace, time.Now()); n > 0 && !o.Quiet {
		fmt.Fprintf(o.ErrOut, "removed %d expired probe pod(s) of earlier sessions\n", n)
	}
	if !o.Quiet {
		fmt.Fprintf(o.ErrOut, "session %s: probe pods in namespace %s (kubectl pixie sessions lists them)\n", o.SessionID, o.Namespace)
		fmt.Fprint(o.ErrOut, ImageWarning(o.Pod.Image))
	}
	return nil
}

// EnsureNamespace creates the probe namespace, labelled for privileged
// pods, when it does not exist; when the user may not, the error says what
// an admin runs.
func EnsureNamespace(ctx context.Context, c kubernetes.Interface, name string) error {
	_, err := c.CoreV1().Namespaces().Get(ctx, name, metav1.GetOptions{})
	if err == nil || !apierrors.IsNotFound(err) {
		return nil // exists, or we may not read it: the pod creation tells
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{
		LabelPodSecurity:       "privileged",
		LabelProbeNamespace:    "true",
		podspec.LabelManagedBy: podspec.ManagedByValue,
	}}}
	_, err = c.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{})
	switch {
	case err == nil, apierrors.IsAlreadyExists(err):
		return nil
	case apierrors.IsForbidden(err):
		return fmt.Errorf("the probe namespace %q does not exist and you may not create it; an admin runs:\n"+
			"    kubectl create namespace %s\n"+
			"    kubectl label namespace %s %s=privileged\n"+
			"  or pick a namespace that allows privileged pods with --probe-namespace", name, name, name, LabelPodSecurity)
	}
	return fmt.Errorf("creating the probe namespace %q: %w", name, err)
}

// AllowsFullData checks the admin's cap: full data access only where the
// probe namespace carries pixie.dev/allow-full-data-access=true.
func AllowsFullData(ctx context.Context, c kubernetes.Interface, namespace string) error {
	ns, err := c.CoreV1().Namespaces().Get(ctx, namespace, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("--data-access full needs the probe namespace %q to allow it, and it cannot be read: %w\n"+
			"  use --data-access restricted, or ask an admin for read access to the namespace", namespace, err)
	}
	if ns.Annotations[AnnotationAllowFull] != "true" {
		return fmt.Errorf("--data-access full is not allowed in probe namespace %q\n"+
			"  use --data-access restricted, or an admin allows it with:\n"+
			"    kubectl annotate namespace %s %s=true", namespace, namespace, AnnotationAllowFull)
	}
	return nil
}

// WhoAmI returns the user name the API server knows us by (SelfSubjectReview,
// GA in Kubernetes 1.28), or "" when it cannot tell.
func WhoAmI(ctx context.Context, c kubernetes.Interface) string {
	r, err := c.AuthenticationV1().SelfSubjectReviews().Create(ctx, &authnv1.SelfSubjectReview{}, metav1.CreateOptions{})
	if err != nil {
		return ""
	}
	return r.Status.UserInfo.Username
}

// syncWriter serializes writes: the stream goroutines warn while the main
// one prints the status line.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}
