package cmd

import (
	"context"
	"errors"
	"strings"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	kfake "k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

// doctor names who may exec, attach, add ephemeral containers or create
// pods in the probe namespace, built-in system subjects aside.
func TestDoctorWhoIsRootThroughNamespace(t *testing.T) {
	rule := func(res string, verbs ...string) rbacv1.PolicyRule {
		return rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{res}, Verbs: verbs}
	}
	objs := []runtime.Object{
		&rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "cluster-admin"}, Rules: []rbacv1.PolicyRule{{APIGroups: []string{"*"}, Resources: []string{"*"}, Verbs: []string{"*"}}}},
		&rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "cluster-admin"}, RoleRef: rbacv1.RoleRef{Kind: "ClusterRole", Name: "cluster-admin"},
			Subjects: []rbacv1.Subject{{Kind: "Group", Name: "system:masters"}}},
		&rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "debug", Namespace: "pixie-probes"}, Rules: []rbacv1.PolicyRule{rule("pods/exec", "create"), rule("pods", "get", "list")}},
		&rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "debug", Namespace: "pixie-probes"}, RoleRef: rbacv1.RoleRef{Kind: "Role", Name: "debug"},
			Subjects: []rbacv1.Subject{{Kind: "User", Name: "mallory"}}},
		&rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "runner"}, Rules: []rbacv1.PolicyRule{rule("pods", "create", "delete")}},
		&rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "runners", Namespace: "pixie-probes"}, RoleRef: rbacv1.RoleRef{Kind: "ClusterRole", Name: "runner"},
			Subjects: []rbacv1.Subject{{Kind: "Group", Name: "sre"}, {Kind: "ServiceAccount", Namespace: "ci", Name: "deployer"}}},
		// a binding in another namespace grants nothing here
		&rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "elsewhere", Namespace: "shop"}, RoleRef: rbacv1.RoleRef{Kind: "ClusterRole", Name: "cluster-admin"},
			Subjects: []rbacv1.Subject{{Kind: "User", Name: "shop-admin"}}},
	}
	o := &DoctorOptions{client: kfake.NewClientset(objs...), namespace: "pixie-probes"}
	checks := o.namespaceAccess(context.Background())
	got := map[string]check{}
	for _, c := range checks {
		got[c.name] = c
	}
	want := map[string]string{
		"who may exec into probe pods in pixie-probes":     "User mallory",
		"who may attach to probe pods in pixie-probes":     "only built-in system subjects (1)",
		"who may add ephemeral containers in pixie-probes": "only built-in system subjects (1)",
		"who may create pods in pixie-probes":              "Group sre, ServiceAccount ci/deployer",
	}
	for name, detail := range want {
		c, ok := got[name]
		if !ok {
			t.Errorf("no check %q in %+v", name, checks)
			continue
		}
		if !strings.HasPrefix(c.detail, detail) {
			t.Errorf("%s: %q, want it to start with %q", name, c.detail, detail)
		}
		if c.warn != !strings.HasPrefix(detail, "only") || !c.ok {
			t.Errorf("%s: ok %v warn %v", name, c.ok, c.warn)
		}
		if strings.Contains(c.detail, "shop-admin") {
			t.Errorf("%s: a binding of another namespace counted: %q", name, c.detail)
		}
	}

	denied := kfake.NewClientset()
	denied.PrependReactor("list", "rolebindings", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewForbidden(schema.GroupResource{Resource: "rolebindings"}, "", errors.New("no"))
	})
	o.client = denied
	c := o.namespaceAccess(context.Background())
	if len(c) != 1 || !c[0].warn || !strings.Contains(c[0].detail, "ask an admin who may exec") {
		t.Errorf("without RBAC read: %+v", c)
	}
}
