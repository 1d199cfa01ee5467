package session

import (
	"context"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/kubectl-pixie/kubectl-pixie/plugin/podspec"
)

// followers are the per-pod log streaming goroutines of a run.
type followers struct {
	ctx     context.Context // outlives the run by the stop grace
	wg      sync.WaitGroup
	allDone chan struct{} // closed when every follower has returned, after waitAll
	waiting bool
}

func (f *followers) launch(follow func()) {
	f.wg.Add(1)
	go func() { defer f.wg.Done(); follow() }()
}

// waitAll closes allDone once every launched follower has returned; no
// follower is launched after it.
func (f *followers) waitAll() {
	if f.waiting {
		return
	}
	f.waiting = true
	go func() { f.wg.Wait(); close(f.allDone) }()
}

// watchAndStream follows the pods until every stream has ended or runCtx
// is done, then asks the agents to stop and drains what they flush.
func (s *runner) watchAndStream(runCtx context.Context, emit func(Line)) {
	// Streams outlive runCtx by StopGrace so the agents' final records
	// (sent on SIGTERM) still arrive.
	streamCtx, cancelStreams := context.WithCancel(context.WithoutCancel(runCtx))
	defer cancelStreams()
	f := &followers{ctx: streamCtx, allDone: make(chan struct{})}
	finished := s.loop(runCtx, f, emit)
	if runCtx.Err() != nil && !s.o.Quiet {
		s.sayStopping()
	}
	s.settle(emit)
	if !f.waiting {
		f.waitAll()
	}
	if finished && s.o.DeferDelete {
		// Every stream is complete: nothing waits on the deletion.
		s.res.deleted = make(chan struct{})
		go func() { defer close(s.res.deleted); s.cleanup(runCtx) }()
	} else {
		// Ask the agents to stop (SIGTERM through the pod's deletion:
		// they flush their final records) and drain for at most StopGrace.
		s.cleanup(runCtx)
	}
	s.drain(f.allDone, cancelStreams, emit)
	s.markLost()
}

// loop delivers records and applies pod events until runCtx ends, every
// stream has ended, or the plugin's bound on the window passes; it reports
// whether every stream ended (the run finished by itself).
func (s *runner) loop(runCtx context.Context, f *followers, emit func(Line)) bool {
	startTimeout := time.NewTimer(s.o.PodRunningTimeout)
	defer startTimeout.Stop()
	tick := time.NewTicker(time.Second) // elapsed times, slow pulls
	defer tick.Stop()
	var windowEnd <-chan time.Time
	var done <-chan struct{}
	events := s.podEvents(runCtx)
	kubelet := s.kubeletEvents(runCtx)
	for {
		if done == nil && s.pending() == 0 {
			// The agents end on their own at the window's end; this is the
			// plugin's bound in case one does not.
			windowEnd = time.After(s.o.Window + s.o.StopGrace + 5*time.Second)
			f.waitAll()
			done = f.allDone
		}
		if s.settled() {
			s.settle(emit)
		}
		select {
		case <-runCtx.Done():
			return false
		case <-done:
			return runCtx.Err() == nil
		case <-windowEnd:
			return false
		case l := <-s.lines:
			s.deliver(l, emit)
		case <-startTimeout.C:
			s.startTimedOut()
			s.settle(emit) // stragglers still attaching are not waited for
		case ev := <-events:
			s.onEvent(ev, f)
		case ev := <-kubelet:
			if e, ok := ev.Object.(*corev1.Event); ok {
				s.onKubeEvent(e)
				s.printStatus(false)
			}
		case <-tick.C:
			s.printStatus(false)
		}
	}
}

// maxHeld bounds the records held back under the progress block; past
// it the block is shown as it is and the records flow.
const maxHeld = 4096

// deliver emits a record, or holds it while the progress block is being
// redrawn on a terminal.
func (s *runner) deliver(l Line, emit func(Line)) {
	s.observe(l)
	if !s.holding() {
		emit(l)
		return
	}
	s.held = append(s.held, l)
	if len(s.held) >= maxHeld {
		s.settle(emit)
	}
}

func (s *runner) holding() bool {
	s.pmu.Lock()
	defer s.pmu.Unlock()
	return s.tty && !s.o.Quiet && !s.progressDone
}

// settled reports whether the progress has nothing more to show.
func (s *runner) settled() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.settledLocked()
}

// settle shows the final progress block and releases the held records.
func (s *runner) settle(emit func(Line)) {
	s.printStatus(true)
	s.pmu.Lock()
	s.progressDone = true
	s.pmu.Unlock()
	for _, l := range s.held {
		emit(l)
	}
	s.held = nil
}

// sayStopping tells, once, what the first Ctrl-C (or any stop) does and
// how long it may take.
func (s *runner) sayStopping() {
	s.stopOnce.Do(func() {
		if s.o.Quiet {
			return
		}
		s.mu.Lock()
		pods := len(s.created)
		s.mu.Unlock()
		s.printStatus(true) // the block is final: nothing is redrawn under this
		fmt.Fprintf(s.o.ErrOut, "stopping: asking %d probe pod(s) to flush their last records (up to %s), then deleting them (up to %s)\n",
			pods, s.o.StopGrace, s.o.DeleteTimeout)
	})
}

