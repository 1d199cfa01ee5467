package cmd

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubectl-pixie/kubectl-pixie/internal/version"
	"github.com/kubectl-pixie/kubectl-pixie/plugin/podspec"
	"github.com/kubectl-pixie/kubectl-pixie/plugin/session"
	"github.com/kubectl-pixie/kubectl-pixie/plugin/target"
	"github.com/kubectl-pixie/kubectl-pixie/probes/api"
)

// imagePushRemedy is what to do when nodes cannot pull the probe image.
const imagePushRemedy = "copy the probe image into a registry your nodes can reach: kubectl pixie image push REGISTRY/REPO, then pass the --image it prints (or set " + session.EnvImage + ")"

// representatives picks the nodes the probe image is tried on: one per
// distinct OS/arch of the nodes that can run probe pods (Ready ones
// first), so that every image variant a run would pull is pulled once.
func representatives(nodes []*corev1.Node) []*corev1.Node {
	var out []*corev1.Node
	index := map[string]int{}
	for _, n := range nodes {
		if target.Unfit(n) != "" {
			continue
		}
		key := osArch(n)
		i, seen := index[key]
		switch {
		case !seen:
			index[key] = len(out)
			out = append(out, n)
		case !nodeReady(out[i]) && nodeReady(n):
			out[i] = n
		}
	}
	return out
}

func osArch(n *corev1.Node) string {
	os, arch := n.Status.NodeInfo.OperatingSystem, n.Status.NodeInfo.Architecture
	if os == "" {
		os = n.Labels["kubernetes.io/os"]
	}
	if arch == "" {
		arch = n.Labels["kubernetes.io/arch"]
	}
	return os + "/" + arch
}

