package cmd

import (
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	cmdutil "k8s.io/kubectl/pkg/cmd/util"

	"github.com/kubectl-pixie/kubectl-pixie/internal/version"
)

func init() { register(NewCmdVersion) }

// VersionOptions holds the flags of `kubectl pixie version`.
type VersionOptions struct {
	Output string
	genericiooptions.IOStreams
}

// NewCmdVersion prints the plugin's version and the probe image it uses.
func NewCmdVersion(_ cmdutil.Factory, streams genericiooptions.IOStreams) *cobra.Command {
	o := &VersionOptions{IOStreams: streams}
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the plugin version, commit, build date and probe image",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.Validate(); err != nil {
				return err
			}
			return o.Run()
		},
	}
	cmd.Flags().StringVarP(&o.Output, "output", "o", "", "output format: '' or json")
	return cmd
}

// Validate checks the output format.
func (o *VersionOptions) Validate() error {
	if o.Output != "" && o.Output != "json" {
		return fmt.Errorf("unknown output format %q: use -o json or no -o", o.Output)
	}
	return nil
}

// Run prints the version.
func (o *VersionOptions) Run() error {
	i := version.Get()
	if o.Output == "json" {
		e := json.NewEncoder(o.Out)
		e.SetIndent("", "  ")
		return e.Encode(i)
	}
	_, err := fmt.Fprintf(o.Out, "kubectl-pixie %s\ncommit:      %s\nbuilt:       %s\ngo:          %s\nplatform:    %s\nprobe image: %s\n",
		i.Version, orUnknown(i.Commit), orUnknown(i.Date), i.GoVersion, i.Platform, i.ProbeImage)
	return err
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}