// pending counts the nodes whose pod has not started yet.
func (s *runner) pending() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := 0
	for _, n := range s.nodes {
		if n.state == stateStarting {
			c++
		}
	}
	return c
}

func (s *runner) startTimedOut() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, n := range s.nodes {
		if n.state == stateStarting {
			n.state, n.reason = stateFailed, "start timeout"
			n.err = fmt.Errorf("probe pod %s on node %s did not start within %s%s: check `kubectl describe pod -n %s %s`, or raise --pod-running-timeout",
				podName(n), n.target.Name, s.o.PodRunningTimeout, lastWaiting(n.pod), s.o.Namespace, podName(n))
		}
	}
}

// onEvent applies a pod event and starts streaming a pod that runs.
func (s *runner) onEvent(ev watch.Event, f *followers) {
	p, isPod := ev.Object.(*corev1.Pod)
	if !isPod {
		return
	}
	s.update(p, ev.Type)
	s.mu.Lock()
	n := s.nodes[p.Spec.NodeName]
	launch := n != nil && !n.started && (n.state == stateReady || n.state == stateDone)
	if launch {
		n.started = true
	}
	s.mu.Unlock()
	if launch {
		f.launch(func() { s.follow(f.ctx, n) })
	}
	s.printStatus(false)
}

// drain delivers what the streams still carry, for at most StopGrace.
func (s *runner) drain(allDone <-chan struct{}, cancelStreams func(), emit func(Line)) {
	timer := time.NewTimer(s.o.StopGrace + time.Second)
	defer timer.Stop()
	for {
		select {
		case l := <-s.lines:
			emit(l)
			continue
		case <-allDone:
		case <-timer.C:
			cancelStreams()
			<-allDone
		}
		for {
			select {
			case l := <-s.lines:
				emit(l)
			default:
				return
			}
		}
	}
}

// Backoff of watch reopens.
const (
	watchBackoffMin = 100 * time.Millisecond
	watchBackoffMax = 5 * time.Second
)

// podEvents delivers the session's pod events (an initial ADDED per pod,
// then changes) until ctx ends. A watch that fails to open or closes (API
// server restart, timeout) is reopened with backoff: a fresh watch replays
// the pods' current state, so nothing is missed.
func (s *runner) podEvents(ctx context.Context) <-chan watch.Event {
	opts := metav1.ListOptions{LabelSelector: podspec.LabelSession + "=" + s.o.SessionID}
	return s.watchLoop(ctx, "probe pods", true, func(ctx context.Context) (watch.Interface, error) {
		return s.o.Client.CoreV1().Pods(s.o.Namespace).Watch(ctx, opts)
	})
}

// kubeletEvents delivers the events about pods in the probe namespace
// (image pulls and their failures), for the progress lines only: a user
// who may not watch events gets the progress from the pod status alone.
func (s *runner) kubeletEvents(ctx context.Context) <-chan watch.Event {
	opts := metav1.ListOptions{FieldSelector: "involvedObject.kind=Pod"}
	return s.watchLoop(ctx, "events", false, func(ctx context.Context) (watch.Interface, error) {
		return s.o.Client.CoreV1().Events(s.o.Namespace).Watch(ctx, opts)
	})
}

// watchLoop keeps a watch open until ctx ends, reopening it with backoff;
// warn says whether repeated failures to open it are worth a warning.
func (s *runner) watchLoop(ctx context.Context, what string, warn bool, open func(context.Context) (watch.Interface, error)) <-chan watch.Event {
	out := make(chan watch.Event)
	go func() {
		backoff := watchBackoffMin
		for failures := 0; ; {
			w, err := open(ctx)
			if err == nil && forward(ctx, w, out) {
				backoff, failures = watchBackoffMin, 0
				continue
			}
			if ctx.Err() != nil {
				return
			}
			if err != nil && !warn && (apierrors.IsForbidden(err) || apierrors.IsMethodNotSupported(err)) {
				return // not allowed: no use asking again
			}
			if err != nil {
				if failures++; failures == 3 && warn && !s.o.Quiet {
					s.warnf("warning: watching %s: %v (retrying)\n", what, err)
				}
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, watchBackoffMax)
		}
	}()
	return out
}

// forward copies w's events to out until w closes or ctx ends; it reports
// whether any event came (a watch that closes at once earns a backoff).
func forward(ctx context.Context, w watch.Interface, out chan<- watch.Event) bool {
	defer w.Stop()
	got := false
	for {
		select {
		case <-ctx.Done():
			return got
		case ev, ok := <-w.ResultChan():
			if !ok {
				return got
			}
			got = true
			select {
			case out <- ev:
			case <-ctx.Done():
				return got
			}
		}
	}
}
