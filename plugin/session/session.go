// Package session runs one probe across nodes: it creates one probe pod per
// node, waits for them, streams each pod's NDJSON output through the pod
// log API, merges the streams into one ordered-per-node sequence of
// records, stops at the end of the window or when its context is cancelled
// (the caller owns the signals: see plugin/driver), and deletes the pods
// exactly once, with its own bounded timeout.
package session

import (
	"context"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilrand "k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"

	"github.com/kubectl-pixie/kubectl-pixie/internal/version"
	"github.com/kubectl-pixie/kubectl-pixie/plugin/ndjson"
	"github.com/kubectl-pixie/kubectl-pixie/plugin/podspec"
	"github.com/kubectl-pixie/kubectl-pixie/plugin/render"
	"github.com/kubectl-pixie/kubectl-pixie/plugin/target"
)

// Options configure a session. Client, Namespace, Targets, Probe, AgentArgs,
// Window and Pod.Image are required.
type Options struct {
	Client    kubernetes.Interface
	Namespace string        // where the probe pods run
	Targets   []target.Node // one probe pod per entry
	Probe     string        // probe name: "trace", "profile", "memory"
	// AgentArgs returns the agent's arguments for a node, e.g.
	// ["trace", "--config", "<JSON of api.TraceConfig>"].
	AgentArgs func(target.Node) ([]string, error)
	Window    time.Duration
	// Pod carries the image, pull policy, profile, grace and resources;
	// Namespace, SessionID and Window are filled from the fields above.
	Pod podspec.Options

	// PodRunningTimeout bounds the wait for a pod to start (default 60s).
	PodRunningTimeout time.Duration
	// StopGrace is how long the agents get, after the window or a signal,
	// to flush their final records once asked to stop (default 5s).
	StopGrace time.Duration
	// DeleteTimeout bounds the deletion of the pods (default 20s).
	DeleteTimeout time.Duration

	// CreateNamespace creates Namespace when it does not exist (the
	// dedicated default, see DefaultNamespace).
	CreateNamespace bool
	// DeferDelete lets Run return before the pods of a run that ended by
	// itself are deleted (every agent sent its last record and exits): the
	// caller shows the result first and then calls Result.WaitDeleted. A
	// stopped or cut-short run still deletes before returning, since the
	// agents flush their last records when their pod is deleted.
	DeferDelete bool
	// ErrOut gets the status line and warnings; nil discards them.
	ErrOut io.Writer
	Quiet  bool
	// SessionID is generated when empty.
	SessionID string

	// logs opens a pod's log stream; tests replace it.
	logs func(ctx context.Context, namespace, pod string) (io.ReadCloser, error)
	// now is the clock of the progress lines; tests replace it.
	now func() time.Time
}

// NodeResult is what happened on one node.
type NodeResult struct {
	Node    string
	Pod     string
	Ready   time.Duration // from creation to the container running
	Records int           // records delivered
	// Reconnects counts log stream reconnections (each replays the log;
	// records already delivered are skipped by seq).
	Reconnects int
	// Dropped counts the per-request records the plugin shed because it
	// fell behind the node (shed.go).
	Dropped uint64
	Err     error // why this node failed, with a remedy; nil if it ran
}

// Result of Run.
type Result struct {
	SessionID   string
	Namespace   string
	Nodes       []NodeResult
	Interrupted bool          // stopped by a cancelled context (the caller's signal)
	deleted     chan struct{} // closed when a deferred deletion is done
}

// WaitDeleted waits for the deletion of the pods that Options.DeferDelete
// let happen after Run returned; it returns at once otherwise.
func (r *Result) WaitDeleted() {
	if r != nil && r.deleted != nil {
		<-r.deleted
	}
}

// Failed counts nodes whose probe failed.
func (r *Result) Failed() int {
	n := 0
	for _, nr := range r.Nodes {
		if nr.Err != nil {
			n++
		}
	}
	return n
}

// CleanupCommand is the command that deletes a session's pods by hand.
func CleanupCommand(namespace, sessionID string) string {
	return fmt.Sprintf("kubectl delete pod -n %s -l %s=%s", namespace, podspec.LabelSession, sessionID)
}

// NewSessionID returns a random session id (a valid label value).
func NewSessionID() string { return utilrand.String(10) }

