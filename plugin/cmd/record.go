package cmd

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/kubectl-pixie/kubectl-pixie/internal/version"
	"github.com/kubectl-pixie/kubectl-pixie/plugin/driver"
	"github.com/kubectl-pixie/kubectl-pixie/plugin/recording"
)

// replaying is the recording a replay shows in place of a live source.
type replaying struct {
	header recording.Header
	clock  *recording.Clock
	src    driver.Source
}

// validateRecord checks --record without creating anything: the path is
// not a directory and its directory exists.
func (o *outputOptions) validateRecord() error {
	if o.Record == "" {
		return nil
	}
	if st, err := os.Stat(o.Record); err == nil && st.IsDir() {
		return fmt.Errorf("--record %s is a directory: name a file, e.g. %s", o.Record, filepath.Join(o.Record, "run.pixie.gz"))
	}
	if st, err := os.Stat(filepath.Dir(o.Record)); err != nil || !st.IsDir() {
		return fmt.Errorf("--record %s: the directory %s does not exist: create it or choose another path", o.Record, filepath.Dir(o.Record))
	}
	return nil
}

// source is the replayed recording when replaying, else live.
func (o *outputOptions) source(live driver.Source) driver.Source {
	if o.replay != nil {
		return o.replay.src
	}
	return live
}

// now is the replay's clock, or nil (the wall clock) when live.
func (o *outputOptions) now() func() time.Time {
	if o.replay != nil {
		return o.replay.clock.Now
	}
	return nil
}

// startRecording sets do up for --record (creating the file with h as
// its header) or for a replay (final output only, on the recorded clock).
func (o *outputOptions) startRecording(do *driver.Options, h recording.Header, cfg any) error {
	if o.replay != nil {
		do.NoStream, do.Now = true, o.replay.clock.Now
		return nil
	}
	if o.Record == "" {
		return nil
	}
	h.Args, h.Plugin, h.Output = os.Args, version.Version, o.Output
	if b, err := json.Marshal(cfg); err == nil {
		h.Config = b
	}
	w, err := recording.Create(o.Record, h, nil)
	if err != nil {
		return err
	}
	do.Record = w
	return nil
}
