package cmd

import (
	"context"

	"github.com/spf13/cobra"
	cmdutil "k8s.io/kubectl/pkg/cmd/util"

	"github.com/kubectl-pixie/kubectl-pixie/plugin/completion"
)

// probeOptions is what trace, profile and memory share: the kubectl
// Options pattern and their flags.
type probeOptions interface {
	AddFlags(cmd *cobra.Command)
	Complete(f cmdutil.Factory, cmd *cobra.Command, args []string) error
	Validate() error
	Run(ctx context.Context) error
}

// newProbeCommand finishes cmd for a probe command: RunE is Complete, then
// Validate, then Run; flags; TARGET, --node and -c complete from the cluster.
func newProbeCommand(f cmdutil.Factory, cmd *cobra.Command, o probeOptions) *cobra.Command {
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if err := o.Complete(f, cmd, args); err != nil {
			return err
		}
		if err := o.Validate(); err != nil {
			return err
		}
		return o.Run(cmd.Context())
	}
	o.AddFlags(cmd)
	cmd.ValidArgsFunction = completion.CompleteTargets(f)
	_ = completion.RegisterTargetFlags(cmd, f)
	return cmd
}
