package target

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestUnfit(t *testing.T) {
	node := func(labels map[string]string, taints ...string) *corev1.Node {
		n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n", Labels: labels}}
		for _, k := range taints {
			n.Spec.Taints = append(n.Spec.Taints, corev1.Taint{Key: k, Effect: corev1.TaintEffectNoSchedule})
		}
		return n
	}
	cases := []struct {
		n    *corev1.Node
		want string // substring of the reason; "" = fit
	}{
		{node(map[string]string{"kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64"}), ""},
		{node(map[string]string{"kubernetes.io/os": "windows"}), "Windows"},
		{node(map[string]string{"eks.amazonaws.com/compute-type": "fargate"}), "Fargate"},
		{node(map[string]string{"eks.amazonaws.com/compute-type": "ec2"}), ""},
		{node(map[string]string{"type": "virtual-kubelet"}), "virtual kubelet"},
		{node(nil, "virtual-kubelet.io/provider"), "virtual kubelet"},
		{node(map[string]string{"cloud.google.com/gke-provisioning": "autopilot"}), "Autopilot"},
		{node(map[string]string{"cloud.google.com/gke-autopilot": "true"}), "Autopilot"},
		{node(map[string]string{"cloud.google.com/gke-provisioning": "standard"}), ""},
		{node(nil, "node-role.kubernetes.io/control-plane"), ""},
	}
	for i, c := range cases {
		got := Unfit(c.n)
		if (c.want == "") != (got == "") || !strings.Contains(got, c.want) {
			t.Errorf("case %d (%v %v): %q, want %q", i, c.n.Labels, c.n.Spec.Taints, got, c.want)
		}
	}
	win := &corev1.Node{Status: corev1.NodeStatus{NodeInfo: corev1.NodeSystemInfo{OperatingSystem: "windows"}}}
	if Unfit(win) == "" {
		t.Error("a node whose kubelet reports windows is fit")
	}
}
