//go:build linux

// Package agent is the node-side program: it parses the probe request, runs
// one probe for its window and writes records to stdout.
package agent

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"

	"github.com/kubectl-pixie/kubectl-pixie/probes/api"
)

// SubcommandName is the hidden argument with which the plugin re-executes
// itself as the agent for --local runs.
const SubcommandName = "__agent"

// Main runs the agent with args (without the program name) and returns the
// exit code.
func Main(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, "usage: pixie-agent <trace|profile|memory> --config JSON | pixie-agent version")
		return 2
	}
	if args[0] == VersionName {
		return runVersion(args[1:], stdout, stderr)
	}
	cmd, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "pixie-agent: unknown probe %q\n", args[0])
		return 2
	}
	// PIXIE_AGENT_CPUPROFILE=FILE profiles the agent itself (for its own
	// overhead work; see docs/benchmarks.md).
	if path := os.Getenv("PIXIE_AGENT_CPUPROFILE"); path != "" {
		if f, err := os.Create(path); err == nil {
			defer f.Close() // after StopCPUProfile has flushed the profile
			if pprof.StartCPUProfile(f) == nil {
				defer pprof.StopCPUProfile()
			}
		}
	}
	return cmd(args[1:], stdout, stderr)
}

// commands maps a probe name to its runner; each probe's file registers itself.
var commands = map[string]func(args []string, stdout, stderr io.Writer) int{}

// UserError is a failure the user can act on: a message and a remedy.
type UserError struct{ Msg, Remedy string }

func (e *UserError) Error() string { return e.Msg + ": " + e.Remedy }

// runConfigured is the shell of every probe runner: it parses
// `--config JSON` into a C, runs probe until its window ends or SIGINT or
// SIGTERM arrives, and reports a failure as a probe_log record (with its
// remedy when it is a *UserError). It returns the exit code.
func runConfigured[C any](name string, args []string, stdout, stderr io.Writer, probe func(context.Context, C, *Emitter) error) int {
	out := NewEmitter(stdout)
	defer out.Flush()
	hello(out, name)
	// In a probe pod, only the first agent may read a configuration.
	release, err := enterPod(getenvOS, os.Exit, stderr)
	if err != nil {
		logError(out, err)
		return 2
	}
	defer release()
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgJSON := fs.String("config", "", "the probe's configuration (probes/api) as JSON")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	var cfg C
	if err := json.Unmarshal([]byte(*cfgJSON), &cfg); err != nil {
		fmt.Fprintf(stderr, "pixie-agent %s: bad --config: %v\n", name, err)
		return 2
	}
	if err := podAllows(getenvOS, &cfg); err != nil {
		logError(out, err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := probe(ctx, cfg, out); err != nil {
		logError(out, err)
		return 1
	}
	return 0
}

// logError writes err as an error-level probe_log record, with its remedy
// when it is a *UserError.
func logError(out *Emitter, err error) {
	var ue *UserError
	if errors.As(err, &ue) {
		out.Log(api.LevelError, ue.Msg, ue.Remedy)
		return
	}
	out.Log(api.LevelError, err.Error(), "")
}
