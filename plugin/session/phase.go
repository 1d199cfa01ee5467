package session

import (
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/kubectl-pixie/kubectl-pixie/plugin/render"
	"github.com/kubectl-pixie/kubectl-pixie/probes/api"
)

// phase is how far a node's probe pod has come, for the progress lines.
// Phases only move forward: a late event cannot undo a newer pod status.
type phase int

const (
	phaseCreating  phase = iota // Create sent
	phaseScheduled              // created, pinned to its node
	phasePulling                // the kubelet pulls the image (pod events)
	phaseStarting               // image there, container being created
	phaseAttaching              // container running, probes not attached yet
	phaseRunning                // the agent said probe_ready
)

// slowPull is how long a pull may take before the progress says it is slow
// and shows the kubelet's last word on it.
const slowPull = 10 * time.Second

// progress is what the progress lines show of a node.
type progress struct {
	phase   phase
	pullAt  time.Time     // the kubelet's Pulling event came
	pulled  time.Duration // Pulling to Pulled, when both were seen
	present bool          // the image was already on the node
	event   string        // the kubelet's last warning or pull message
	slowRun bool          // the slow pull was reported (piped stderr)
	// attached is from creation to probe_ready.
	attached time.Duration
}

func (s *runner) advance(n *node, p phase) {
	if p > n.progress.phase {
		n.progress.phase = p
	}
}

// onKubeEvent applies a kubelet event about a probe pod (Pulling, Pulled,
// Failed, BackOff, ...) to its node's progress.
func (s *runner) onKubeEvent(e *corev1.Event) {
	if e.InvolvedObject.Kind != "Pod" {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	n := s.byPod[e.InvolvedObject.Name]
	if n == nil {
		return
	}
	pr := &n.progress
	msg := render.Sanitize(e.Message)
	switch e.Reason {
	case "Pulling":
		if pr.pullAt.IsZero() {
			pr.pullAt = s.now()
		}
		pr.event = msg
		s.advance(n, phasePulling)
	case "Pulled":
		if strings.Contains(e.Message, "already present") {
			pr.present = true
		} else if !pr.pullAt.IsZero() {
			pr.pulled = s.now().Sub(pr.pullAt)
		}
		pr.event = ""
		s.advance(n, phaseStarting)
	case "Created", "Started":
		s.advance(n, phaseStarting)
	default:
		// "Error: ErrImagePull" only repeats the status; keep the cause.
		if e.Type == corev1.EventTypeWarning && msg != "" && !strings.HasPrefix(msg, "Error: ") {
			pr.event = render.Sanitize(e.Reason) + ": " + msg
		}
	}
}

// observe applies what a record says about its node's progress.
func (s *runner) observe(l Line) {
	if l.Table != api.TableProbeReady {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if n := s.nodes[l.Node]; n != nil && n.progress.phase < phaseRunning {
		s.advance(n, phaseRunning)
		n.progress.attached = s.now().Sub(n.created)
	}
}

// settledLocked reports whether every node is past start-up: tracing,
// finished or failed. s.mu is held.
func (s *runner) settledLocked() bool {
	for _, n := range s.nodes {
		if n.state == stateStarting || (n.state == stateReady && n.progress.phase < phaseRunning) {
			return false
		}
	}
	return true
}

// nodeLine is one node's progress: "pulling image IMG  4.2s".
func (s *runner) nodeLine(n *node, now time.Time) string {
	pr := &n.progress
	elapsed := func(d time.Duration) string { return fmt.Sprintf("%.1fs", d.Seconds()) }
	pulled := ""
	switch {
	case pr.present:
		pulled = "image present"
	case pr.pulled > 0:
		pulled = "image pulled in " + elapsed(pr.pulled)
	}
	switch {
	case n.state == stateFailed:
		return "failed: " + n.reason
	case n.state == stateDone && pr.phase < phaseRunning:
		return "exited " + elapsed(n.ready)
	case pr.phase >= phaseRunning || n.state == stateDone:
		ready := n.ready
		if pr.attached > 0 {
			ready = pr.attached
		}
		if pulled != "" {
			return fmt.Sprintf("%s  ready (%s; %s)", runningWord(s.o.Probe), elapsed(ready), pulled)
		}
		return fmt.Sprintf("%s  ready (%s)", runningWord(s.o.Probe), elapsed(ready))
	}
	since := elapsed(now.Sub(n.created))
	switch pr.phase {
	case phaseCreating:
		return "creating  " + since
	case phaseScheduled:
		return "scheduled  " + since
	case phasePulling:
		line := fmt.Sprintf("pulling image %s  %s", s.o.Pod.Image, since)
		if d := now.Sub(pr.pullAt); d >= slowPull {
			line += fmt.Sprintf("  slow: no image after %s (kubelet: %s)", elapsed(d), orNothing(pr.event))
		}
		return line
	case phaseStarting:
		if pulled != "" {
			return fmt.Sprintf("starting  %s  (%s)", since, pulled)
		}
		return "starting  " + since
	}
	return "attaching probes  " + since
}

func orNothing(s string) string {
	if s == "" {
		return "nothing reported"
	}
	return s
}

// slowPullsLocked returns, once per node, a line for each pull that has
// been slow for slowPull: on piped stderr, where no line is redrawn.
func (s *runner) slowPullsLocked(now time.Time) []string {
	var out []string
	for _, name := range s.order {
		pr := &s.nodes[name].progress
		if pr.phase != phasePulling || pr.slowRun || s.nodes[name].state != stateStarting || now.Sub(pr.pullAt) < slowPull {
			continue
		}
		pr.slowRun = true
		out = append(out, fmt.Sprintf("node %s: still pulling image %s after %.1fs (kubelet: %s)", name, s.o.Pod.Image, now.Sub(pr.pullAt).Seconds(), orNothing(pr.event)))
	}
	return out
}
