package session

import (
	"fmt"
	"sort"
	"strings"

	"github.com/kubectl-pixie/kubectl-pixie/plugin/render"
)

// maxNodeParts is how many nodes the status line lists one by one; above
// it the line counts them, so 500 nodes still make one short line.
const maxNodeParts = 10

// maxFailedNames caps the node names listed per failure reason.
const maxFailedNames = 3

// printStatus writes the status line on ErrOut: rewritten in place on a
// terminal (cut to its width, so the redraw stays one line), printed once
// (final) otherwise.
func (s *runner) printStatus(final bool) {
	if s.o.Quiet {
		return
	}
	width, _, tty := terminalSize(s.o.ErrOut)
	if !tty && !final {
		return
	}
	line := s.statusLine()
	if tty {
		fmt.Fprintf(s.o.ErrOut, "\r\x1b[K%s", render.TruncateLine(line, width-1))
		if final {
			fmt.Fprintln(s.o.ErrOut)
		}
		return
	}
	fmt.Fprintln(s.o.ErrOut, line)
}

// statusLine is "probe pods: n1 ready (1.2s)  n2 starting" up to
// maxNodeParts nodes, else a count per state with the failures grouped by
// reason: "probe pods: 412 tracing, 80 starting, 8 failed (ImagePullBackOff
// on 8 nodes: n1, n2, n3, ...)".
func (s *runner) statusLine() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.order) <= maxNodeParts {
		parts := make([]string, 0, len(s.order))
		for _, name := range s.order {
			n := s.nodes[name]
			switch n.state {
			case stateReady, stateDone:
				parts = append(parts, fmt.Sprintf("%s ready (%.1fs)", name, n.ready.Seconds()))
			case stateFailed:
				parts = append(parts, name+" failed")
			default:
				parts = append(parts, name+" starting")
			}
		}
		return "probe pods: " + strings.Join(parts, "  ")
	}
	var running, starting int
	failed := map[string][]string{} // reason -> nodes, in creation order
	for _, name := range s.order {
		n := s.nodes[name]
		switch n.state {
		case stateReady, stateDone:
			running++
		case stateFailed:
			failed[n.reason] = append(failed[n.reason], name)
		default:
			starting++
		}
	}
	var parts []string
	if running > 0 {
		parts = append(parts, fmt.Sprintf("%d %s", running, runningWord(s.o.Probe)))
	}
	if starting > 0 {
		parts = append(parts, fmt.Sprintf("%d starting", starting))
	}
	if len(failed) > 0 {
		parts = append(parts, failedSummary(failed))
	}
	return "probe pods: " + strings.Join(parts, ", ")
}

// failedSummary is "8 failed (ImagePullBackOff on 5 nodes: a, b, c, ...;
// start timeout on 3 nodes: x, y, z)": the most frequent reason first.
func failedSummary(byReason map[string][]string) string {
	reasons := make([]string, 0, len(byReason))
	total := 0
	for r, nodes := range byReason {
		reasons = append(reasons, r)
		total += len(nodes)
	}
	sort.Slice(reasons, func(i, j int) bool {
		a, b := byReason[reasons[i]], byReason[reasons[j]]
		if len(a) != len(b) {
			return len(a) > len(b)
		}
		return reasons[i] < reasons[j]
	})
	groups := make([]string, 0, len(reasons))
	for _, r := range reasons {
		nodes := byReason[r]
		names := strings.Join(nodes[:min(len(nodes), maxFailedNames)], ", ")
		if len(nodes) > maxFailedNames {
			names += ", ..."
		}
		noun := "nodes"
		if len(nodes) == 1 {
			noun = "node"
		}
		groups = append(groups, fmt.Sprintf("%s on %d %s: %s", r, len(nodes), noun, names))
	}
	return fmt.Sprintf("%d failed (%s)", total, strings.Join(groups, "; "))
}

// runningWord says what a running probe pod does.
func runningWord(probe string) string {
	switch probe {
	case "trace":
		return "tracing"
	case "profile":
		return "profiling"
	case "memory":
		return "watching"
	}
	return "running"
}

// nodeErrors are the nodes' errors, one per node up to maxNodeParts
// failed nodes; above, one per reason (its first node's, in full) naming
// the other nodes that failed the same way. failed counts the nodes.
func (s *runner) nodeErrors() (errs []error, failed int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var reasons []string
	first := map[string]error{}
	others := map[string][]string{}
	for _, name := range s.order {
		n := s.nodes[name]
		if n.err == nil {
			continue
		}
		failed++
		errs = append(errs, n.err)
		if _, seen := first[n.reason]; !seen {
			first[n.reason] = n.err
			reasons = append(reasons, n.reason)
			continue
		}
		others[n.reason] = append(others[n.reason], name)
	}
	if failed <= maxNodeParts {
		return errs, failed
	}
	errs = errs[:0]
	for _, r := range reasons {
		err, more := first[r], others[r]
		if len(more) > 0 {
			names := strings.Join(more[:min(len(more), maxFailedNames)], ", ")
			if len(more) > maxFailedNames {
				names += ", ..."
			}
			err = fmt.Errorf("%w\n  the same (%s) on %d more nodes: %s", err, r, len(more), names)
		}
		errs = append(errs, err)
	}
	return errs, failed
}