// Pods builds the probe pods of a session without creating them (for
// --dry-run). It fills o.SessionID when empty.
func Pods(o *Options) ([]*corev1.Pod, error) {
	if err := o.validate(); err != nil {
		return nil, err
	}
	pods := make([]*corev1.Pod, 0, len(o.Targets))
	for _, t := range o.Targets {
		args, err := o.AgentArgs(t)
		if err != nil {
			return nil, fmt.Errorf("agent arguments for node %q: %w", t.Name, err)
		}
		p, err := podspec.Build(t.Name, o.Probe, args, o.podOptions())
		if err != nil {
			return nil, err
		}
		pods = append(pods, p)
	}
	return pods, nil
}

func (o *Options) validate() error {
	switch {
	case o.Client == nil:
		return errors.New("session: no client")
	case o.Namespace == "":
		return errors.New("session: no namespace")
	case len(o.Targets) == 0:
		return errors.New("session: no target nodes")
	case o.Probe == "":
		return errors.New("session: no probe")
	case o.AgentArgs == nil:
		return errors.New("session: no agent arguments")
	case o.Window <= 0:
		return fmt.Errorf("session: window must be positive, got %s", o.Window)
	}
	if o.SessionID == "" {
		o.SessionID = NewSessionID()
	}
	if o.PodRunningTimeout <= 0 {
		o.PodRunningTimeout = 60 * time.Second
	}
	if o.StopGrace <= 0 {
		o.StopGrace = 5 * time.Second
	}
	if o.DeleteTimeout <= 0 {
		o.DeleteTimeout = 20 * time.Second
	}
	if o.ErrOut == nil {
		o.ErrOut = io.Discard
	}
	if o.now == nil {
		o.now = time.Now
	}
	if _, ok := o.ErrOut.(*syncWriter); !ok {
		// stream goroutines warn while the main one prints the status
		o.ErrOut = &syncWriter{w: o.ErrOut}
	}
	if o.logs == nil {
		client := o.Client
		o.logs = func(ctx context.Context, ns, pod string) (io.ReadCloser, error) {
			return client.CoreV1().Pods(ns).GetLogs(pod, &corev1.PodLogOptions{Container: podspec.ContainerName, Follow: true, Timestamps: true}).Stream(ctx)
		}
	}
	return nil
}

func (o *Options) podOptions() podspec.Options {
	po := o.Pod
	po.Namespace = o.Namespace
	po.SessionID = o.SessionID
	po.Window = o.Window
	if po.Grace <= 0 {
		// start-up, the stop grace and a margin: the backstop must not
		// kill a probe that is still flushing.
		po.Grace = o.PodRunningTimeout + o.StopGrace + 10*time.Second
	}
	if po.Now.IsZero() {
		po.Now = time.Now()
	}
	return po
}

// nodeState is where a node's probe pod is in its life.
type nodeState string

const (
	stateStarting nodeState = "starting" // pod created, not running yet
	stateReady    nodeState = "ready"    // running: its logs can be followed
	stateDone     nodeState = "done"     // the agent exited; its stream is complete
	stateFailed   nodeState = "failed"   // the pod could not run or was lost
)

// node is the per-node state of a running session.
type node struct {
	target target.Node
	// name is the pod's name, set before any goroutine starts and never
	// changed: goroutines read it without the lock (pod is replaced by
	// watch events under it).
	name      string
	pod       *corev1.Pod
	delivered atomic.Int64 // records delivered, counted by the stream goroutine
	created   time.Time
	ready     time.Duration
	state     nodeState
	err       error
	reason    string // why it failed, short, for the status line's groups
	stream    *stream
	started   bool // streaming goroutine launched
	// reconnects counts log connections after the first (broken streams,
	// or EOF before the kubelet reported the exit)
	reconnects int
	progress   progress
	// brokenAt is when the log stream last failed to reopen (zero while it
	// is open), brokenErr why (lost.go).
	brokenAt  time.Time
	brokenErr error
}

