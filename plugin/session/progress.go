package session

import (
	"bytes"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/kubectl-pixie/kubectl-pixie/plugin/render"
)

// maxNodeParts is how many nodes the status line lists one by one; above
// it the line counts them, so 500 nodes still make one short line.
const maxNodeParts = 10

// maxFailedNames caps the node names listed per failure reason.
const maxFailedNames = 3

// printStatus shows the progress on ErrOut: one line per node up to
// maxNodeParts nodes, one summary line above. On a terminal the block is
// redrawn in place (cursor up over the last one) until final; piped, only
// the final block is printed, plus one line per slow pull. Once final, it
// is never drawn again.
func (s *runner) printStatus(final bool) {
	if s.o.Quiet {
		return
	}
	s.pmu.Lock()
	defer s.pmu.Unlock()
	if s.progressDone {
		return
	}
	s.progressDone = final
	if !s.tty {
		s.mu.Lock()
		slow := s.slowPullsLocked(s.now())
		s.mu.Unlock()
		for _, l := range slow {
			fmt.Fprintln(s.o.ErrOut, l)
		}
		if final {
			fmt.Fprint(s.o.ErrOut, strings.Join(s.statusLines(), "\n")+"\n")
		}
		return
	}
	s.redrawLocked(nil)
}

// redrawLocked writes msg (if any) above the progress block and the block
// again, in one Write: cursor up over the old block, every line erased to
// its end, the rest of the screen erased. s.pmu is held.
func (s *runner) redrawLocked(msg []byte) {
	var b bytes.Buffer
	if s.drawn > 0 {
		fmt.Fprintf(&b, "\r\x1b[%dA", s.drawn)
	}
	if len(msg) > 0 {
		b.WriteString("\x1b[J")
		b.Write(msg)
	}
	lines := s.statusLines()
	for _, l := range lines {
		b.WriteString(render.TruncateLine(l, s.width-1))
		b.WriteString("\x1b[K\n")
	}
	b.WriteString("\x1b[J")
	s.drawn = len(lines)
	_, _ = s.o.ErrOut.Write(b.Bytes())
}

// warnf prints a message on ErrOut without breaking the progress block
// being redrawn: above it.
func (s *runner) warnf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	s.pmu.Lock()
	defer s.pmu.Unlock()
	if s.tty && !s.progressDone && s.drawn > 0 && !s.o.Quiet {
		s.redrawLocked([]byte(msg))
		return
	}
	_, _ = io.WriteString(s.o.ErrOut, msg)
}

// statusLines is the progress block: "probe pods:" then one line per node
// (name, phase, elapsed time) up to maxNodeParts nodes; above, one
// summary line.
func (s *runner) statusLines() []string {
	if len(s.order) > maxNodeParts {
		return []string{s.statusLine()}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	width := 0
	for _, name := range s.order {
		width = max(width, len(name))
	}
	lines := []string{"probe pods:"}
	for _, name := range s.order {
		lines = append(lines, fmt.Sprintf("  %-*s  %s", width, render.Sanitize(name), s.nodeLine(s.nodes[name], now)))
	}
	return lines
}

// statusLine is the summary of more than maxNodeParts nodes: a count per
// state with the failures grouped by reason: "probe pods: 412 tracing,
// 80 starting, 8 failed (ImagePullBackOff on 8 nodes: n1, n2, n3, ...)".
func (s *runner) statusLine() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var running, pulling, starting int
	failed := map[string][]string{} // reason -> nodes, in creation order
	for _, name := range s.order {
		n := s.nodes[name]
		switch {
		case n.state == stateReady || n.state == stateDone:
			running++
		case n.state == stateFailed:
			failed[n.reason] = append(failed[n.reason], name)
		case n.progress.phase == phasePulling:
			pulling++
		default:
			starting++
		}
	}
	var parts []string
	if running > 0 {
		parts = append(parts, fmt.Sprintf("%d %s", running, runningWord(s.o.Probe)))
	}
	if pulling > 0 {
		parts = append(parts, fmt.Sprintf("%d pulling image", pulling))
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
