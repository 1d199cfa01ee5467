// Package cmd holds the plugin's commands, one file each, built on the
// kubectl Options pattern: Complete, then Validate, then Run.
package cmd

import (
	"flag"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/klog/v2"
	cmdutil "k8s.io/kubectl/pkg/cmd/util"
	"k8s.io/kubectl/pkg/util/templates"

	"github.com/kubectl-pixie/kubectl-pixie/plugin/completion"
	"github.com/kubectl-pixie/kubectl-pixie/plugin/session"

	// Cloud auth plugins (exec, oidc, ...) so every kubeconfig works.
	_ "k8s.io/client-go/plugin/pkg/client/auth"
)

// NewCmdRoot builds `kubectl pixie` with kubectl's global flags.
func NewCmdRoot(streams genericiooptions.IOStreams) *cobra.Command {
	configFlags := genericclioptions.NewConfigFlags(true)
	configFlags.WrapConfigFn = session.ClientLimits // one pod per node: 500 nodes, 1000 requests
	cmd := &cobra.Command{
		Use:   "pixie",
		Short: "Deep observability for any Kubernetes workload, with nothing installed in the cluster",
		Long: templates.LongDesc(`
			Trace L7 requests, profile CPU and follow memory of pods, nodes or
			local processes with short-lived eBPF probes. Nothing stays behind:
			each probe pod lives for its window and is deleted.`),
		SilenceUsage:  true,
		SilenceErrors: true,
		Annotations: map[string]string{
			cobra.CommandDisplayNameAnnotation: "kubectl pixie",
		},
	}
	flags := cmd.PersistentFlags()
	configFlags.AddFlags(flags)
	matchVersionFlags := cmdutil.NewMatchVersionFlags(configFlags)
	matchVersionFlags.AddFlags(flags)
	f := cmdutil.NewFactory(matchVersionFlags)
	addVerbosityFlag(cmd)

	for _, add := range subcommands {
		cmd.AddCommand(add(f, streams))
	}
	// -n, --context, --cluster and --user complete like kubectl's.
	_ = completion.RegisterGlobalFlags(cmd, f)
	return cmd
}

// subcommands are registered by each command's file, so adding a command
// touches no shared file.
var subcommands []func(cmdutil.Factory, genericiooptions.IOStreams) *cobra.Command

func register(c func(cmdutil.Factory, genericiooptions.IOStreams) *cobra.Command) {
	subcommands = append(subcommands, c)
}

// addVerbosityFlag adds kubectl's -v (klog verbosity: at 6 and more the
// client logs every API request); klog's other flags stay out of help.
func addVerbosityFlag(cmd *cobra.Command) {
	klogFlags := flag.NewFlagSet("klog", flag.ContinueOnError)
	klog.InitFlags(klogFlags)
	cmd.PersistentFlags().AddGoFlag(klogFlags.Lookup("v"))
}
