// Package drivertest drives a view by hand, as the driver would, for the
// views' fuzz tests.
package drivertest

import (
	"bytes"
	"time"

	"github.com/kubectl-pixie/kubectl-pixie/plugin/driver"
)

// Replay feeds the NDJSON lines of data to v from two nodes in turn,
// showing a frame after each line (o.SnapshotEvery is forced small), then
// ends the run and returns the view's Finish error.
func Replay(v driver.View, data []byte, o driver.Options) error {
	o.SnapshotEvery = time.Nanosecond
	s := driver.NewScreen(v, o)
	i := 0
	for l := range bytes.SplitSeq(data, []byte("\n")) {
		s.Line([]string{"n1", "n2"}[i%2], l)
		s.Tick()
		i++
	}
	return s.End(nil)
}