// Run creates the probe pods, streams their records to emit (called from
// one goroutine, in arrival order; per node in the agent's order) and
// deletes the pods when the agents finish, the window (plus start-up and
// grace) is over or ctx is cancelled. Per-node failures
// are in Result.Nodes and joined in the returned error; the session goes
// on with the other nodes.
func Run(ctx context.Context, o Options, emit func(Line)) (*Result, error) {
	if err := o.validate(); err != nil {
		return nil, err
	}
	if err := prepare(ctx, &o); err != nil {
		return nil, err
	}
	pods, err := Pods(&o)
	if err != nil {
		return nil, err
	}
	res := &Result{SessionID: o.SessionID, Namespace: o.Namespace}

	// runCtx ends the run (the caller's signal, the window); the cleanup
	// and the final drain use their own contexts so they survive it.
	runCtx, stop := context.WithCancel(ctx)
	defer stop()

	s := newRunner(&o, res)
	s.unfit = unfitNodes(ctx, &o)
	defer func() {
		if res.deleted == nil { // else being deleted in the background
			s.cleanup(ctx)
		}
	}()

	if err := s.create(runCtx, pods); err != nil {
		return s.finish(), err
	}
	if ctx.Err() != nil {
		s.sayStopping()
	}
	if len(s.created) == 0 {
		return s.finish(), s.joined()
	}
	s.watchAndStream(runCtx, emit)
	res.Interrupted = ctx.Err() != nil
	res = s.finish()
	if w := droppedWarning(res.Nodes); w != "" && !o.Quiet {
		s.warnf("%s", w)
	}
	return res, s.joined()
}

// createWorkers bounds the pod creations in flight: enough to start 500
// pods in seconds, few enough that the client's rate limit (and the API
// server's priority and fairness) pace them rather than a burst.
const createWorkers = 8

// create creates the probe pods, createWorkers at a time; it stops at the
// first failure that would be the same on every node (Pod Security, RBAC,
// no namespace) and returns it. Nodes whose pod was never attempted (after
// such a failure, or a cancelled ctx) are left out of the result.
func (s *runner) create(ctx context.Context, pods []*corev1.Pod) error {
	todo := make([]*node, len(pods))
	for i := range pods {
		n := &node{target: s.o.Targets[i], state: stateStarting, stream: newStream(s.o.Targets[i].Name)}
		n.stream.check = s.agentCheck(n.target.Name)
		n.stream.shed = s.shedder(n.stream)
		s.nodes[n.target.Name] = n
		s.order = append(s.order, n.target.Name)
		n.created = s.now()
		if u := s.unfit[n.target.Name]; u != nil {
			s.fail(n, "cannot run probe pods", u)
			continue
		}
		todo[i] = n
		// A Create cut off by Ctrl-C may still create the pod: from here
		// the cleanup also deletes by the session's label.
		s.attempted = true
	}
	var (
		stopOnce sync.Once
		stopErr  error
		stopped  atomic.Bool
		tried    = make([]bool, len(pods))
	)
	try := func(i int) {
		n := todo[i]
		if n == nil || stopped.Load() || ctx.Err() != nil {
			return
		}
		tried[i] = true
		if err := s.createOne(ctx, n, pods[i]); err != nil {
			stopOnce.Do(func() { stopErr = err })
			stopped.Store(true)
		}
	}
	// The first pod alone: a refusal the same on every node (Pod
	// Security, RBAC) then stops the run at one node, not at eight.
	first := 0
	for first < len(todo) && todo[first] == nil {
		first++
	}
	if first < len(todo) {
		try(first)
	}
	forEach(len(pods)-first-1, createWorkers, func(i int) { try(first + 1 + i) })
	s.mu.Lock()
	defer s.mu.Unlock()
	kept := s.order[:0]
	for i, name := range s.order {
		if todo[i] != nil && !tried[i] {
			delete(s.nodes, name)
			continue
		}
		kept = append(kept, name)
	}
	s.order = kept
	return stopErr
}

// createOne creates n's pod; it returns the error only when every node
// would fail the same way.
func (s *runner) createOne(ctx context.Context, n *node, p *corev1.Pod) error {
	created, err := s.o.Client.CoreV1().Pods(s.o.Namespace).Create(ctx, p, metav1.CreateOptions{})
	if err != nil {
		reason := "create failed"
		if r := apierrors.ReasonForError(err); r != metav1.StatusReasonUnknown {
			reason = "create " + render.Sanitize(string(r))
		}
		err = createError(err, s.o.Namespace, n.target.Name)
		s.fail(n, reason, err)
		if isPodSecurity(err) || apierrors.IsForbidden(err) || apierrors.IsNotFound(err) {
			return err // the same for every node: stop here
		}
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	n.pod, n.name = created, created.Name
	s.byPod[created.Name] = n
	s.advance(n, phaseScheduled)
	s.created = append(s.created, PodRef{Namespace: created.Namespace, Name: created.Name, Node: n.target.Name})
	return nil
}

// forEach calls f(0..n-1) on at most workers goroutines and waits.
func forEach(n, workers int, f func(i int)) {
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(n, workers) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				f(i)
			}
		}()
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
}

