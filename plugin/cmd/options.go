package cmd

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"

	"github.com/spf13/pflag"

	"github.com/kubectl-pixie/kubectl-pixie/plugin/render"
)

// maxPID is the largest PID Linux hands out (pid_max is at most 2^22).
const maxPID = 1 << 22

// localTarget is --local and the processes it selects: the same flags,
// rules and errors in trace, profile and memory.
type localTarget struct {
	Local bool
	PIDs  []int
	Comms []string
	All   bool
}

// addFlags registers --local, --pid, --comm and --all; verb is the
// command's ("trace", "profile", "watch").
func (l *localTarget) addFlags(fs *pflag.FlagSet, verb, localHelp string) {
	fs.BoolVar(&l.Local, "local", l.Local, localHelp)
	fs.IntSliceVar(&l.PIDs, "pid", l.PIDs, "with --local: process ID to "+verb+" (repeatable)")
	fs.StringSliceVar(&l.Comms, "comm", l.Comms, "with --local: "+verb+" processes with this command name, as ps -o comm shows it (repeatable)")
	fs.BoolVar(&l.All, "all", l.All, "with --local: "+verb+" every process")
}

// selects reports whether --pid, --comm or --all was given.
func (l *localTarget) selects() bool { return len(l.PIDs) > 0 || len(l.Comms) > 0 || l.All }

// validate checks the local flags against the TARGET arguments, without
// I/O. named says whether cluster targets were named (args or -l).
func (l *localTarget) validate(verb string, args []string, named bool) error {
	for _, p := range l.PIDs {
		if p < 1 || p > maxPID {
			return fmt.Errorf("--pid %d is not a process ID: use a PID between 1 and %d, as ps shows it", p, maxPID)
		}
	}
	if !l.Local {
		if l.selects() {
			return errors.New("--pid, --comm and --all select processes of this host: add --local")
		}
		if !named {
			return fmt.Errorf("nothing to %s: name a TARGET (pod/NAME, deploy/NAME, svc/NAME, node/NAME), a -l selector, or use --local with --pid, --comm or --all", verb)
		}
		return nil
	}
	if len(args) > 0 {
		return fmt.Errorf("--local %ss this host and takes no TYPE/NAME arguments (got %q): select processes with --pid, --comm or --all", verb, strings.Join(args, " "))
	}
	if !l.selects() {
		return fmt.Errorf("--local needs processes to %s: add --pid PID, --comm NAME or --all", verb)
	}
	return nil
}

// checkPIDs fails when a --pid names no running process of this host, so
// a typo is not reported as an idle process after the whole window.
func (l *localTarget) checkPIDs() error {
	if runtime.GOOS != "linux" {
		return nil // local.Check explains
	}
	for _, p := range l.PIDs {
		if _, err := os.Stat(filepath.Join("/proc", strconv.Itoa(p))); err != nil {
			return fmt.Errorf("--pid %d: no such process on this host: check the PID with ps", p)
		}
	}
	return nil
}

// pids is --pid as the agent's configuration wants it (validated).
func (l *localTarget) pids() []uint32 {
	var out []uint32
	for _, p := range l.PIDs {
		out = append(out, uint32(p))
	}
	return out
}

// outputOptions are the output flags of trace, profile and memory.
type outputOptions struct {
	Output   string
	Color    render.ColorMode
	NoStream bool
	Quiet    bool
	DryRun   bool
	Record   string

	replay *replaying
}

func newOutputOptions(output string) outputOptions {
	return outputOptions{Output: output, Color: render.ColorAuto}
}

// addFlags registers -o, --color, --no-stream, -q and --dry-run.
func (o *outputOptions) addFlags(fs *pflag.FlagSet, outputHelp string) {
	fs.StringVarP(&o.Output, "output", "o", o.Output, outputHelp)
	fs.Var(&o.Color, "color", "colour: auto, always or never")
	fs.BoolVar(&o.NoStream, "no-stream", o.NoStream, "no live view: print only the final result")
	fs.BoolVarP(&o.Quiet, "quiet", "q", o.Quiet, "no progress on stderr")
	fs.BoolVar(&o.DryRun, "dry-run", o.DryRun, "print what would run (the probe pods as YAML, or the local agent's command) and exit")
	fs.StringVar(&o.Record, "record", o.Record, "also write every record of the run to this file (gzip), for kubectl pixie replay")
}

// validate checks -o against the command's formats and --color.
func (o *outputOptions) validate(formats ...string) error {
	if _, err := render.ParseColorMode(string(o.Color)); err != nil {
		return err
	}
	if err := o.validateRecord(); err != nil {
		return err
	}
	for _, f := range formats {
		if o.Output == f {
			return nil
		}
	}
	if o.Output == "yaml" && o.DryRun {
		return nil
	}
	return fmt.Errorf("unknown output format %q: use -o %s (-o yaml with --dry-run)", o.Output, strings.Join(formats, ", "))
}
