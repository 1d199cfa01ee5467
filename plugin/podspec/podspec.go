// Package podspec builds the probe pod: a pure function from a node, a probe
// and options to a *corev1.Pod. Nothing here talks to the API server.
//
// The pod is short-lived and bounded: pinned to its node (the scheduler is
// bypassed, like kubectl debug node/...), tolerating every taint but for at
// most 30s a node that stopped reporting, hostPID so the agent sees the
// node's processes through /proc, restartPolicy Never and
// activeDeadlineSeconds = window + grace, the server-side backstop that kills
// the pod even when the plugin is gone (and which the agent also enforces
// itself, for a node whose kubelet is gone). It has no service-account token (the
// agent never talks to the API server) and mounts only what probes read.
package podspec

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilrand "k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/apimachinery/pkg/util/validation"
)

// Labels and annotations on every probe pod.
const (
	LabelManagedBy   = "app.kubernetes.io/managed-by"
	ManagedByValue   = "kubectl-pixie"
	LabelSession     = "pixie.dev/session"
	LabelProbe       = "pixie.dev/probe"
	AnnotationExpiry = "pixie.dev/expires" // RFC 3339, when activeDeadlineSeconds ends the pod
	AnnotationVer    = "pixie.dev/plugin-version"
	// The audit trail: who started the probe (from SelfSubjectReview), with
	// which command line and data-access mode, in which session.
	AnnotationCmd        = "pixie.dev/command"
	AnnotationUser       = "pixie.dev/started-by"
	AnnotationSession    = "pixie.dev/session"
	AnnotationDataAccess = "pixie.dev/data-access"

	// EnvPodUID, EnvDataAccess and EnvDeadline tell the agent it runs in a
	// probe pod (see probes/agent/pod.go): the pod's UID names the lock that
	// makes the agent take its configuration once; the data-access mode
	// comes from the pod's annotation (which an admission policy can check
	// against the namespace); the deadline is activeDeadlineSeconds, which
	// the agent enforces itself when the kubelet is gone.
	EnvPodUID     = "PIXIE_POD_UID"
	EnvDataAccess = "PIXIE_DATA_ACCESS"
	EnvDeadline   = "PIXIE_DEADLINE_SECONDS"

	// UnreachableToleration bounds how long a probe pod stays on a node
	// that stopped reporting (the unreachable and not-ready NoExecute
	// taints): the plugin cannot read it there anyway.
	UnreachableToleration = 30 * time.Second

	// ManagedSelector selects every pod the plugin created.
	ManagedSelector = LabelManagedBy + "=" + ManagedByValue

	// ContainerName is the probe container's name.
	ContainerName = "probe"
	// AgentPath is the agent binary inside the probe image.
	AgentPath = "/pixie-agent"
)

// Profile is the security profile of the probe pod.
type Profile string

const (
	// ProfilePrivileged runs the probe as a privileged container: works on
	// every runtime and kernel that has BPF at all.
	ProfilePrivileged Profile = "privileged"
	// ProfileMinimal grants only the capabilities the probes need (see
	// MinimalCapabilities) and keeps everything else of a normal container.
	ProfileMinimal Profile = "minimal"
)

// Profiles lists the valid profiles, default first.
var Profiles = []Profile{ProfilePrivileged, ProfileMinimal}

// MinimalCapabilities returns the capability set of the minimal profile
// for a probe. Measured on Linux 6.18 with kernel.unprivileged_bpf_disabled=2
// by running the agent with only these capabilities (test/e2e
// TestMinimalProfile runs the real trace probe in a pod with them):
//   - BPF: the bpf() syscall: maps, programs, BTF.
//   - PERFMON: tracing programs (tracepoints, raw tracepoints, uprobes),
//     perf_event_open for tracepoints, bpf_probe_read_* of kernel memory.
//   - SYS_PTRACE (profile, memory only): /proc/PID/{maps,smaps_rollup,root}
//     of other processes are readable only with ptrace read access.
//
// Not needed since Linux 5.8/5.11: SYS_ADMIN (BPF and PERFMON split it)
// and SYS_RESOURCE (BPF memory is charged to the memory cgroup, not
// RLIMIT_MEMLOCK). The trace probe reads only world-readable /proc files
// (comm, cgroup, stat).
func MinimalCapabilities(probe string) []corev1.Capability {
	caps := []corev1.Capability{"BPF", "PERFMON"}
	switch probe {
	case "profile", "memory":
		caps = append(caps, "SYS_PTRACE")
	}
	return caps
}

// Options configure the probe pod.
type Options struct {
	Namespace  string
	Image      string
	PullPolicy corev1.PullPolicy // default IfNotPresent
	Profile    Profile           // default privileged
	SessionID  string            // required: the pixie.dev/session label
	// Window is how long the probe runs; Grace is added for start-up and
	// the final flush: activeDeadlineSeconds = Window + Grace.
	Window time.Duration
	Grace  time.Duration // default 30s
	// HostNetwork puts the probe in the node's network namespace; only
	// probes that need it ask for it.
	HostNetwork bool
	// Resources; zero values take the defaults below.
	CPURequest    resource.Quantity
	CPULimit      resource.Quantity
	MemoryRequest resource.Quantity
	MemoryLimit   resource.Quantity
	// Now is the time the deadline annotation counts from; zero means
	// no expiry annotation (pure output for tests).
	Now time.Time
	// PluginVersion, Command, User and DataAccess are recorded as
	// annotations when set.
	PluginVersion string
	Command       string
	User          string
	DataAccess    string
}