type runner struct {
	o         *Options
	res       *Result
	nodes     map[string]*node
	byPod     map[string]*node // by pod name, for events
	unfit     map[string]*UnfitError
	order     []string
	created   []PodRef
	attempted bool // a Create was sent
	lines     chan Line
	now       func() time.Time

	mu         sync.Mutex // guards node state written by stream goroutines
	deleteOnce sync.Once
	stopOnce   sync.Once
	warnOnce   sync.Once // of a development build's version mismatch

	// The progress block on ErrOut; pmu is taken before mu.
	pmu          sync.Mutex
	tty          bool // ErrOut is a terminal: the block is redrawn in place
	width        int
	drawn        int  // lines of the block on screen
	progressDone bool // the final block was shown
	// held are records kept back while the progress block is redrawn on a
	// terminal: a live table drawn under it would break both redraws.
	held []Line
}

func newRunner(o *Options, res *Result) *runner {
	s := &runner{o: o, res: res, nodes: map[string]*node{}, byPod: map[string]*node{}, lines: make(chan Line, 256), now: o.now}
	s.width, _, s.tty = terminalSize(o.ErrOut)
	return s
}

func (s *runner) fail(n *node, reason string, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if n.err == nil {
		n.err, n.reason = err, reason
	}
	n.state = stateFailed
}

func (s *runner) finish() *Result {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.res.Nodes = s.res.Nodes[:0]
	for _, name := range s.order {
		n := s.nodes[name]
		nr := NodeResult{Node: name, Pod: n.name, Ready: n.ready, Records: int(n.delivered.Load()), Reconnects: n.reconnects, Dropped: n.stream.dropped.Load(), Err: n.err}
		s.res.Nodes = append(s.res.Nodes, nr)
	}
	return s.res
}

func (s *runner) joined() error {
	errs, failed := s.nodeErrors()
	err := errors.Join(errs...)
	if err != nil && failed < len(s.res.Nodes) {
		err = fmt.Errorf("%w\n  the other %d of %d nodes were probed; results are partial", err, len(s.res.Nodes)-failed, len(s.res.Nodes))
	}
	return err
}

// update applies a pod event to its node's state.
func (s *runner) update(p *corev1.Pod, typ watch.EventType) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := s.nodes[p.Spec.NodeName]
	if n == nil || n.name != p.Name {
		return
	}
	n.pod = p
	if n.state != stateStarting {
		return
	}
	if typ == watch.Deleted {
		n.state, n.reason = stateFailed, "deleted"
		n.err = fmt.Errorf("probe pod %s on node %s was deleted before it started", p.Name, n.target.Name)
		return
	}
	cs := probeStatus(p)
	switch {
	case cs != nil && cs.State.Running != nil:
		n.state, n.ready = stateReady, s.now().Sub(n.created)
		s.advance(n, phaseAttaching)
	case cs != nil && cs.State.Terminated != nil:
		// ran and exited already (an early error): its logs tell why
		n.state, n.ready = stateDone, s.now().Sub(n.created)
	case cs != nil && cs.State.Waiting != nil:
		if err := waitingError(p, cs.State.Waiting, n.target.Name, n.progress.event); err != nil {
			n.state, n.err, n.reason = stateFailed, err, render.Sanitize(cs.State.Waiting.Reason)
		}
	case p.Status.Phase == corev1.PodFailed:
		n.state, n.reason = stateFailed, "pod failed"
		n.err = fmt.Errorf("probe pod %s on node %s failed before starting: %s %s", p.Name, n.target.Name, render.Sanitize(p.Status.Reason), render.Sanitize(p.Status.Message))
	}
}

