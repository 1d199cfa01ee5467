//go:build linux

// Package agent is the node-side program: it parses the probe request, runs
// one probe for its window and writes records to stdout.
package agent

import (
	"fmt"
	"io"
	"os"
	"runtime/pprof"
)

// SubcommandName is the hidden argument with which the plugin re-executes
// itself as the agent for --local runs.
const SubcommandName = "__agent"

// Main runs the agent with args (without the program name) and returns the
// exit code.
func Main(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, "usage: pixie-agent <trace|profile|memory> --config JSON")
		return 2
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
