// Command kubectl is upstream kubectl (k8s.io/kubectl, pinned in go.mod
// beside this file) for `make krew-verify`: real plugin discovery and
// plugin completion, with no download of a kubectl binary. It is its own
// module so its dependencies stay out of the plugin's go.mod.
package main

import (
	"k8s.io/component-base/cli"
	"k8s.io/kubectl/pkg/cmd"
	"k8s.io/kubectl/pkg/cmd/util"
)

func main() {
	command := cmd.NewDefaultKubectlCommand()
	if err := cli.RunNoErrOutput(command); err != nil {
		util.CheckErr(err)
	}
}