// follow streams one pod's log, reconnecting on broken connections until
// the container has exited or ctx ends.
func (s *runner) follow(ctx context.Context, n *node) {
	backoff := 100 * time.Millisecond
	var openErr error // why the last connection attempts failed
	for attempt := 0; ; attempt++ {
		rc, err := s.o.logs(ctx, s.o.Namespace, n.name)
		if err != nil {
			openErr = err
			if ctx.Err() == nil && !apierrors.IsNotFound(err) {
				s.broke(n, err)
			}
		}
		if err == nil {
			s.mended(n)
			if openErr != nil && !s.o.Quiet {
				s.warnf("warning: log stream from node %s was interrupted (%v); resumed, records already received are skipped\n", n.target.Name, render.Sanitize(openErr.Error()))
			}
			openErr = nil
			if attempt > 0 {
				s.mu.Lock()
				n.reconnects++
				s.mu.Unlock()
			}
			err = n.stream.read(rc, func(l Line) { s.send(ctx, n, l) })
			rc.Close()
			var tooLong *ndjson.TooLongError
			if errors.As(err, &tooLong) { // a replay would read it again
				s.fail(n, "record too long", fmt.Errorf("reading the probe on node %s: %w", n.target.Name, err))
				return
			}
			var refused *AgentVersionError
			if errors.As(err, &refused) {
				s.fail(n, "agent version", err)
				return
			}
			if err != nil && ctx.Err() == nil && !s.o.Quiet {
				s.warnf("warning: log stream from node %s broke (%v); reconnecting, records already received are skipped\n", n.target.Name, render.Sanitize(err.Error()))
			}
		}
		if ctx.Err() != nil {
			return
		}
		if err == nil && n.stream.final {
			// The agent's last record arrived: done, without waiting for
			// the kubelet to report the exit (up to seconds later).
			s.mu.Lock()
			n.state = stateDone
			s.mu.Unlock()
			return
		}
		// EOF (or an error): finished if the container has exited.
		p, gerr := s.o.Client.CoreV1().Pods(s.o.Namespace).Get(ctx, n.name, metav1.GetOptions{})
		if apierrors.IsNotFound(gerr) {
			return
		}
		if gerr == nil {
			if cs := probeStatus(p); cs != nil && cs.State.Terminated != nil {
				s.finished(n, p, cs.State.Terminated)
				return
			}
		}
		if err != nil && attempt > 0 && attempt%10 == 0 {
			s.warnf("warning: log stream of %s on node %s: %v (reconnecting)\n", n.name, n.target.Name, render.Sanitize(err.Error()))
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		if backoff < 2*time.Second {
			backoff *= 2
		}
	}
}

// agentCheck returns the stream check of a node's agent version: a
// mismatch of a development build is said once per session, not per node.
func (s *runner) agentCheck(node string) func(string, bool) error {
	plugin := s.o.Pod.PluginVersion
	if plugin == "" {
		plugin = version.Version
	}
	return func(agent string, hello bool) error {
		warn, err := CheckAgentVersion(node, plugin, agent, hello)
		if warn != "" && !s.o.Quiet {
			s.warnOnce.Do(func() { s.warnf("%s", warn) })
		}
		return err
	}
}

// finished records how a probe container ended.
func (s *runner) finished(n *node, p *corev1.Pod, t *corev1.ContainerStateTerminated) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n.state = stateDone
	if t.ExitCode == 0 || n.err != nil {
		return
	}
	why := n.stream.tail.probeError()
	if why == "" {
		why = fmt.Sprintf("exit code %d", t.ExitCode)
		if t.Reason != "" && t.Reason != "Error" {
			why += " (" + render.Sanitize(t.Reason) + ")"
		}
	}
	if t.Reason == "OOMKilled" {
		why = "the probe ran out of memory (OOMKilled): raise its memory limit or narrow the targets"
	}
	msg := fmt.Sprintf("probe on node %s failed: %s", n.target.Name, why)
	if tail := n.stream.tail.summary("    "); tail != "" {
		msg += "\n  last log lines of " + p.Name + ":\n" + tail
	}
	n.err, n.reason = errors.New(msg), "probe failed"
	if t.Reason == "OOMKilled" {
		n.reason = "OOMKilled"
	}
}

// cleanup deletes the session's pods, once, with its own timeout so that it
// runs even after ctx is cancelled: the pods it saw created, and any other
// pod with the session's label (a Create cut off by Ctrl-C).
func (s *runner) cleanup(ctx context.Context) {
	s.deleteOnce.Do(func() {
		if !s.attempted {
			return
		}
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.o.DeleteTimeout)
		defer cancel()
		pods := s.created
		list, err := s.o.Client.CoreV1().Pods(s.o.Namespace).List(dctx, metav1.ListOptions{LabelSelector: podspec.LabelSession + "=" + s.o.SessionID})
		if err == nil {
			seen := map[string]bool{}
			for _, p := range pods {
				seen[p.Name] = true
			}
			for i := range list.Items {
				if !seen[list.Items[i].Name] {
					pods = append(pods, RefOf(&list.Items[i]))
				}
			}
		}
		lost := s.lostPods()
		failed, lastErr := DeletePods(dctx, s.o.Client, pods, s.o.StopGrace)
		s.forceLost(dctx, lost)
		if len(failed) > 0 {
			fmt.Fprintf(s.o.ErrOut, "error: could not delete %d probe pod(s): %v\n  they end by themselves at their deadline; to delete them now run:\n    %s\n",
				len(failed), lastErr, CleanupCommand(s.o.Namespace, s.o.SessionID))
		}
	})
}

