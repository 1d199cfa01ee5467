package cmd

import (
	"context"
	"strings"
	"testing"
	"time"

	authnv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	kfake "k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/kubectl-pixie/kubectl-pixie/plugin/podspec"
	"github.com/kubectl-pixie/kubectl-pixie/plugin/session"
)

var cleanupNow = time.Date(2026, 12, 6, 20, 0, 0, 0, time.UTC)

func probePod(name, sess, user string, expires time.Duration) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "pixie-probes",
			CreationTimestamp: metav1.NewTime(cleanupNow.Add(-2 * time.Minute)),
			Labels:            map[string]string{podspec.LabelManagedBy: podspec.ManagedByValue, podspec.LabelSession: sess, podspec.LabelProbe: "trace"},
			Annotations: map[string]string{
				podspec.AnnotationExpiry: cleanupNow.Add(expires).Format(time.RFC3339),
				podspec.AnnotationUser:   user, podspec.AnnotationDataAccess: "restricted",
				podspec.AnnotationCmd: "kubectl-pixie trace deploy/web\x1b[2J",
			}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning},
	}
}

func cleanupClient() *kfake.Clientset {
	finished := probePod("done", "s4", "", time.Hour)
	finished.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "probe", State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 124}}}}
	c := kfake.NewClientset(
		probePod("expired", "s1", "bob", -time.Minute),
		probePod("mine", "s2", "alice", time.Hour),
		probePod("bobs", "s3", "bob", time.Hour),
		finished,
	)
	c.PrependReactor("create", "selfsubjectreviews", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, &authnv1.SelfSubjectReview{Status: authnv1.SelfSubjectReviewStatus{UserInfo: authnv1.UserInfo{Username: "alice"}}}, nil
	})
	return c
}

func left(t *testing.T, c *kfake.Clientset) []string {
	t.Helper()
	l, err := c.CoreV1().Pods("pixie-probes").List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range l.Items {
		names = append(names, p.Name)
	}
	return names
}

func TestCleanupSelection(t *testing.T) {
	cases := []struct {
		name  string
		opts  func(*CleanupOptions)
		left  string
		print string
	}{
		{"default: expired and mine", func(*CleanupOptions) {}, "bobs", "pod/mine deleted (namespace pixie-probes, yours; session s2, started by alice, data access restricted"},
		{"dry run deletes nothing", func(o *CleanupOptions) { o.DryRun = true }, "bobs,done,expired,mine", "pod/expired would be deleted (namespace pixie-probes, expired; session s1, started by bob"},
		{"all", func(o *CleanupOptions) { o.All = true }, "", "pod/bobs deleted"},
		{"one session", func(o *CleanupOptions) { o.SessionID = "s3" }, "done,expired,mine", "pod/bobs deleted (namespace pixie-probes, session s3;"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := cleanupClient()
			streams, _, out, errOut := genericiooptions.NewTestIOStreams()
			o := &CleanupOptions{Probe: session.NewFlags(), IOStreams: streams, client: c, namespace: "pixie-probes",
				Timeout: 5 * time.Second, Wait: true, now: func() time.Time { return cleanupNow }}
			tc.opts(o)
			if err := o.Run(context.Background()); err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(left(t, c), ","); got != tc.left {
				t.Errorf("left %q, want %q", got, tc.left)
			}
			if !strings.Contains(out.String(), tc.print) {
				t.Errorf("stdout %q lacks %q", out.String(), tc.print)
			}
			if strings.Contains(out.String(), "\x1b") {
				t.Errorf("raw escape from an annotation reached the terminal: %q", out.String())
			}
			if tc.left == "bobs" && !strings.Contains(errOut.String(), "kept 1 live probe pod(s) of other users' sessions") {
				t.Errorf("stderr %q", errOut.String())
			}
		})
	}
}

func TestCleanupFlagsValidatedFirst(t *testing.T) {
	o := &CleanupOptions{All: true, SessionID: "x", Timeout: time.Second}
	if err := o.Validate(); err == nil {
		t.Error("--all with --session accepted")
	}
}

func TestSessionsListsAuditTrail(t *testing.T) {
	streams, _, out, _ := genericiooptions.NewTestIOStreams()
	o := &SessionsOptions{IOStreams: streams, client: cleanupClient(), namespace: "pixie-probes", now: func() time.Time { return cleanupNow }}
	if err := o.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 5 {
		t.Fatalf("want a header and 4 sessions:\n%s", out.String())
	}
	for _, want := range []string{"SESSION", "STARTED BY", "s1", "bob", "expired", "s2", "alice", "in 60m", "1/1 running", "restricted", "kubectl-pixie trace deploy/web"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("listing lacks %q:\n%s", want, out.String())
		}
	}
	if strings.Contains(out.String(), "\x1b") {
		t.Errorf("raw escape in listing: %q", out.String())
	}
}