// Defaults of Options.
const DefaultGrace = 30 * time.Second

var (
	defaultCPURequest = resource.MustParse("50m")
	// One core at most: BPF programs run in the traced processes' context
	// (charged to them), the agent only decodes. Throttled, it falls
	// behind and the ring buffer drops events, which the footer counts as
	// lost: a bounded, visible cost instead of a probe that can take a node.
	defaultCPULimit      = resource.MustParse("1")
	defaultMemoryRequest = resource.MustParse("64Mi")
	defaultMemoryLimit   = resource.MustParse("256Mi")
)

// randSuffix is a variable so tests can stub it.
var randSuffix = func() string { return utilrand.String(5) }

// Build returns the probe pod for probeName on node, running the agent with
// agentArgs (e.g. ["trace", "--config", "{...}"]).
func Build(node, probeName string, agentArgs []string, opts Options) (*corev1.Pod, error) {
	if err := opts.check(node, probeName); err != nil {
		return nil, err
	}
	opts.defaults()
	deadline := int64((opts.Window + opts.Grace + time.Second - 1) / time.Second)
	sc, err := securityContext(opts.Profile, probeName)
	if err != nil {
		return nil, err
	}
	pod := &corev1.Pod{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{
			Name:      Name(probeName, node),
			Namespace: opts.Namespace,
			Labels: map[string]string{
				LabelManagedBy: ManagedByValue,
				LabelSession:   opts.SessionID,
				LabelProbe:     probeName,
			},
			Annotations: annotations(opts, time.Duration(deadline)*time.Second),
		},
		Spec: corev1.PodSpec{
			NodeName:                      node,
			HostPID:                       true,
			HostNetwork:                   opts.HostNetwork,
			RestartPolicy:                 corev1.RestartPolicyNever,
			ActiveDeadlineSeconds:         &deadline,
			AutomountServiceAccountToken:  ptr(false),
			EnableServiceLinks:            ptr(false),
			TerminationGracePeriodSeconds: ptr(int64(5)),
			Tolerations:                   tolerations(),
			Containers:                    []corev1.Container{container(opts, agentArgs, deadline, sc)},
		},
	}
	// /proc is the node's through hostPID; these are all the host paths
	// probes read.
	addHostMount(pod, "btf", "/sys/kernel/btf")         // CO-RE relocations
	addHostMount(pod, "cgroup", "/sys/fs/cgroup")       // container cgroups, memory limits
	addHostMount(pod, "tracing", "/sys/kernel/tracing") // tracepoint ids (perf attach)
	return pod, nil
}

// check validates what Build cannot default.
func (opts *Options) check(node, probeName string) error {
	switch {
	case node == "":
		return fmt.Errorf("probe pod: empty node name")
	case probeName == "":
		return fmt.Errorf("probe pod: empty probe name")
	case opts.Image == "":
		return fmt.Errorf("probe pod: no image: pass --image")
	case opts.SessionID == "":
		return fmt.Errorf("probe pod: empty session id")
	case opts.Window <= 0:
		return fmt.Errorf("probe pod: window must be positive, got %s", opts.Window)
	}
	if errs := validation.IsValidLabelValue(opts.SessionID); len(errs) > 0 {
		return fmt.Errorf("probe pod: session id %q: %s", opts.SessionID, strings.Join(errs, "; "))
	}
	switch opts.PullPolicy {
	case "", corev1.PullAlways, corev1.PullIfNotPresent, corev1.PullNever:
		return nil
	}
	return fmt.Errorf("unknown image pull policy %q: use Always, IfNotPresent or Never", opts.PullPolicy)
}

func (opts *Options) defaults() {
	if opts.PullPolicy == "" {
		opts.PullPolicy = corev1.PullIfNotPresent
	}
	if opts.Profile == "" {
		opts.Profile = ProfilePrivileged
	}
	if opts.Grace <= 0 {
		opts.Grace = DefaultGrace
	}
	setDefault(&opts.CPURequest, defaultCPURequest)
	setDefault(&opts.CPULimit, defaultCPULimit)
	setDefault(&opts.MemoryRequest, defaultMemoryRequest)
	setDefault(&opts.MemoryLimit, defaultMemoryLimit)
}

// tolerations let the probe run on any tainted node, but leave a node that
// stopped reporting within UnreachableToleration. The taint manager uses
// the first toleration that matches each taint, so the bounded ones come
// before the catch-all.
func tolerations() []corev1.Toleration {
	secs := int64(UnreachableToleration / time.Second)
	bounded := func(key string) corev1.Toleration {
		return corev1.Toleration{Key: key, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: &secs}
	}
	return []corev1.Toleration{
		bounded("node.kubernetes.io/unreachable"),
		bounded("node.kubernetes.io/not-ready"),
		{Operator: corev1.TolerationOpExists},
	}
}

