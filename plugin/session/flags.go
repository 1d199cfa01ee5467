package session

import (
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/pflag"
	corev1 "k8s.io/api/core/v1"

	"github.com/kubectl-pixie/kubectl-pixie/internal/version"
	"github.com/kubectl-pixie/kubectl-pixie/plugin/podspec"
)

// Flags are the probe-pod flags shared by every command that starts probe
// pods (trace, profile, memory) and by doctor and cleanup.
type Flags struct {
	ProbeNamespace    string
	Image             string
	PullPolicy        string
	Profile           string
	PodRunningTimeout time.Duration
	// MaxNodes is the most probe pods a run starts without Yes.
	MaxNodes int
	Yes      bool
}

// DefaultMaxNodes is --max-nodes' default: a typo'd selector on a large
// cluster should not start a probe pod on every node unasked.
const DefaultMaxNodes = 100

// EnvImage overrides the default probe image.
const EnvImage = "PIXIE_IMAGE"

// NewFlags returns the defaults: the image of this build (or $PIXIE_IMAGE),
// pull policy IfNotPresent, the privileged profile.
func NewFlags() *Flags {
	img := version.ProbeImage
	if v := os.Getenv(EnvImage); v != "" {
		img = v
	}
	return &Flags{
		Image:             img,
		PullPolicy:        string(corev1.PullIfNotPresent),
		Profile:           string(podspec.ProfilePrivileged),
		PodRunningTimeout: 60 * time.Second,
		MaxNodes:          DefaultMaxNodes,
	}
}

// AddFlags registers --probe-namespace, --image, --image-pull-policy,
// --profile and --pod-running-timeout.
func (f *Flags) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&f.ProbeNamespace, "probe-namespace", f.ProbeNamespace, "namespace of the probe pods (default "+DefaultNamespace+", created when missing)")
	fs.StringVar(&f.Image, "image", f.Image, "probe image, best pinned by digest (REPO:TAG@sha256:...); the flag beats env "+EnvImage+", which beats this build's default")
	fs.StringVar(&f.PullPolicy, "image-pull-policy", f.PullPolicy, "probe image pull policy: Always, IfNotPresent or Never")
	fs.StringVar(&f.Profile, "profile", f.Profile, "security profile of the probe pods: "+podspec.ProfileNames())
	fs.DurationVar(&f.PodRunningTimeout, "pod-running-timeout", f.PodRunningTimeout, "how long to wait for the probe pods to start (at most "+MaxPodRunningTimeout.String()+")")
}

// AddFanoutFlags registers --max-nodes and --yes, for the commands that
// start one probe pod per node (trace, profile, memory).
func (f *Flags) AddFanoutFlags(fs *pflag.FlagSet) {
	fs.IntVar(&f.MaxNodes, "max-nodes", f.MaxNodes, "refuse to start more probe pods (one per node) than this without --yes")
	fs.BoolVar(&f.Yes, "yes", f.Yes, "start the probe pods even when there are more than --max-nodes")
}

// CheckNodes refuses to start n probe pods when that is more than
// --max-nodes and --yes was not given.
func (f *Flags) CheckNodes(n int) error {
	if n <= f.MaxNodes || f.Yes {
		return nil
	}
	return fmt.Errorf("the targets are on %d nodes: this would start %d probe pods (one per node), more than --max-nodes %d\n"+
		"  add --yes to start them all, raise --max-nodes, or narrow the targets (TYPE/NAME, -l, -n)", n, n, f.MaxNodes)
}

// AddCleanupFlags registers only --probe-namespace (for cleanup).
func (f *Flags) AddCleanupFlags(fs *pflag.FlagSet) {
	fs.StringVar(&f.ProbeNamespace, "probe-namespace", f.ProbeNamespace, "namespace of the probe pods (default "+DefaultNamespace+")")
}

// Validate checks the flag values without I/O.
func (f *Flags) Validate() error {
	switch corev1.PullPolicy(f.PullPolicy) {
	case corev1.PullAlways, corev1.PullIfNotPresent, corev1.PullNever:
	default:
		return fmt.Errorf("unknown --image-pull-policy %q: use Always, IfNotPresent or Never", f.PullPolicy)
	}
	switch podspec.Profile(f.Profile) {
	case podspec.ProfilePrivileged, podspec.ProfileMinimal:
	default:
		return fmt.Errorf("unknown --profile %q: use %s", f.Profile, podspec.ProfileNames())
	}
	if err := checkImage(f.Image); err != nil {
		return err
	}
	if f.MaxNodes < 1 {
		return fmt.Errorf("--max-nodes %d is out of range: use 1 or more (the most probe pods started without --yes)", f.MaxNodes)
	}
	if f.PodRunningTimeout <= 0 || f.PodRunningTimeout > MaxPodRunningTimeout {
		return fmt.Errorf("--pod-running-timeout %s is out of range: use a value above 0 and at most %s (it also extends the probe pods' deadline)", f.PodRunningTimeout, MaxPodRunningTimeout)
	}
	return nil
}

// MaxPodRunningTimeout bounds --pod-running-timeout, which is added to the
// probe pods' activeDeadlineSeconds.
const MaxPodRunningTimeout = 10 * time.Minute

// Namespace is --probe-namespace, or the dedicated DefaultNamespace (not
// the namespace of -n: that is where the targets are).
func (f *Flags) Namespace() string {
	if f.ProbeNamespace != "" {
		return f.ProbeNamespace
	}
	return DefaultNamespace
}

// Apply copies the flags into o (Namespace is set by the caller, see
// Flags.Namespace).
func (f *Flags) Apply(o *Options) {
	o.Pod.Image = f.Image
	o.Pod.PullPolicy = corev1.PullPolicy(f.PullPolicy)
	o.Pod.Profile = podspec.Profile(f.Profile)
	o.Pod.PluginVersion = version.Get().Version
	o.PodRunningTimeout = f.PodRunningTimeout
	o.CreateNamespace = f.ProbeNamespace == ""
	o.Pod.Command = CommandLine(os.Args)
}

// CommandLine renders argv for the audit annotation, quoting arguments a
// shell would split.
func CommandLine(argv []string) string {
	var b strings.Builder
	for i, a := range argv {
		if i == 0 {
			a = "kubectl-pixie" // not the path it was started from
		}
		if i > 0 {
			b.WriteByte(' ')
		}
		if a == "" || strings.ContainsAny(a, " \t\n'\"\\$`|&;<>(){}*?[]#~") {
			a = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		b.WriteString(a)
	}
	return b.String()
}
