// Command kubectl-pixie is the kubectl plugin.
package main

import (
	"os"

	"k8s.io/cli-runtime/pkg/genericiooptions"
	cmdutil "k8s.io/kubectl/pkg/cmd/util"

	"github.com/kubectl-pixie/kubectl-pixie/plugin/cmd"
)

func main() {
	if runAgent() { // linux: `kubectl-pixie __agent ...` runs the probe agent (see agent_linux.go)
		return
	}
	streams := genericiooptions.IOStreams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr}
	root := cmd.NewCmdRoot(streams)
	if err := root.Execute(); err != nil {
		cmdutil.CheckErr(err)
	}
}