func nodeReady(n *corev1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// versionRun is what one `pixie-agent version` pod showed.
type versionRun struct {
	pod     string
	waiting string // the reason it did not run, when it did not
	failed  string // the message with it
	exit    int32
	imageID string        // the digest the node ran
	pulled  time.Duration // 0 with present, or unknown
	present bool
	hello   *api.AgentHello
}

// imageChecks runs the probe image on each node and reports, per node,
// whether it pulled and what the agent found there.
func (o *DoctorOptions) imageChecks(ctx context.Context, nodes []*corev1.Node) []check {
	var out []check
	for _, n := range nodes {
		r, err := o.runVersionPod(ctx, n.Name)
		pull := check{name: fmt.Sprintf("node %s: probe image (%s)", n.Name, osArch(n))}
		if err != nil {
			pull.detail, pull.remedy = err.Error(), "fix what the API server says, then run doctor again"
			out = append(out, pull)
			continue
		}
		out = append(out, pullCheck(pull, o.Probe.Image, r))
		if r.hello != nil || r.waiting == "" {
			out = append(out, agentCheck(n.Name, r))
		}
	}
	return out
}

func pullCheck(c check, image string, r *versionRun) check {
	switch r.waiting {
	case "":
	case "ErrImagePull", "ImagePullBackOff", "InvalidImageName", "RegistryUnavailable", "ErrImageNeverPull":
		c.detail = fmt.Sprintf("cannot pull %s: %s: %s", image, r.waiting, r.failed)
		c.remedy = imagePushRemedy
		if unreachable(r.failed) {
			c.remedy = fmt.Sprintf("the nodes cannot reach the registry %s: check that it is up and that nodes may connect to it (DNS, firewall, the runtime's mirror configuration); or %s", registryOf(image), imagePushRemedy)
		}
		if r.waiting == "ErrImageNeverPull" {
			c.remedy = "the image is not on the node and --image-pull-policy is Never: import it there, or use IfNotPresent and " + imagePushRemedy
		}
		return c
	default:
		c.detail = fmt.Sprintf("%s did not run: %s %s", image, r.waiting, r.failed)
		c.remedy = "see the reason above; `kubectl get events -n NAMESPACE` keeps the kubelet's account for an hour"
		return c
	}
	c.ok = true
	how := "pull time unknown (no events to read)"
	switch {
	case r.present:
		how = "already on the node"
	case r.pulled > 0:
		how = fmt.Sprintf("pulled in %.1fs", r.pulled.Seconds())
	}
	c.detail = fmt.Sprintf("%s, %s; ran %s", image, how, shortDigest(r.imageID))
	return c
}

// unreachable tells a registry that did not answer the node from one that
// answered "no such image", in the runtime's pull error.
func unreachable(msg string) bool {
	for _, s := range []string{"connection refused", "no such host", "i/o timeout", "no route to host", "network is unreachable", "connection reset"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

// registryOf is the registry host of an image reference.
func registryOf(image string) string {
	if ref, err := name.ParseReference(image); err == nil {
		return ref.Context().RegistryStr()
	}
	return image
}

// agentCheck reports the agent's version and what it found on the node.
func agentCheck(node string, r *versionRun) check {
	c := check{name: fmt.Sprintf("node %s: probe agent", node)}
	h := r.hello
	if h == nil {
		c.detail = fmt.Sprintf("the image ran (exit %d) but printed no agent version: it is not this plugin's probe image", r.exit)
		c.remedy = "use this version's image: drop --image and " + session.EnvImage + ", or " + imagePushRemedy
		return c
	}
	btf := "no BTF"
	if h.BTF != nil && *h.BTF {
		btf = "BTF"
	}
	c.detail = fmt.Sprintf("%s on Linux %s (%s), %s, BPF attach %s", h.AgentVersion, h.Kernel, h.Arch, btf, h.Attach)
	warn, err := session.CheckAgentVersion(node, version.Version, h.AgentVersion, true)
	switch {
	case err != nil:
		c.remedy = "use this version's image: drop --image and " + session.EnvImage + ", or " + imagePushRemedy
	case h.BTF == nil || !*h.BTF:
		c.remedy = "kubectl pixie needs Linux >= 5.8 built with BTF (/sys/kernel/btf/vmlinux); target other nodes"
	case h.Attach != "ok":
		c.remedy = "the node forbids loading BPF programs in the probe pod: use --profile privileged, or ask an admin about the node's seccomp, AppArmor or kernel lockdown settings"
	default:
		c.ok, c.warn = true, warn != ""
		if warn != "" {
			c.detail += " (" + strings.TrimSpace(strings.TrimPrefix(warn, "warning: ")) + ")"
		}
	}
	return c
}

func shortDigest(imageID string) string {
	if i := strings.Index(imageID, "sha256:"); i >= 0 {
		return imageID[i:]
	}
	if imageID == "" {
		return "an image the kubelet did not name"
	}
	return imageID
}

// runVersionPod starts one short probe pod on node running `pixie-agent
// version`, waits for it to end (or not start), reads its record and the
// kubelet's pull events, and deletes it, always.
func (o *DoctorOptions) runVersionPod(ctx context.Context, node string) (*versionRun, error) {
	so := session.Options{Client: o.client, Namespace: o.namespace, Targets: []target.Node{{Name: node, All: true}},
		Probe: "doctor", AgentArgs: func(target.Node) ([]string, error) { return []string{"version"}, nil }, Window: 30 * time.Second}
	o.Probe.Apply(&so)
	pods, err := session.Pods(&so)
	if err != nil {
		return nil, err
	}
	created, err := o.client.CoreV1().Pods(o.namespace).Create(ctx, pods[0], metav1.CreateOptions{})
	if err != nil {
		return nil, fmt.Errorf("creating the image check pod on %s: %s", node, shortErr(err))
	}
	defer func() {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 20*time.Second)
		defer cancel()
		ref := session.RefOf(created)
		if failed, err := session.DeletePods(dctx, o.client, []session.PodRef{ref}, 0); len(failed) > 0 {
			fmt.Fprintf(o.ErrOut, "error: could not delete the image check pod %s: %v\n  it ends by itself at its deadline; or run: kubectl delete pod -n %s %s\n", created.Name, err, o.namespace, created.Name)
		}
	}()
	r := &versionRun{pod: created.Name}
	p, err := o.waitVersionPod(ctx, created.Name, r)
	if err != nil {
		return nil, err
	}
	if cs := containerStatus(p); cs != nil {
		r.imageID = cs.ImageID
		if cs.State.Terminated != nil {
			r.exit = cs.State.Terminated.ExitCode
		}
	}
	o.readPullEvents(ctx, created.Name, r)
	if r.waiting == "" {
		logs, err := o.podLogs(ctx, created.Name)
		if err != nil {
			return nil, fmt.Errorf("reading the image check pod's output: %s", shortErr(err))
		}
		r.hello = parseHello(logs)
	}
	return r, nil
}

// waitVersionPod polls the pod until its container has exited or will not
// start by itself (a pull that failed), bounded by --pod-running-timeout.
func (o *DoctorOptions) waitVersionPod(ctx context.Context, name string, r *versionRun) (*corev1.Pod, error) {
	poll := o.poll
	if poll <= 0 {
		poll = 250 * time.Millisecond
	}
	deadline := time.NewTimer(o.Probe.PodRunningTimeout)
	defer deadline.Stop()
	tick := time.NewTicker(poll)
	defer tick.Stop()
	var last *corev1.Pod
	for {
		p, err := o.client.CoreV1().Pods(o.namespace).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return nil, fmt.Errorf("reading the image check pod: %s", shortErr(err))
		}
		last = p
		cs := containerStatus(p)
		switch {
		case cs != nil && cs.State.Terminated != nil:
			return p, nil
		case cs != nil && cs.State.Waiting != nil && cs.State.Waiting.Reason != "ContainerCreating" && cs.State.Waiting.Reason != "PodInitializing":
			if w := cs.State.Waiting; w.Reason != "" {
				r.waiting, r.failed = w.Reason, w.Message
				if strings.Contains(w.Reason, "Image") || w.Reason == "RegistryUnavailable" || strings.HasPrefix(w.Reason, "CreateContainer") {
					return p, nil
				}
			}
		case p.Status.Phase == corev1.PodFailed:
			r.waiting, r.failed = "Failed", strings.TrimSpace(p.Status.Reason+" "+p.Status.Message)
			return p, nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-deadline.C:
			if r.waiting == "" {
				r.waiting = "not started"
			}
			r.failed = fmt.Sprintf("within --pod-running-timeout %s (phase %s)", o.Probe.PodRunningTimeout, last.Status.Phase)
			return last, nil
		case <-tick.C:
		}
	}
}

func containerStatus(p *corev1.Pod) *corev1.ContainerStatus {
	for i := range p.Status.ContainerStatuses {
		if p.Status.ContainerStatuses[i].Name == podspec.ContainerName {
			return &p.Status.ContainerStatuses[i]
		}
	}
	return nil
}

// pulledIn reads the kubelet's "Successfully pulled image "x" in 1.234s
// (1.234s including waiting)".
var pulledIn = regexp.MustCompile(`\bin ([0-9][0-9.a-zµ]*) \(`)

// readPullEvents takes the pull time, or that the image was present, and
// the pull's failure message, from the kubelet's events about the pod.
func (o *DoctorOptions) readPullEvents(ctx context.Context, pod string, r *versionRun) {
	evs, err := o.client.CoreV1().Events(o.namespace).List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.name=" + pod})
	if err != nil {
		return
	}
	for _, e := range evs.Items {
		if e.InvolvedObject.Name != pod {
			continue
		}
		switch {
		case e.Reason == "Pulled" && strings.Contains(e.Message, "already present"):
			r.present = true
		case e.Reason == "Pulled":
			if m := pulledIn.FindStringSubmatch(e.Message); m != nil {
				r.pulled, _ = time.ParseDuration(m[1])
			}
		case e.Reason == "Failed" && strings.HasPrefix(e.Message, "Failed to pull image") && r.waiting != "":
			r.failed = e.Message // the cause, where the status says "Back-off pulling image"
		}
	}
}

func (o *DoctorOptions) podLogs(ctx context.Context, pod string) ([]byte, error) {
	if o.logs != nil {
		return o.logs(ctx, o.namespace, pod)
	}
	return o.client.CoreV1().Pods(o.namespace).GetLogs(pod, &corev1.PodLogOptions{Container: podspec.ContainerName}).DoRaw(ctx)
}

// parseHello finds the agent's version record in its output.
func parseHello(logs []byte) *api.AgentHello {
	sc := bufio.NewScanner(bytes.NewReader(logs))
	for sc.Scan() {
		if !api.IsHello(sc.Bytes()) {
			continue
		}
		var h api.AgentHello
		if json.Unmarshal(sc.Bytes(), &h) == nil {
			return &h
		}
	}
	return nil
}
