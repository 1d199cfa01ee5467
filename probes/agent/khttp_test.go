//go:build linux

package agent

import (
	"errors"
	"testing"

	"github.com/kubectl-pixie/kubectl-pixie/probes/api"
)

// TestKernelHTTP1Switch: PIXIE_KERNEL_HTTP1 is off unless set; on only
// where the view needs no heads or bodies; force everywhere; any other
// value is refused with a remedy, before anything is loaded.
func TestKernelHTTP1Switch(t *testing.T) {
	for _, tc := range []struct {
		v    string
		cfg  api.TraceConfig
		want bool
	}{
		{"", api.TraceConfig{}, false},
		{"off", api.TraceConfig{}, false},
		{"on", api.TraceConfig{}, true},
		{"on", api.TraceConfig{Map: true}, true},
		{"on", api.TraceConfig{EmitEvents: true}, false},
		{"on", api.TraceConfig{Samples: &api.SampleConfig{}}, false},
		{"on", api.TraceConfig{EventObs: true}, false},
		{"force", api.TraceConfig{EmitEvents: true}, true},
	} {
		got, err := kernelHTTP1(&tc.cfg, tc.v)
		if err != nil || got != tc.want {
			t.Errorf("%q with %+v: %v %v, want %v", tc.v, tc.cfg, got, err, tc.want)
		}
	}
	_, err := kernelHTTP1(&api.TraceConfig{}, "yes")
	var ue *UserError
	if !errors.As(err, &ue) || ue.Remedy == "" {
		t.Fatalf("a bad value: %v", err)
	}
}
