// Command kubectl-pixie is the kubectl plugin.
package main

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"k8s.io/cli-runtime/pkg/genericiooptions"
	cmdutil "k8s.io/kubectl/pkg/cmd/util"

	"github.com/kubectl-pixie/kubectl-pixie/plugin/cmd"
	"github.com/kubectl-pixie/kubectl-pixie/plugin/gate"
	"github.com/kubectl-pixie/kubectl-pixie/plugin/render"
)

func main() {
	if runAgent() { // linux: `kubectl-pixie __agent ...` runs the probe agent (see agent_linux.go)
		return
	}
	// Errors quote what nodes said: print them through the one sanitizer.
	cmdutil.BehaviorOnFatal(func(msg string, code int) {
		if msg != "" {
			fmt.Fprintln(os.Stderr, render.SanitizeLines(strings.TrimSuffix(msg, "\n")))
		}
		os.Exit(code)
	})
	streams := genericiooptions.IOStreams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr}
	root := cmd.NewCmdRoot(streams)
	if err := root.Execute(); err != nil {
		// A --fail-if rule that fired is an answer, not a failure: its
		// own status, so scripts tell it from the tool failing (1).
		var fired *gate.Fired
		if errors.As(err, &fired) {
			fmt.Fprintln(os.Stderr, "error: "+render.SanitizeLines(err.Error()))
			os.Exit(fired.ExitCode())
		}
		cmdutil.CheckErr(err)
	}
}
