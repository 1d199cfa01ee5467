package cmd

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestNodeKernel(t *testing.T) {
	cases := []struct {
		os, arch, kernel string
		ok               bool
	}{
		{"linux", "amd64", "6.18.0-cloud-amd64", true},
		{"linux", "arm64", "5.8.0", true},
		{"linux", "amd64", "5.4.0-1234-aws", false},
		{"linux", "amd64", "4.19.0", false},
		{"linux", "s390x", "6.1.0", false},
		{"windows", "amd64", "10.0.17763", false},
		{"linux", "amd64", "weird", true}, // unknown: the probe decides
	}
	for _, c := range cases {
		n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n"}, Status: corev1.NodeStatus{NodeInfo: corev1.NodeSystemInfo{
			OperatingSystem: c.os, Architecture: c.arch, KernelVersion: c.kernel}}}
		got := nodeKernel(n)
		if got.ok != c.ok {
			t.Errorf("%s/%s %s: ok = %v, want %v (%s)", c.os, c.arch, c.kernel, got.ok, c.ok, got.detail)
		}
		if !got.ok && got.remedy == "" {
			t.Errorf("%s/%s %s: failed without a remedy", c.os, c.arch, c.kernel)
		}
	}
}
