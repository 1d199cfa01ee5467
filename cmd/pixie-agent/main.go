//go:build linux

// Command pixie-agent runs the probes on a node. It is the entry point of the
// probe image; it writes NDJSON records (probes/api) to stdout.
package main

import (
	"os"

	"github.com/kubectl-pixie/kubectl-pixie/probes/agent"
)

func main() {
	os.Exit(agent.Main(os.Args[1:], os.Stdout, os.Stderr))
}
