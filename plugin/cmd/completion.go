package cmd

import (
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	cmdutil "k8s.io/kubectl/pkg/cmd/util"
	"k8s.io/kubectl/pkg/util/templates"

	"github.com/kubectl-pixie/kubectl-pixie/plugin/completion"
)

// Registering a command named "completion" keeps cobra from adding its
// default one.
func init() { register(NewCmdCompletion) }

// standaloneName is the command name completion scripts are generated for:
// the plugin binary run directly. `kubectl pixie` itself is completed by
// kubectl through the helper (see `completion install`).
const standaloneName = "kubectl-pixie"

// CompletionInstallOptions holds the flags of `kubectl pixie completion install`.
type CompletionInstallOptions struct {
	Dir string
	// Argv0 and Path are os.Args[0] and $PATH; tests set them.
	Argv0 string
	Path  string
	genericiooptions.IOStreams
}

// NewCmdCompletion builds `kubectl pixie completion`.
func NewCmdCompletion(_ cmdutil.Factory, streams genericiooptions.IOStreams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "completion",
		Short: "Set up shell completion for kubectl pixie",
		Long: templates.LongDesc(`
			Set up shell completion.

			kubectl completes "kubectl pixie <TAB>" itself (kubectl 1.26 or later,
			with kubectl's own completion loaded, e.g. "source <(kubectl completion bash)")
			by running a helper named kubectl_complete-pixie found on PATH. krew
			cannot install that helper, so run "kubectl pixie completion install"
			once; it writes the helper next to the plugin (~/.krew/bin under krew).

			The bash, zsh, fish and powershell subcommands print a completion script
			for running the kubectl-pixie binary directly.`),
		Example: templates.Examples(`
			# Complete "kubectl pixie <TAB>" (kubectl's completion must be loaded)
			kubectl pixie completion install

			# Completion for the kubectl-pixie binary in bash
			source <(kubectl pixie completion bash)`),
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	for _, shell := range []string{"bash", "zsh", "fish", "powershell"} {
		cmd.AddCommand(newCmdCompletionScript(shell, streams))
	}
	cmd.AddCommand(NewCmdCompletionInstall(streams))
	return cmd
}

func newCmdCompletionScript(shell string, streams genericiooptions.IOStreams) *cobra.Command {
	return &cobra.Command{
		Use:                   shell,
		Short:                 fmt.Sprintf("Print the %s completion script for the kubectl-pixie binary", shell),
		Args:                  cobra.NoArgs,
		DisableFlagsInUseLine: true,
		ValidArgsFunction:     cobra.NoFileCompletions,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return writeCompletionScript(cmd.Root(), shell, streams.Out)
		},
	}
}

// writeCompletionScript generates the script with the root named after the
// binary, so the shell binds it to "kubectl-pixie" rather than "pixie".
func writeCompletionScript(root *cobra.Command, shell string, out io.Writer) error {
	use := root.Use
	root.Use = standaloneName
	defer func() { root.Use = use }()
	switch shell {
	case "bash":
		return root.GenBashCompletionV2(out, true)
	case "zsh":
		return root.GenZshCompletion(out)
	case "fish":
		return root.GenFishCompletion(out, true)
	case "powershell":
		return root.GenPowerShellCompletionWithDesc(out)
	}
	return fmt.Errorf("unsupported shell %q: use bash, zsh, fish or powershell", shell)
}

// NewCmdCompletionInstall builds `kubectl pixie completion install`.
func NewCmdCompletionInstall(streams genericiooptions.IOStreams) *cobra.Command {
	o := &CompletionInstallOptions{IOStreams: streams, Argv0: os.Args[0], Path: os.Getenv("PATH")}
	cmd := &cobra.Command{
		Use:   "install [--dir DIR]",
		Short: "Install kubectl_complete-pixie so kubectl completes kubectl pixie",
		Long: templates.LongDesc(`
			Write the kubectl_complete-pixie helper, executable, next to the plugin
			(the directory kubectl found it in: ~/.krew/bin under krew), or into --dir.
			kubectl 1.26 and later run it from PATH to complete "kubectl pixie <TAB>".`),
		Args:              cobra.NoArgs,
		ValidArgsFunction: cobra.NoFileCompletions,
		RunE: func(_ *cobra.Command, _ []string) error {
			if err := o.Complete(); err != nil {
				return err
			}
			return o.Run()
		},
	}
	cmd.Flags().StringVar(&o.Dir, "dir", "", "directory to write the helper into (default: the plugin's directory)")
	_ = cmd.MarkFlagDirname("dir")
	return cmd
}

// Complete picks the plugin's directory when --dir is not given.
func (o *CompletionInstallOptions) Complete() error {
	if o.Dir != "" {
		return nil
	}
	dir, err := completion.PluginDir(o.Argv0)
	if err != nil {
		return err
	}
	o.Dir = dir
	return nil
}

// Run writes the helper.
func (o *CompletionInstallOptions) Run() error {
	path, err := completion.InstallHelper(o.Dir)
	if err != nil {
		return err
	}
	fmt.Fprintln(o.Out, path)
	if abs, err := filepath.Abs(o.Dir); err == nil && !completion.OnPath(abs, o.Path) {
		fmt.Fprintf(o.ErrOut, "warning: %s is not on PATH; kubectl only finds %s on PATH\n", o.Dir, completion.HelperName)
	}
	fmt.Fprintln(o.ErrOut, `"kubectl pixie <TAB>" now completes when kubectl's own completion is loaded (kubectl completion --help)`)
	return nil
}
