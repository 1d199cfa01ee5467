package podspec

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
)

func stubSuffix(t *testing.T) {
	t.Helper()
	old := randSuffix
	randSuffix = func() string { return "x7k2p" }
	t.Cleanup(func() { randSuffix = old })
}

// basePod is the expected privileged pod for node-1; cases mutate a copy.
func basePod() *corev1.Pod {
	deadline := int64(45)
	hostPath := corev1.HostPathUnset
	vol := func(name, path string) corev1.Volume {
		return corev1.Volume{Name: name, VolumeSource: corev1.VolumeSource{
			HostPath: &corev1.HostPathVolumeSource{Path: path, Type: &hostPath}}}
	}
	f, tr := false, true
	grace, thirty := int64(5), int64(30)
	return &corev1.Pod{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{
			Name:      "pixie-trace-node-1-x7k2p",
			Namespace: "pixie",
			Labels: map[string]string{
				"app.kubernetes.io/managed-by": "kubectl-pixie",
				"pixie.dev/session":            "s1",
				"pixie.dev/probe":              "trace",
			},
			Annotations: map[string]string{"pixie.dev/session": "s1"},
		},
		Spec: corev1.PodSpec{
			NodeName:                      "node-1",
			HostPID:                       true,
			RestartPolicy:                 corev1.RestartPolicyNever,
			ActiveDeadlineSeconds:         &deadline,
			AutomountServiceAccountToken:  &f,
			EnableServiceLinks:            &f,
			TerminationGracePeriodSeconds: &grace,
			Tolerations: []corev1.Toleration{
				{Key: "node.kubernetes.io/unreachable", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: &thirty},
				{Key: "node.kubernetes.io/not-ready", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: &thirty},
				{Operator: corev1.TolerationOpExists},
			},
			Volumes: []corev1.Volume{
				vol("btf", "/sys/kernel/btf"),
				vol("cgroup", "/sys/fs/cgroup"),
				vol("tracing", "/sys/kernel/tracing"),
			},
			Containers: []corev1.Container{{
				Name:            "probe",
				Image:           "localhost/kubectl-pixie/probe:dev",
				ImagePullPolicy: corev1.PullNever,
				Command:         []string{"/pixie-agent"},
				Args:            []string{"trace", "--config", `{"all":true}`},
				Env: []corev1.EnvVar{
					{Name: "PIXIE_POD_UID", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "metadata.uid"}}},
					{Name: "PIXIE_DATA_ACCESS", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "metadata.annotations['pixie.dev/data-access']"}}},
					{Name: "PIXIE_DEADLINE_SECONDS", Value: "45"},
				},
				Resources: corev1.ResourceRequirements{
					Requests: corev1.ResourceList{
						corev1.ResourceCPU:    resource.MustParse("50m"),
						corev1.ResourceMemory: resource.MustParse("64Mi"),
					},
					Limits: corev1.ResourceList{
						corev1.ResourceCPU:    resource.MustParse("1"),
						corev1.ResourceMemory: resource.MustParse("256Mi"),
					},
				},
				VolumeMounts: []corev1.VolumeMount{
					{Name: "btf", MountPath: "/sys/kernel/btf", ReadOnly: true},
					{Name: "cgroup", MountPath: "/sys/fs/cgroup", ReadOnly: true},
					{Name: "tracing", MountPath: "/sys/kernel/tracing", ReadOnly: true},
				},
				TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
				SecurityContext:          &corev1.SecurityContext{Privileged: &tr},
			}},
		},
	}
}

func baseOpts() Options {
	return Options{
		Namespace:  "pixie",
		Image:      "localhost/kubectl-pixie/probe:dev",
		PullPolicy: corev1.PullNever,
		SessionID:  "s1",
		Window:     15 * time.Second,
	}
}

