//go:build linux

package agent

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"syscall"
	"time"

	"github.com/kubectl-pixie/kubectl-pixie/probes/api"
)

// The pod spec (plugin/podspec) tells the agent it runs in a probe pod
// through these variables; without EnvPodUID (--local runs, tests) none of
// the rules below apply.
const (
	EnvPodUID     = "PIXIE_POD_UID"          // downward API: metadata.uid
	EnvDataAccess = "PIXIE_DATA_ACCESS"      // downward API: the pixie.dev/data-access annotation
	EnvDeadline   = "PIXIE_DEADLINE_SECONDS" // the pod's activeDeadlineSeconds
)

// exitDeadline is the exit code when the agent ends itself at its deadline.
const exitDeadline = 124

// podGuard holds what the agent owns for being the probe pod's one agent.
type podGuard struct {
	lock  net.Listener
	timer *time.Timer
}

// enterPod applies the probe pod's rules before any configuration is read:
//
//   - Configuration once: the first agent binds the abstract unix socket
//     "@pixie-agent/<pod UID>" and holds it for its whole life. Anyone with
//     pods/exec who starts a second agent in the pod (kubectl exec ...
//     /pixie-agent trace --config '{"all":true,...}') finds the name taken
//     and is refused before its configuration is parsed. Abstract names
//     belong to the network namespace, which every process of the pod
//     shares, exec'd ones included (probe pods are never hostNetwork; the
//     UID keeps names apart if one ever is). Probe pods are hostPID, so "am
//     I PID 1" cannot tell the first agent. The name dies with its process:
//     no stale lock, and the container ends with its first process anyway.
//   - Its own deadline: the kubelet enforces activeDeadlineSeconds; with the
//     kubelet gone the container runs on, so the agent exits (code 124)
//     that long after it started.
//
// exit is os.Exit outside tests. release gives both up.
func enterPod(getenv func(string) string, exit func(int), stderr io.Writer) (release func(), err error) {
	uid := getenv(EnvPodUID)
	if uid == "" {
		return func() {}, nil
	}
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: "@pixie-agent/" + uid, Net: "unix"})
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return nil, &UserError{"an agent already runs in this probe pod: the agent takes its configuration once, at start, from the pod spec",
				"start a new probe with kubectl pixie instead of exec-ing into a probe pod"}
		}
		return nil, fmt.Errorf("taking the probe pod's agent lock: %w", err)
	}
	g := &podGuard{lock: l}
	if s := getenv(EnvDeadline); s != "" {
		secs, err := strconv.ParseInt(s, 10, 64)
		if err != nil || secs <= 0 {
			l.Close()
			return nil, fmt.Errorf("bad %s=%q: want a positive number of seconds", EnvDeadline, s)
		}
		g.timer = time.AfterFunc(time.Duration(secs)*time.Second, func() {
			fmt.Fprintf(stderr, "pixie-agent: deadline reached (%ds, the pod's activeDeadlineSeconds): exiting\n", secs)
			exit(exitDeadline)
		})
	}
	return g.release, nil
}

func (g *podGuard) release() {
	if g.timer != nil {
		g.timer.Stop()
	}
	g.lock.Close()
}

// podAllows applies the admin's data-access cap: in a probe pod, full data
// access needs the pod's pixie.dev/data-access annotation to say "full"
// (the plugin sets it only when the probe namespace allows it, and an
// admission policy can hold any pod to the same rule; see README "Security
// model"). The annotation reaches the agent through the downward API, so a
// flag on the command line alone is not enough.
func podAllows(getenv func(string) string, cfg any) error {
	if getenv(EnvPodUID) == "" {
		return nil
	}
	tc, ok := cfg.(*api.TraceConfig)
	if !ok || !wantsFullData(tc) {
		return nil
	}
	if mode := getenv(EnvDataAccess); mode != "full" {
		return &UserError{fmt.Sprintf("data access \"full\" refused: this probe pod's pixie.dev/data-access annotation says %q", mode),
			"an admin allows full data access by annotating the probe namespace pixie.dev/allow-full-data-access=true"}
	}
	return nil
}

// wantsFullData reports whether a trace keeps what restricted mode redacts
// (a config that names no valid mode is refused later, by the probe).
func wantsFullData(cfg *api.TraceConfig) bool {
	a, err := cfg.Access()
	return err == nil && a == api.DataAccessFull
}

// getenvOS is os.Getenv; tests replace it.
var getenvOS = os.Getenv
