package session

import (
	"context"
	"fmt"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubectl-pixie/kubectl-pixie/plugin/render"
)

// A node whose kubelet stops answering mid-run (node lost, kubelet down)
// leaves its log stream broken. Its records up to then are kept, the run's
// error names the node and why its stream stopped (so the results read as
// partial), and its pod is force-deleted after the grace: a graceful
// deletion waits for a kubelet that does not answer.

// broke records that n's log stream could not be reopened.
func (s *runner) broke(n *node, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if n.brokenAt.IsZero() {
		n.brokenAt = time.Now()
	}
	n.brokenErr = err
}

// mended records that n's log stream is open again.
func (s *runner) mended(n *node) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n.brokenAt, n.brokenErr = time.Time{}, nil
}

// markLost fails every node whose stream ended broken before the agent's
// final record. Called once the streams have ended.
func (s *runner) markLost() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, name := range s.order {
		n := s.nodes[name]
		if n.brokenAt.IsZero() || n.stream.final || n.err != nil {
			continue
		}
		n.state, n.reason = stateFailed, "stopped streaming"
		n.err = fmt.Errorf("node %s stopped streaming at %s, %s before the run ended (%s): its records until then are kept, the rest of its window is missing; check the node (`kubectl get node %s`)",
			name, n.brokenAt.Format("15:04:05"), time.Since(n.brokenAt).Round(time.Second), render.Sanitize(n.brokenErr.Error()), name)
	}
}

// lostPods are the pods of the nodes whose stream is broken now.
func (s *runner) lostPods() []PodRef {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []PodRef
	for _, name := range s.order {
		if n := s.nodes[name]; !n.brokenAt.IsZero() && n.name != "" {
			out = append(out, PodRef{Namespace: s.o.Namespace, Name: n.name, Node: name})
		}
	}
	return out
}

// forceLost deletes at once the pods of lost nodes still there StopGrace
// after their graceful deletion; their agents end by themselves at their
// deadline.
func (s *runner) forceLost(ctx context.Context, lost []PodRef) {
	deadline := time.Now().Add(s.o.StopGrace)
	for len(lost) > 0 {
		var left []PodRef
		for _, p := range lost {
			_, err := s.o.Client.CoreV1().Pods(p.Namespace).Get(ctx, p.Name, metav1.GetOptions{})
			if !apierrors.IsNotFound(err) {
				left = append(left, p)
			}
		}
		lost = left
		if len(lost) == 0 || time.Now().After(deadline) || ctx.Err() != nil {
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
	if len(lost) == 0 {
		return
	}
	failed, err := DeletePods(ctx, s.o.Client, lost, 0)
	var nodes []string
	for _, p := range lost {
		nodes = append(nodes, p.Node)
	}
	if len(failed) == 0 && !s.o.Quiet {
		s.warnf("warning: force-deleted the probe pod(s) on %s: the node does not answer; the agent ends by itself at its deadline\n", strings.Join(nodes, ", "))
	} else if err != nil {
		s.warnf("error: force-deleting the probe pod(s) on %s: %v\n", strings.Join(nodes, ", "), err)
	}
}