func TestBuild(t *testing.T) {
	stubSuffix(t)
	root, f := int64(0), false
	now := time.Date(2026, 11, 25, 17, 0, 0, 0, time.UTC)
	cases := []struct {
		name string
		node string
		opts func(*Options)
		want func(*corev1.Pod)
	}{
		{name: "privileged default", node: "node-1", opts: func(*Options) {}, want: func(*corev1.Pod) {}},
		{
			name: "empty profile and pull policy take defaults",
			node: "node-1",
			opts: func(o *Options) { o.PullPolicy = ""; o.Profile = "" },
			want: func(p *corev1.Pod) { p.Spec.Containers[0].ImagePullPolicy = corev1.PullIfNotPresent },
		},
		{
			name: "minimal profile",
			node: "node-1",
			opts: func(o *Options) { o.Profile = ProfileMinimal },
			want: func(p *corev1.Pod) {
				p.Spec.Containers[0].SecurityContext = &corev1.SecurityContext{
					Capabilities: &corev1.Capabilities{
						Add:  []corev1.Capability{"BPF", "PERFMON"},
						Drop: []corev1.Capability{"ALL"},
					},
					RunAsUser:                &root,
					ReadOnlyRootFilesystem:   ptr(true),
					AllowPrivilegeEscalation: &f,
					SeccompProfile:           &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeUnconfined},
					AppArmorProfile:          &corev1.AppArmorProfile{Type: corev1.AppArmorProfileTypeUnconfined},
				}
			},
		},
		{
			name: "window rounds up, custom grace, host network, resources, annotations",
			node: "node-1",
			opts: func(o *Options) {
				o.Window = 1500 * time.Millisecond
				o.Grace = 10 * time.Second
				o.HostNetwork = true
				o.MemoryLimit = resource.MustParse("1Gi")
				o.Now = now
				o.PluginVersion = "v1.2.3"
				o.Command = "kubectl pixie trace pod/web"
				o.User = "alice@example.com"
				o.DataAccess = "restricted"
			},
			want: func(p *corev1.Pod) {
				d := int64(12)
				p.Spec.ActiveDeadlineSeconds = &d
				p.Spec.Containers[0].Env[2].Value = "12"
				p.Spec.HostNetwork = true
				p.Spec.Containers[0].Resources.Limits[corev1.ResourceMemory] = resource.MustParse("1Gi")
				p.Annotations = map[string]string{
					"pixie.dev/expires":        "2026-11-25T17:00:12Z",
					"pixie.dev/plugin-version": "v1.2.3",
					"pixie.dev/command":        "kubectl pixie trace pod/web",
					"pixie.dev/session":        "s1",
					"pixie.dev/started-by":     "alice@example.com",
					"pixie.dev/data-access":    "restricted",
				}
			},
		},
		{
			name: "node name with dots and capitals",
			node: "IP-10-0-1-7.eu-west-1.compute.internal",
			opts: func(*Options) {},
			want: func(p *corev1.Pod) {
				p.Name = "pixie-trace-ip-10-0-1-7-eu-west-1-compute-internal-x7k2p"
				p.Spec.NodeName = "IP-10-0-1-7.eu-west-1.compute.internal"
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o := baseOpts()
			tc.opts(&o)
			got, err := Build(tc.node, "trace", []string{"trace", "--config", `{"all":true}`}, o)
			if err != nil {
				t.Fatal(err)
			}
			want := basePod()
			tc.want(want)
			if d := cmp.Diff(want, got); d != "" {
				t.Errorf("pod mismatch (-want +got):\n%s", d)
			}
		})
	}
}

func TestMinimalCapabilitiesPerProbe(t *testing.T) {
	stubSuffix(t)
	o := baseOpts()
	o.Profile = ProfileMinimal
	p, err := Build("n", "profile", nil, o)
	if err != nil {
		t.Fatal(err)
	}
	want := []corev1.Capability{"BPF", "PERFMON", "SYS_PTRACE"}
	if d := cmp.Diff(want, p.Spec.Containers[0].SecurityContext.Capabilities.Add); d != "" {
		t.Error(d)
	}
}

func TestBuildErrors(t *testing.T) {
	cases := []struct {
		name, node, want string
		opts             func(*Options)
	}{
		{"no node", "", "empty node", func(*Options) {}},
		{"no image", "n", "--image", func(o *Options) { o.Image = "" }},
		{"no window", "n", "window", func(o *Options) { o.Window = 0 }},
		{"bad profile", "n", "privileged or minimal", func(o *Options) { o.Profile = "root" }},
		{"bad pull policy", "n", "IfNotPresent", func(o *Options) { o.PullPolicy = "Sometimes" }},
		{"bad session", "n", "session id", func(o *Options) { o.SessionID = "a b" }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o := baseOpts()
			tc.opts(&o)
			_, err := Build(tc.node, "trace", nil, o)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to mention %q", err, tc.want)
			}
		})
	}
}

func TestNameIsADNSLabel(t *testing.T) {
	long := strings.Repeat("worker-", 20) + "9"
	for _, node := range []string{"n", long, "a.b.c", strings.Repeat("x", 63)} {
		n := Name("trace", node)
		if errs := validation.IsDNS1123Label(n); len(errs) > 0 {
			t.Errorf("Name(%q) = %q: %v", node, n, errs)
		}
		if !strings.HasPrefix(n, "pixie-trace-") {
			t.Errorf("Name(%q) = %q, want prefix pixie-trace-", node, n)
		}
	}
	stubSuffix(t)
	if got, want := Name("trace", long), "pixie-trace-worker-worker-worker-worker-worker-worker-wor-x7k2p"; got != want || len(got) != 63 {
		t.Errorf("Name(long) = %q (%d), want %q", got, len(got), want)
	}
}
