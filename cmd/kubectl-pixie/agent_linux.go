//go:build linux

package main

import (
	"os"

	"github.com/kubectl-pixie/kubectl-pixie/probes/agent"
)

// runAgent lets one binary serve `--local`: on Linux the plugin carries the
// agent and runs it as a child process (`kubectl-pixie __agent ...`), so the
// plugin still reads a stream exactly as it does from probe pods, and a krew
// install (one binary) is all --local needs.
func runAgent() bool {
	if len(os.Args) < 2 || os.Args[1] != agent.SubcommandName {
		return false
	}
	os.Exit(agent.Main(os.Args[2:], os.Stdout, os.Stderr))
	return true
}
