package cmd

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	cmdutil "k8s.io/kubectl/pkg/cmd/util"
	"k8s.io/kubectl/pkg/util/templates"

	"github.com/kubectl-pixie/kubectl-pixie/plugin/recording"
	"github.com/kubectl-pixie/kubectl-pixie/plugin/render"
	"github.com/kubectl-pixie/kubectl-pixie/probes/api"
)

func init() { register(NewCmdReplay) }

var (
	replayLong = templates.LongDesc(`
		Show a recording made with --record again, in any view of the command
		that recorded it: its -o formats and its filters (for trace:
		--protocol, --endpoint, --status, --sort-by, ...). Without -o it is
		shown as it was recorded. The output is the run's final output,
		computed on the recorded clock.`)

	replayExample = templates.Examples(`
		# Keep a baseline, then look at it again as a wide table of HTTP only
		%[1]s trace deploy/shop --duration 1m --record base.pixie.gz
		%[1]s replay base.pixie.gz -o wide --protocol http

		# A recorded profile as an SVG flame graph
		%[1]s replay cpu.pixie.gz -o svg > flame.svg`)
)

// ReplayOptions are the state of `kubectl pixie replay`: the recording and
// the options of the command that made it, parsed from the view flags.
type ReplayOptions struct {
	File string
	view probeOptions
	file *os.File
	genericiooptions.IOStreams
}

// NewCmdReplay builds `kubectl pixie replay`. Its flags are the recorded
// command's, known only once the file is read: cobra does not parse them.
func NewCmdReplay(_ cmdutil.Factory, streams genericiooptions.IOStreams) *cobra.Command {
	o := &ReplayOptions{IOStreams: streams}
	cmd := &cobra.Command{
		Use:                "replay FILE [view flags]",
		Short:              "Show a recording made with --record again, in any view and format",
		Long:               replayLong,
		Example:            fmt.Sprintf(replayExample, "kubectl pixie"),
		DisableFlagParsing: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 && (args[0] == "-h" || args[0] == "--help") {
				return cmd.Help()
			}
			if err := o.Complete(args); err != nil {
				return err
			}
			defer func() { _ = o.file.Close() }()
			if err := o.Validate(); err != nil {
				return err
			}
			return o.Run(cmd.Context())
		},
	}
	return cmd
}

// Complete reads the recording's header and parses the view flags as the
// recorded command's.
func (o *ReplayOptions) Complete(args []string) error {
	if len(args) == 0 || len(args[0]) == 0 || args[0][0] == '-' {
		return errors.New("replay needs a recording: kubectl pixie replay FILE [view flags] (FILE from --record)")
	}
	o.File = args[0]
	f, err := os.Open(o.File)
	if err != nil {
		return fmt.Errorf("cannot open the recording: %w: check the path", err)
	}
	o.file = f
	rd, err := recording.NewReader(f)
	if err != nil {
		return fmt.Errorf("%s: %w", o.File, err)
	}
	view, out, err := o.viewOf(rd.Header)
	if err != nil {
		return err
	}
	sub := &cobra.Command{Use: "replay", SilenceUsage: true}
	view.AddFlags(sub)
	if err := sub.Flags().Parse(args[1:]); err != nil {
		return fmt.Errorf("%w: replay takes the view flags of %s (kubectl pixie %s --help)", err, rd.Header.Command, rd.Header.Command)
	}
	if sub.Flags().NArg() > 0 {
		return fmt.Errorf("replay takes one recording, not %q: kubectl pixie replay FILE [view flags]", sub.Flags().Args())
	}
	if out.Record != "" {
		return errors.New("--record on replay would copy the recording: copy the file instead")
	}
	if !sub.Flags().Changed("output") {
		out.Output = rd.Header.Output
	}
	switch v := view.(type) {
	case *TraceOptions:
		v.observed = recordedObs(rd.Header)
		if err := v.replayable(out.Output, v.observed); err != nil {
			return err
		}
	case *MapOptions:
		v.observed = recordedObs(rd.Header) // else Validate refuses the filters
	}
	clock, src := rd.Replay(func(err error) {
		fmt.Fprintf(o.ErrOut, "%s %s\n", render.PaletteFor(o.ErrOut, out.Color).Warn("warning:"), err)
	})
	out.replay = &replaying{header: rd.Header, clock: clock, src: src}
	o.view = view
	return nil
}

// viewOf returns the options of the command that made the recording, set
// to its window and to replay every recorded process.
func (o *ReplayOptions) viewOf(h recording.Header) (probeOptions, *outputOptions, error) {
	window := time.Duration(h.WindowNs)
	switch h.Command {
	case "trace":
		v := NewTraceOptions(o.IOStreams)
		v.Duration, v.Local, v.All = window, true, true
		return v, &v.outputOptions, nil
	case "map":
		v := NewMapOptions(o.IOStreams)
		v.Duration, v.Local, v.All = window, true, true
		return v, &v.outputOptions, nil
	case "profile":
		v := NewProfileOptions(o.IOStreams)
		v.Duration, v.Local, v.All = window, true, true
		if hz := recordedHz(h); hz > 0 {
			v.Hz = hz
		}
		return v, &v.outputOptions, nil
	case "memory":
		v := NewMemoryOptions(o.IOStreams)
		v.Duration, v.Local, v.All = window, true, true
		var cfg api.MemoryConfig
		if json.Unmarshal(h.Config, &cfg) == nil && cfg.IntervalNs > 0 {
			v.Interval = time.Duration(cfg.IntervalNs)
		}
		return v, &v.outputOptions, nil
	}
	return nil, nil, fmt.Errorf("%s was recorded by `%s`, which this kubectl pixie cannot replay: use the version that wrote it (%s)", o.File, h.Command, h.Plugin)
}

// Validate checks the view flags as the recorded command would.
func (o *ReplayOptions) Validate() error { return o.view.Validate() }

// Run shows the recording.
func (o *ReplayOptions) Run(ctx context.Context) error { return o.view.Run(ctx) }

// recordedObs tells whether a trace or map recording's requests carry
// their observations (api.TraceConfig.EventObs).
func recordedObs(h recording.Header) bool {
	var cfg api.TraceConfig
	return json.Unmarshal(h.Config, &cfg) == nil && cfg.EventObs
}

// recordedHz is a profile recording's sampling rate (0: not recorded).
func recordedHz(h recording.Header) int {
	var cfg api.ProfileConfig
	if json.Unmarshal(h.Config, &cfg) != nil {
		return 0
	}
	return cfg.Hz
}
