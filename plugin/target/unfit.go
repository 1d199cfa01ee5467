package target

import (
	corev1 "k8s.io/api/core/v1"
)

// Labels and taints that mark nodes where no privileged pod can run.
const (
	labelOS             = "kubernetes.io/os"
	labelType           = "type" // "virtual-kubelet" on virtual nodes (ACI, ...)
	taintVirtualKubelet = "virtual-kubelet.io/provider"
	labelEKSCompute     = "eks.amazonaws.com/compute-type" // "fargate"
	labelGKEAutopilot   = "cloud.google.com/gke-autopilot"
	labelGKEProvisioned = "cloud.google.com/gke-provisioning" // "autopilot"
)

// Unfit says why a probe pod cannot run on a node, or "" when it may: the
// probes need a privileged (or BPF-capable) Linux container sharing the
// node's PID namespace, which Windows nodes, virtual kubelets (EKS
// Fargate, Azure virtual nodes) and GKE Autopilot do not give.
func Unfit(n *corev1.Node) string {
	l := n.Labels
	switch {
	case l[labelOS] == "windows" || n.Status.NodeInfo.OperatingSystem == "windows":
		return "is a Windows node: the probes are Linux eBPF programs"
	case l[labelEKSCompute] == "fargate":
		return "is an EKS Fargate node (one micro-VM per pod): it runs no privileged pods and no eBPF for other pods"
	case l[labelType] == "virtual-kubelet" || hasTaint(n, taintVirtualKubelet):
		return "is a virtual kubelet (its pods run on a serverless backend): it has no kernel to probe"
	case l[labelGKEProvisioned] == "autopilot" || l[labelGKEAutopilot] != "":
		return "is a GKE Autopilot node: Autopilot rejects privileged pods"
	}
	return ""
}

func hasTaint(n *corev1.Node, key string) bool {
	for _, t := range n.Spec.Taints {
		if t.Key == key {
			return true
		}
	}
	return false
}
