package cmd

import (
	"context"
	"errors"
	"fmt"
	"io"

	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/kubectl-pixie/kubectl-pixie/plugin/driver"
	"github.com/kubectl-pixie/kubectl-pixie/plugin/local"
	"github.com/kubectl-pixie/kubectl-pixie/plugin/render"
	"github.com/kubectl-pixie/kubectl-pixie/plugin/session"
)

// driverOptions decide, once for all three commands, how a run is shown:
// repainted when stdout is a terminal, else snapshots; data for -o json.
func (o *outputOptions) driverOptions(streams genericiooptions.IOStreams, json bool) driver.Options {
	width, height, tty := render.TerminalSize(streams.Out)
	return driver.Options{Out: streams.Out, ErrOut: streams.ErrOut, JSON: json, TTY: tty, Width: width, Height: height, NoStream: o.NoStream}
}

// localSource runs the agent on this host and streams its records.
func localSource(probe string, cfg any, errOut io.Writer) driver.Source {
	return func(ctx context.Context, emit func(string, []byte)) error {
		return local.Run(ctx, probe, cfg, errOut, func(line []byte) { emit("", line) })
	}
}

// localStopping is what the first Ctrl-C of a --local run says (a
// cluster session says its own; nothing with -q or for a replay).
func (o *outputOptions) localStopping(isLocal bool) string {
	if !isLocal || o.Quiet || o.replay != nil {
		return ""
	}
	return local.Stopping
}

// clusterSource runs a session of probe pods and streams their records,
// less those drop reports. A cancelled context stops the probes; the
// session still deletes the pods. The pods of a run that ended by itself
// are deleted while the final frame is shown (500 deletions take seconds).
func clusterSource(so session.Options, drop func(session.Line) bool) driver.Source {
	return func(ctx context.Context, emit func(string, []byte)) error {
		so.DeferDelete = true
		res, err := session.Run(ctx, so, func(l session.Line) {
			if drop == nil || !drop(l) {
				emit(l.Node, l.Raw)
			}
		})
		driver.After(ctx, res.WaitDeleted)
		return err
	}
}

// checkLocal fails early, with a remedy, when --local cannot run here or a
// --pid names no process.
func checkLocal(l *localTarget) error {
	if err := l.checkPIDs(); err != nil {
		return err
	}
	return local.Check()
}

// dryRunLocal prints the agent command --local would run, and runs nothing.
func dryRunLocal(out io.Writer, probe string, cfg any) error {
	line, err := local.CommandLine(probe, cfg)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(out, "# --local would run this agent on this host (as root):\n%s\n", line)
	return err
}

// dryRunCluster prints the probe pods as YAML, and creates nothing.
func dryRunCluster(out io.Writer, so session.Options) error {
	pods, err := session.Pods(&so)
	if err != nil {
		return err
	}
	return session.WriteYAML(out, pods)
}

// warnTargets prints the resolution's warning (pods not running, ...).
func (c *clusterTargets) warnTargets(errOut io.Writer, color render.ColorMode, quiet bool) {
	if w := c.targets.Warning(); w != "" && !quiet {
		fmt.Fprintf(errOut, "%s %s\n", render.PaletteFor(errOut, color).Warn("warning:"), w)
	}
}

// runError is a run's error as the user sees it. An agent that exited
// non-zero wrote why on stderr (above the error) or in its records.
func runError(err error) error {
	var ae *local.AgentExitError
	if errors.As(err, &ae) {
		return fmt.Errorf("the probe stopped unexpectedly (status %d): its own messages, above, say why", ae.Code)
	}
	return err
}