func container(opts Options, agentArgs []string, deadline int64, sc *corev1.SecurityContext) corev1.Container {
	fromField := func(path string) *corev1.EnvVarSource {
		return &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: path}}
	}
	return corev1.Container{
		Name:            ContainerName,
		Image:           opts.Image,
		ImagePullPolicy: opts.PullPolicy,
		Command:         []string{AgentPath},
		Args:            agentArgs,
		Env: []corev1.EnvVar{
			{Name: EnvPodUID, ValueFrom: fromField("metadata.uid")},
			{Name: EnvDataAccess, ValueFrom: fromField("metadata.annotations['" + AnnotationDataAccess + "']")},
			{Name: EnvDeadline, Value: strconv.FormatInt(deadline, 10)},
		},
		Resources: corev1.ResourceRequirements{
			Requests: corev1.ResourceList{
				corev1.ResourceCPU:    opts.CPURequest,
				corev1.ResourceMemory: opts.MemoryRequest,
			},
			Limits: corev1.ResourceList{
				corev1.ResourceCPU:    opts.CPULimit,
				corev1.ResourceMemory: opts.MemoryLimit,
			},
		},
		TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
		SecurityContext:          sc,
	}
}

func securityContext(profile Profile, probeName string) (*corev1.SecurityContext, error) {
	switch profile {
	case ProfilePrivileged:
		return &corev1.SecurityContext{Privileged: ptr(true)}, nil
	case ProfileMinimal:
		return &corev1.SecurityContext{
			Capabilities: &corev1.Capabilities{
				Add:  MinimalCapabilities(probeName),
				Drop: []corev1.Capability{"ALL"},
			},
			// The agent runs as root (capabilities apply to uid 0 without
			// ambient-capability plumbing) but cannot write its image.
			RunAsUser:                ptr(int64(0)),
			ReadOnlyRootFilesystem:   ptr(true),
			AllowPrivilegeEscalation: ptr(false),
			// The default seccomp profile blocks bpf() and perf_event_open.
			SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeUnconfined},
			// Default AppArmor profiles deny mounting and some /proc reads.
			AppArmorProfile: &corev1.AppArmorProfile{Type: corev1.AppArmorProfileTypeUnconfined},
		}, nil
	}
	return nil, fmt.Errorf("unknown profile %q: use %s", profile, ProfileNames())
}

// ProfileNames lists the profiles for help and errors: "privileged or minimal".
func ProfileNames() string {
	s := make([]string, len(Profiles))
	for i, p := range Profiles {
		s[i] = string(p)
	}
	return strings.Join(s, " or ")
}

// Name is pixie-<probe>-<node>-<5 random chars>, cut to 63 characters (a
// DNS label) by shortening the node part, like kubectl debug's
// node-debugger-<node>-<suffix>.
func Name(probe, node string) string {
	suffix := randSuffix()
	prefix := "pixie-" + probe + "-"
	room := validation.DNS1123LabelMaxLength - len(prefix) - 1 - len(suffix)
	n := sanitize(node)
	if len(n) > room {
		n = strings.TrimRight(n[:max(room, 0)], "-.")
	}
	return prefix + n + "-" + suffix
}

// sanitize turns a node name (a DNS subdomain: may contain dots) into the
// part of a DNS label.
func sanitize(s string) string {
	s = strings.ToLower(s)
	var b strings.Builder
	for _, r := range s {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' {
			b.WriteRune(r)
		} else {
			b.WriteByte('-')
		}
	}
	return strings.Trim(b.String(), "-")
}

// annotations are the audit trail; nil when there is nothing to record.
func annotations(opts Options, deadline time.Duration) map[string]string {
	a := map[string]string{AnnotationSession: opts.SessionID}
	if opts.User != "" {
		a[AnnotationUser] = opts.User
	}
	if opts.DataAccess != "" {
		a[AnnotationDataAccess] = opts.DataAccess
	}
	if !opts.Now.IsZero() {
		a[AnnotationExpiry] = opts.Now.Add(deadline).UTC().Format(time.RFC3339)
	}
	if opts.PluginVersion != "" {
		a[AnnotationVer] = opts.PluginVersion
	}
	if opts.Command != "" {
		a[AnnotationCmd] = truncate(opts.Command, maxCommand)
	}
	return a
}

func addHostMount(pod *corev1.Pod, name, path string) {
	pod.Spec.Volumes = append(pod.Spec.Volumes, corev1.Volume{
		Name: name,
		VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{
			Path: path,
			// Not "Directory": a node without debugfs still runs the probe.
			Type: ptr(corev1.HostPathUnset),
		}},
	})
	c := &pod.Spec.Containers[0]
	c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: name, MountPath: path, ReadOnly: true})
}

func setDefault(q *resource.Quantity, d resource.Quantity) {
	if q.IsZero() {
		*q = d.DeepCopy()
	}
}

func ptr[T any](v T) *T { return &v }

// maxCommand bounds the command annotation (annotations share 256 KiB).
const maxCommand = 2048

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
