//go:build linux

package agent

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/kubectl-pixie/kubectl-pixie/probes/api"
	"github.com/kubectl-pixie/kubectl-pixie/probes/profile"
)

func init() { commands[api.ProbeProfile] = runProfile }

// runProfile is `pixie-agent profile --config JSON`: NDJSON records
// (probe_ready, stack_traces deltas and a probe_stats snapshot every
// interval, a final probe_stats) on stdout. SIGINT/SIGTERM end the window
// early; the last interval is still drained and written.
func runProfile(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet(api.ProbeProfile, flag.ContinueOnError)
	fs.SetOutput(stderr)
	config := fs.String("config", "", "api.ProfileConfig as JSON")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	var cfg api.ProfileConfig
	if err := json.Unmarshal([]byte(*config), &cfg); err != nil {
		fmt.Fprintf(stderr, "pixie-agent profile: parsing --config: %v\n", err)
		return 2
	}
	em := NewEmitter(stdout)
	fail := func(err error) int {
		em.Log(api.LevelError, err.Error(), "")
		_ = em.Flush()
		fmt.Fprintf(stderr, "pixie-agent profile: %v\n", err)
		return 1
	}
	p, err := profile.New(cfg)
	if err != nil {
		return fail(err)
	}
	defer p.Close()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	node := newNodePods(cfg.ProcRootDir, cfg.NodeOnly, cfg.NodePodUIDs, getenvOS(EnvPodUID))
	err = p.Run(ctx, func(rec any) error {
		switch r := rec.(type) {
		case *api.StackTrace:
			if node.isForeign(r.PID) {
				return nil
			}
			em.Emit(&r.Header, r)
			return em.Err() // stacks of one interval go out together
		case *api.ProbeReady:
			em.Emit(&r.Header, r)
		case *api.ProbeStats:
			// VmHWM, as trace and memory report it: getrusage's maxrss
			// read 168 KiB below it once (TestProfileFooterAgainstProc).
			if hwm := selfPeakRSS(); hwm > r.PeakRSSBytes {
				r.PeakRSSBytes = hwm
			}
			em.Emit(&r.Header, r)
		case *api.ProbeLog:
			em.Emit(&r.Header, r)
		default:
			return fmt.Errorf("unexpected record %T", rec)
		}
		return em.Flush()
	})
	if err != nil {
		return fail(err)
	}
	if em.Flush() != nil {
		return 1
	}
	return 0
}