// terminalSize is render.TerminalSize of ErrOut under its syncWriter.
func terminalSize(w io.Writer) (width, height int, ok bool) {
	if sw, ok := w.(*syncWriter); ok {
		w = sw.w
	}
	return render.TerminalSize(w)
}

func probeStatus(p *corev1.Pod) *corev1.ContainerStatus {
	for i := range p.Status.ContainerStatuses {
		if p.Status.ContainerStatuses[i].Name == podspec.ContainerName {
			return &p.Status.ContainerStatuses[i]
		}
	}
	return nil
}

func podName(n *node) string {
	if n.name == "" {
		return "(not created)"
	}
	return n.name
}

func lastWaiting(p *corev1.Pod) string {
	if p == nil {
		return ""
	}
	if cs := probeStatus(p); cs != nil && cs.State.Waiting != nil && cs.State.Waiting.Reason != "" {
		return " (" + render.Sanitize(cs.State.Waiting.Reason) + ")"
	}
	for _, c := range p.Status.Conditions {
		if c.Status != corev1.ConditionTrue && c.Message != "" {
			return " (" + render.Sanitize(c.Message) + ")"
		}
	}
	return ""
}

// waitingError turns a waiting container that will not start by itself
// into an error with a remedy; nil while it may still start. event is the
// kubelet's last warning about the pod (its cause, where the status only
// says "Back-off pulling image").
func waitingError(p *corev1.Pod, w *corev1.ContainerStateWaiting, node, event string) error {
	img := p.Spec.Containers[0].Image
	switch w.Reason {
	case "ErrImageNeverPull":
		return fmt.Errorf("probe image %s is not present on node %s and the pull policy is Never: import it into the node's container runtime, or use --image-pull-policy IfNotPresent with an image the node can pull", img, node)
	case "ErrImagePull", "ImagePullBackOff", "InvalidImageName", "RegistryUnavailable":
		msg := render.Sanitize(w.Message)
		if event != "" && !strings.Contains(event, msg) {
			msg += "; kubelet: " + event
		}
		return fmt.Errorf("node %s cannot pull probe image %s (%s: %s)\n"+
			"  copy the image into a registry your nodes can reach: kubectl pixie image push REGISTRY/REPO,\n"+
			"  then pass the --image it prints (or set %s); `kubectl pixie doctor` checks every node", node, img, render.Sanitize(w.Reason), msg, EnvImage)
	case "CreateContainerConfigError", "CreateContainerError", "RunContainerError":
		return fmt.Errorf("probe container on node %s could not start (%s: %s): check `kubectl pixie doctor` and the --profile", node, render.Sanitize(w.Reason), render.Sanitize(w.Message))
	}
	return nil
}

var podSecurityLevel = regexp.MustCompile(`violates PodSecurity "([a-z]+)`)

// PodSecurityError is a probe pod rejected by Pod Security admission.
type PodSecurityError struct {
	Namespace string
	Level     string // "baseline", "restricted"
	Err       error
}

func (e *PodSecurityError) Error() string {
	return fmt.Sprintf("Pod Security %q in namespace %q forbids privileged probe pods\n"+
		"  run in a namespace that allows them:   --probe-namespace kube-system\n"+
		"  or label one:                           kubectl label ns %s pod-security.kubernetes.io/enforce=privileged",
		e.Level, e.Namespace, e.Namespace)
}

func (e *PodSecurityError) Unwrap() error { return e.Err }

func isPodSecurity(err error) bool {
	var pe *PodSecurityError
	return errors.As(err, &pe)
}

func createError(err error, ns, node string) error {
	if apierrors.IsForbidden(err) {
		if m := podSecurityLevel.FindStringSubmatch(err.Error()); m != nil {
			return &PodSecurityError{Namespace: ns, Level: m[1], Err: err}
		}
		return fmt.Errorf("creating the probe pod in namespace %q: %w\n  check your permissions with `kubectl pixie doctor`", ns, err)
	}
	if apierrors.IsNotFound(err) {
		return fmt.Errorf("creating the probe pod: namespace %q not found: %w\n  pick another with --probe-namespace", ns, err)
	}
	return fmt.Errorf("creating the probe pod on node %s: %w", node, err)
}
