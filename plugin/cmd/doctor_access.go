package cmd

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// rootPower is a permission in the probe namespace that amounts to root on
// every node: probe pods are privileged and hostPID, so whoever may run a
// command in one, or create a pod there (Pod Security lets it be
// privileged), controls the node.
type rootPower struct {
	what, subresource string
	verbs             []string
}

var rootPowers = []rootPower{
	{"exec into probe pods", "exec", []string{"create", "get"}}, // get: the older websocket upgrade
	{"attach to probe pods", "attach", []string{"create", "get"}},
	{"add ephemeral containers", "ephemeralcontainers", []string{"update", "patch"}},
	{"create pods", "", []string{"create"}},
}

// namespaceAccess reports, for each root power in the probe namespace,
// who holds it through RBAC (built-in system subjects aside), and warns.
func (o *DoctorOptions) namespaceAccess(ctx context.Context) []check {
	holders, err := rbacHolders(ctx, o.client, o.namespace)
	if err != nil {
		return []check{{name: "who is root through namespace " + o.namespace, ok: true, warn: true,
			detail: fmt.Sprintf("cannot read RBAC bindings (%s): ask an admin who may exec, attach, add ephemeral containers or create pods there (each is root on the node)", shortErr(err))}}
	}
	var out []check
	for i, p := range rootPowers {
		c := check{name: fmt.Sprintf("who may %s in %s", p.what, o.namespace), ok: true}
		names, builtin := holders[i].names()
		switch {
		case len(names) == 0:
			c.detail = fmt.Sprintf("only built-in system subjects (%d)", builtin)
		default:
			c.warn = true
			c.detail = fmt.Sprintf("%s (each is root on the node: give it to nobody who should not be)", list(names, 6))
		}
		out = append(out, c)
	}
	return out
}

// holderSet collects subjects as "Kind name".
type holderSet map[string]bool

// names returns the subjects that are not built in, sorted, and how many
// built-in ones there were (system:* users and groups, kube-system
// service accounts: the control plane's own).
func (h holderSet) names() ([]string, int) {
	var out []string
	builtin := 0
	for s := range h {
		if strings.Contains(s, " system:") || strings.HasPrefix(s, "ServiceAccount kube-system/") {
			builtin++
			continue
		}
		out = append(out, s)
	}
	sort.Strings(out)
	return out, builtin
}

// rbacHolders returns, per rootPowers entry, the subjects bound to a role
// that grants it in namespace (RoleBindings there and ClusterRoleBindings).
func rbacHolders(ctx context.Context, c kubernetes.Interface, namespace string) ([]holderSet, error) {
	rbs, err := c.RbacV1().RoleBindings(namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	crbs, err := c.RbacV1().ClusterRoleBindings().List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	roles := roleRules{c: c, ns: namespace, cache: map[string][]rbacv1.PolicyRule{}}
	out := make([]holderSet, len(rootPowers))
	for i := range out {
		out[i] = holderSet{}
	}
	bind := func(ref rbacv1.RoleRef, subjects []rbacv1.Subject) {
		rules := roles.get(ctx, ref)
		for i, p := range rootPowers {
			if grants(rules, p) {
				for _, s := range subjects {
					out[i][subjectName(s)] = true
				}
			}
		}
	}
	for _, b := range rbs.Items {
		bind(b.RoleRef, b.Subjects)
	}
	for _, b := range crbs.Items {
		bind(b.RoleRef, b.Subjects)
	}
	return out, nil
}

type roleRules struct {
	c     kubernetes.Interface
	ns    string
	cache map[string][]rbacv1.PolicyRule
}

// get returns a role's rules; a role we cannot read grants nothing we can
// tell.
func (r *roleRules) get(ctx context.Context, ref rbacv1.RoleRef) []rbacv1.PolicyRule {
	key := ref.Kind + "/" + ref.Name
	if rules, ok := r.cache[key]; ok {
		return rules
	}
	var rules []rbacv1.PolicyRule
	switch ref.Kind {
	case "ClusterRole":
		if cr, err := r.c.RbacV1().ClusterRoles().Get(ctx, ref.Name, metav1.GetOptions{}); err == nil {
			rules = cr.Rules
		}
	case "Role":
		if role, err := r.c.RbacV1().Roles(r.ns).Get(ctx, ref.Name, metav1.GetOptions{}); err == nil {
			rules = role.Rules
		}
	}
	r.cache[key] = rules
	return rules
}

// grants reports whether a rule of rules allows p on any pod.
func grants(rules []rbacv1.PolicyRule, p rootPower) bool {
	res := "pods"
	if p.subresource != "" {
		res += "/" + p.subresource
	}
	for _, r := range rules {
		if len(r.ResourceNames) > 0 || !anyOf2(r.APIGroups, "", "*") {
			continue
		}
		if !anyOf2(r.Resources, res, "*") && !(p.subresource != "" && slices.Contains(r.Resources, "pods/*")) {
			continue
		}
		for _, v := range p.verbs {
			if anyOf2(r.Verbs, v, "*") {
				return true
			}
		}
	}
	return false
}

func anyOf2(list []string, a, b string) bool {
	return slices.Contains(list, a) || slices.Contains(list, b)
}

func subjectName(s rbacv1.Subject) string {
	if s.Kind == rbacv1.ServiceAccountKind {
		return "ServiceAccount " + s.Namespace + "/" + s.Name
	}
	return s.Kind + " " + s.Name
}

// list joins names, at most n of them.
func list(names []string, n int) string {
	if len(names) <= n {
		return strings.Join(names, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(names[:n], ", "), len(names)-n)
}
